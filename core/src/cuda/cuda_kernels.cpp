// The LibTorch side of the CUDA kernels: tensor checks, raw pointers, the current stream and
// managed memory wrapped as tensors. In a build without the kernels, the answers that route every
// tensor to LibTorch's operations.
#include "cuda/cuda_kernels.h"

#include "headroom/error.h"

#ifdef HEADROOM_WITH_CUDA_KERNELS

#include <cstdlib>
#include <cstring>

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "headroom_kernels.h"
#include "quant/quant_internal.h"

namespace headroom::cuda {

bool kernelsEnabled() {
    static const bool enabled = [] {
        const char *setting = std::getenv("HEADROOM_CUDA_KERNELS");
        return !(setting && std::strcmp(setting, "0") == 0);
    }();
    return enabled;
}

namespace {

void check(cudaError_t e, const char *what) {
    if (e != cudaSuccess)
        throw runtimeFailure(std::string(what) + " failed on the GPU: " + cudaGetErrorString(e));
}

hr_dtype kernelDtype(torch::ScalarType t) {
    switch (t) {
    case torch::kFloat32: return HR_FLOAT32;
    case torch::kBFloat16: return HR_BFLOAT16;
    case torch::kFloat16: return HR_FLOAT16;
    default:
        throw invalidInput(std::string("CUDA kernels: dtype ") + c10::toString(t) +
                           " is not float32, bfloat16 or float16");
    }
}

bool kernelDtypeOk(torch::ScalarType t) {
    return t == torch::kFloat32 || t == torch::kBFloat16 || t == torch::kFloat16;
}

// The kernels' view of q; `nestedMap` keeps the map it points into alive.
hr_quant4 kernelView(const Quant4Tensor &q, torch::Tensor &nestedMap) {
    hr_quant4 v{};
    v.type = q.type == Quant4Type::NF4 ? HR_NF4 : HR_FP4;
    v.numel = q.numel();
    v.blocksize = q.blocksize;
    v.packed = q.packed.data_ptr<uint8_t>();
    const quant::BlockScales scales = quant::blockScalesOf(q, q.device(), nestedMap);
    v.absmax = scales.absmax;
    v.absmax_codes = scales.codes;
    v.nested_absmax = scales.nested;
    v.nested_map = scales.map;
    v.nested_offset = scales.offset;
    v.nested_blocksize = scales.nestedBlocksize;
    return v;
}

cudaStream_t currentStream(torch::Device device) { return c10::cuda::getCurrentCUDAStream(device.index()).stream(); }

} // namespace

void dequantize4Into(const Quant4Tensor &q, torch::Tensor &out) {
    const c10::cuda::CUDAGuard guard(q.device());
    torch::Tensor nestedMap;
    const hr_quant4 view = kernelView(q, nestedMap);
    check(hr_dequantize4(&view, kernelDtype(out.scalar_type()), out.data_ptr(), currentStream(q.device())),
          "4-bit dequantization");
}

bool gemv4Applies(const Quant4Tensor &q, const torch::Tensor &x) {
    return kernelsEnabled() && q.shape.size() == 2 && x.is_cuda() && x.device() == q.device() && x.dim() >= 1 &&
           x.numel() == x.size(-1) && x.size(-1) == q.shape[1] && x.is_contiguous() && kernelDtypeOk(x.scalar_type());
}

torch::Tensor gemv4(const Quant4Tensor &q, const torch::Tensor &x) {
    const c10::cuda::CUDAGuard guard(q.device());
    auto sizes = x.sizes().vec();
    sizes.back() = q.shape[0];
    torch::Tensor y = torch::empty(sizes, x.options());
    torch::Tensor nestedMap;
    const hr_quant4 view = kernelView(q, nestedMap);
    check(hr_gemv4(&view, q.shape[0], q.shape[1], kernelDtype(x.scalar_type()), x.data_ptr(), y.data_ptr(),
                   currentStream(q.device())),
          "4-bit matrix-vector product");
    return y;
}

bool adamw8bitStep(torch::Tensor &param, const torch::Tensor &grad, Blockwise8 &m, Blockwise8 &v, double lr,
                   int64_t step, const OptimizerSettings &settings) {
    const auto device = param.device();
    auto onDevice = [&](const torch::Tensor &t) { return t.defined() && t.device() == device && t.is_contiguous(); };
    if (!kernelsEnabled() || !param.is_cuda() || !param.is_contiguous() || !kernelDtypeOk(param.scalar_type()) ||
        m.blocksize != HR_ADAMW8BIT_BLOCKSIZE || v.blocksize != HR_ADAMW8BIT_BLOCKSIZE || !m.isSigned || v.isSigned ||
        !onDevice(m.codes) || !onDevice(m.absmax) || !onDevice(v.codes) || !onDevice(v.absmax) ||
        m.codes.numel() != param.numel() || v.codes.numel() != param.numel())
        return false;
    const c10::cuda::CUDAGuard guard(device);
    const torch::Tensor g = grad.to(device, param.scalar_type()).contiguous();
    const hr_adamw_params h{lr, settings.beta1, settings.beta2, settings.epsilon, settings.weightDecay, step};
    check(hr_adamw8bit_step(kernelDtype(param.scalar_type()), param.data_ptr(), g.data_ptr(), param.numel(),
                            m.codes.data_ptr<uint8_t>(), m.absmax.data_ptr<float>(), v.codes.data_ptr<uint8_t>(),
                            v.absmax.data_ptr<float>(), quant::dynamicMapTensor(true, device).data_ptr<float>(),
                            quant::dynamicMapTensor(false, device).data_ptr<float>(), &h, currentStream(device)),
          "8-bit AdamW step");
    return true;
}

namespace {

// A zero-filled tensor in managed memory, freed with it; undefined when the card lacks the room.
torch::Tensor pagedZeros(int64_t numel, torch::ScalarType dtype, torch::Device device) {
    const c10::cuda::CUDAGuard guard(device);
    const size_t bytes = size_t(numel) * c10::elementSize(dtype);
    void *memory = nullptr;
    const cudaError_t e = hr_managed_alloc(bytes, &memory);
    if (e == cudaErrorMemoryAllocation)
        return {};
    check(e, "allocating paged optimizer state");
    try {
        check(cudaMemsetAsync(memory, 0, bytes, currentStream(device)), "clearing paged optimizer state");
        return torch::from_blob(
            memory, {numel}, [](void *p) { hr_managed_free(p); }, torch::TensorOptions().dtype(dtype).device(device));
    } catch (...) {
        hr_managed_free(memory);
        throw;
    }
}

} // namespace

std::optional<Blockwise8> pagedBlockwise8(int64_t numel, bool isSigned, int64_t blocksize, torch::Device device) {
    if (!kernelsEnabled())
        return std::nullopt;
    Blockwise8 q;
    q.isSigned = isSigned;
    q.blocksize = blocksize;
    // Zero codes with zero absmax decode to zero, as quantizeBlockwise8 of zeros gives.
    q.codes = pagedZeros(numel, torch::kUInt8, device);
    if (!q.codes.defined())
        return std::nullopt;
    q.absmax = pagedZeros((numel + blocksize - 1) / blocksize, torch::kFloat32, device);
    if (!q.absmax.defined())
        return std::nullopt;
    return q;
}

void prefetchToDevice(const torch::Tensor &paged) {
    const auto device = paged.device();
    check(hr_managed_prefetch(paged.data_ptr(), size_t(paged.numel()) * paged.element_size(), device.index(),
                              currentStream(device)),
          "prefetching paged optimizer state");
}

} // namespace headroom::cuda

#else // no kernels in this build

namespace headroom::cuda {

bool kernelsEnabled() { return false; }

namespace {
[[noreturn]] void notBuilt() { throw runtimeFailure("this build has no Headroom CUDA kernels"); }
} // namespace

void dequantize4Into(const Quant4Tensor &, torch::Tensor &) { notBuilt(); }
bool gemv4Applies(const Quant4Tensor &, const torch::Tensor &) { return false; }
torch::Tensor gemv4(const Quant4Tensor &, const torch::Tensor &) { notBuilt(); }
bool adamw8bitStep(torch::Tensor &, const torch::Tensor &, Blockwise8 &, Blockwise8 &, double, int64_t,
                   const OptimizerSettings &) {
    return false;
}
std::optional<Blockwise8> pagedBlockwise8(int64_t, bool, int64_t, torch::Device) { return std::nullopt; }
void prefetchToDevice(const torch::Tensor &) { notBuilt(); }

} // namespace headroom::cuda

#endif // HEADROOM_WITH_CUDA_KERNELS
