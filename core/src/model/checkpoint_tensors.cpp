#include "model/checkpoint_tensors.h"

#include "headroom/error.h"

namespace headroom {

torch::ScalarType toTorchDtype(Dtype dtype, const std::string &context) {
    switch (dtype) {
    case Dtype::BOOL: return torch::kBool;
    case Dtype::U8: return torch::kUInt8;
    case Dtype::I8: return torch::kInt8;
    case Dtype::I16: return torch::kInt16;
    case Dtype::F16: return torch::kFloat16;
    case Dtype::BF16: return torch::kBFloat16;
    case Dtype::I32: return torch::kInt32;
    case Dtype::F32: return torch::kFloat32;
    case Dtype::F64: return torch::kFloat64;
    case Dtype::I64: return torch::kInt64;
    default: throw invalidInput(context + ": dtype " + dtypeName(dtype) + " has no LibTorch equivalent");
    }
}

torch::Tensor readCheckpointTensor(const SafetensorsCheckpoint &checkpoint, const std::string &name,
                                   const std::vector<int64_t> &expectedShape, torch::ScalarType dtype,
                                   torch::Device device) {
    const auto ref = checkpoint.find(name);
    const auto &info = *ref.info;
    const std::string context = ref.file->path() + ": tensor '" + name + "'";
    if (info.shape != expectedShape)
        throw invalidInput(context + " has shape " + formatShape(info.shape) + " but config.json implies " +
                           formatShape(expectedShape));
    const auto sourceDtype = toTorchDtype(info.dtype, context);
    if (!c10::isFloatingType(sourceDtype))
        throw invalidInput(context + " has dtype " + dtypeName(info.dtype) +
                           "; model weights must be F32, F16 or BF16");
    // from_blob views the mapping without copying; .to() / .clone() makes the one owned copy.
    auto view = torch::from_blob(const_cast<std::uint8_t *>(ref.file->data(info)), info.shape,
                                 torch::TensorOptions().dtype(sourceDtype));
    torch::Tensor owned = (sourceDtype == dtype && device.is_cpu()) ? view.clone() : view.to(device, dtype);
    ref.file->releasePages(info);
    return owned;
}

} // namespace headroom
