#include "model/checkpoint_tensors.h"

#include "headroom/error.h"
#include "train/finite_values.h"

namespace headroom {

namespace {

// NaN or infinite weights give NaN logits, garbage generations and a training whose loss is NaN
// from its first step: refused by name here, where every tensor is read once anyway. A finite
// source that overflows the dtype it is loaded in (float16 holds at most 65504) is told apart.
void requireFinite(const torch::Tensor &loaded, const torch::Tensor &source, const std::string &context) {
    if (allFinite(loaded))
        return;
    if (allFinite(source))
        throw invalidInput(context + " holds values beyond the range of " +
                           std::string(c10::toString(loaded.scalar_type())) + " (the largest magnitude is " +
                           std::to_string(source.abs().max().item<double>()) + "): load it in bfloat16 or float32");
    throw invalidInput(context + " holds " + describeNonFinite(source) +
                       ": the weights are damaged (or were saved from a diverged training)");
}

} // namespace

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
    requireFinite(owned, view, context);
    ref.file->releasePages(info);
    return owned;
}

} // namespace headroom
