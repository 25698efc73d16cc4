// Routes CUDA tensors to Headroom's kernels (kernels/include/headroom_kernels.h). Declared in every
// build; the kernels are linked only where LibTorch has CUDA and they were built
// (HEADROOM_WITH_CUDA_KERNELS, which core/CMakeLists.txt gives to cuda_kernels.cpp alone, so a
// build with and without them recompiles one file). kernelsEnabled() is false without them, or
// with HEADROOM_CUDA_KERNELS=0 in the environment (to compare the kernels against LibTorch's
// operations, or to rule them out); then gemv4Applies and adamw8bitStep say no, pagedBlockwise8
// gives nothing, and the other functions must not be called. Every function works on the tensors'
// device and its current stream, and throws headroom::Error (RuntimeFailure) with CUDA's message
// when a kernel fails.
#pragma once

#include <optional>

#include <torch/torch.h>

#include "train/optimizer.h"
#include "headroom/quantization.h"

namespace headroom::cuda {

// True when CUDA tensors go to the kernels below (read once per process).
bool kernelsEnabled();

// dequantize4Into for a CUDA Quant4Tensor when kernelsEnabled(): out is contiguous, q.numel()
// elements of float32, bfloat16 or float16 on q's device (checked by the caller).
void dequantize4Into(const Quant4Tensor &q, torch::Tensor &out);

// True when the kernels are enabled and gemv4 takes x: one row ([..., in] with a single row), contiguous, on q's CUDA device,
// float32/bfloat16/float16, q two-dimensional.
bool gemv4Applies(const Quant4Tensor &q, const torch::Tensor &x);
// x W^T for such an x, without materialising W: [..., out] in x's dtype.
torch::Tensor gemv4(const Quant4Tensor &q, const torch::Tensor &x);

// One fused 8-bit AdamW step for a CUDA parameter with blockwise-8 states of blocksize 256 (the math
// of optimizer.cpp's adamw_8bit). Returns false, doing nothing, where the kernel does not apply (a
// non-contiguous parameter, another blocksize, states elsewhere); the caller then takes the
// tensor-operation path.
bool adamw8bitStep(torch::Tensor &param, const torch::Tensor &grad, Blockwise8 &m, Blockwise8 &v, double lr,
                   int64_t step, const OptimizerSettings &settings);

// Zero-filled blockwise-8 state for `numel` values in paged (managed) memory on `device`, or
// std::nullopt without the kernels or when the card has less free memory than it needs (the caller then allocates it
// normally, through the caching allocator).
std::optional<Blockwise8> pagedBlockwise8(int64_t numel, bool isSigned, int64_t blocksize, torch::Device device);
// Asks the driver to move a paged tensor's pages to its device, on the current stream.
void prefetchToDevice(const torch::Tensor &paged);

} // namespace headroom::cuda
