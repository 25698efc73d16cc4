// Blockwise 8-bit quantization with bitsandbytes' dynamic maps (functional.quantize_blockwise):
// CPU kernel, tensor-operation version, and the API around them.
#include <algorithm>
#include <cmath>

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "headroom/error.h"
#include "quant/quant_internal.h"

namespace headroom {
namespace quant {
namespace {

constexpr int64_t kGrainElements = 1 << 15;

// kQuantizeBlockwise with General8bit: absmax = max |x| per block, x * (1 / absmax) in float32, then
// the nearest map entry (DynamicQuantizer). An all-zero block scales to NaN and gets code 0, as there.
template <typename T>
void quantizeTyped(const T *in, int64_t n, int64_t blocksize, const float *midpoints, uint8_t *codes, float *absmax) {
    const int64_t blocks = ceilDiv(n, blocksize);
    const DynamicQuantizer quantize{midpoints};
    at::parallel_for(0, blocks, std::max<int64_t>(1, kGrainElements / blocksize), [&](int64_t first, int64_t end) {
        for (int64_t b = first; b < end; ++b) {
            const int64_t start = b * blocksize;
            const int64_t len = std::min(blocksize, n - start);
            float maxAbs = 0.0f;
            for (int64_t i = start; i < start + len; ++i)
                maxAbs = std::max(maxAbs, std::fabs(float(in[i])));
            absmax[b] = maxAbs;
            const float inv = 1.0f / maxAbs;
            for (int64_t i = start; i < start + len; ++i)
                codes[i] = uint8_t(quantize(float(in[i]) * inv));
        }
    });
}

} // namespace

void quantize8Cpu(const torch::Tensor &input, bool isSigned, int64_t blocksize, uint8_t *codes, float *absmax) {
    const float *midpoints = dynamicMidpoints(isSigned).data();
    const int64_t n = input.numel();
    switch (input.scalar_type()) {
    case torch::kFloat32: quantizeTyped(input.data_ptr<float>(), n, blocksize, midpoints, codes, absmax); break;
    case torch::kBFloat16:
        quantizeTyped(input.data_ptr<c10::BFloat16>(), n, blocksize, midpoints, codes, absmax);
        break;
    case torch::kFloat16: quantizeTyped(input.data_ptr<c10::Half>(), n, blocksize, midpoints, codes, absmax); break;
    default: TORCH_CHECK(false, "quantize8Cpu: unchecked dtype");
    }
}

// kDequantizeBlockwise with General8bit: map[code] * absmax[block], float32.
void dequantize8Cpu(const Blockwise8 &q, float *out) {
    const float *map = dynamicMapArray(q.isSigned).data();
    const uint8_t *codes = q.codes.data_ptr<uint8_t>();
    const float *absmax = q.absmax.data_ptr<float>();
    const int64_t n = q.codes.numel();
    const int64_t bs = q.blocksize;
    at::parallel_for(0, ceilDiv(n, bs), std::max<int64_t>(1, kGrainElements / bs), [&](int64_t first, int64_t end) {
        for (int64_t b = first; b < end; ++b) {
            const float scale = absmax[b];
            for (int64_t i = b * bs; i < std::min(n, (b + 1) * bs); ++i)
                out[i] = map[codes[i]] * scale;
        }
    });
}

namespace {

void checkState(const Blockwise8 &q, const char *what) {
    checkBlocksize8(q.blocksize, what);
    if (!q.codes.defined() || q.codes.scalar_type() != torch::kUInt8 || !q.codes.is_contiguous() ||
        q.codes.numel() == 0)
        throw invalidInput(std::string(what) + ": codes must be a non-empty contiguous uint8 tensor");
    const int64_t blocks = ceilDiv(q.codes.numel(), q.blocksize);
    if (!q.absmax.defined() || q.absmax.scalar_type() != torch::kFloat32 || q.absmax.numel() != blocks ||
        !q.absmax.is_contiguous() || q.absmax.device() != q.codes.device())
        throw invalidInput(std::string(what) + ": absmax must be a contiguous float32 tensor of " +
                           std::to_string(blocks) + " elements on the codes' device");
}

} // namespace
} // namespace quant

Blockwise8 quantizeBlockwise8(const torch::Tensor &values, bool isSigned, int64_t blocksize) {
    Blockwise8 q;
    q.isSigned = isSigned;
    q.blocksize = blocksize;
    quantizeBlockwise8Into(values, q);
    return q;
}

void quantizeBlockwise8Into(const torch::Tensor &values, Blockwise8 &q) {
    quant::checkFloatInput(values, "quantizeBlockwise8");
    quant::checkBlocksize8(q.blocksize, "quantizeBlockwise8");
    const int64_t blocks = quant::ceilDiv(values.numel(), q.blocksize);
    if (!q.codes.defined() && !q.absmax.defined()) {
        const auto options = torch::TensorOptions().device(values.device());
        q.codes = torch::empty(values.sizes(), options.dtype(torch::kUInt8));
        q.absmax = torch::empty({blocks}, options.dtype(torch::kFloat32));
    }
    quant::checkState(q, "quantizeBlockwise8Into");
    if (q.codes.numel() != values.numel() || q.codes.device() != values.device())
        throw invalidInput("quantizeBlockwise8Into: the state holds " + std::to_string(q.codes.numel()) + " codes on " +
                           q.codes.device().str() + ", the values are " + std::to_string(values.numel()) + " on " +
                           values.device().str());
    if (!values.device().is_cpu()) {
        const Blockwise8 fresh = quantizeBlockwise8WithTensorOps(values, q.isSigned, q.blocksize);
        q.codes.view(fresh.codes.sizes()).copy_(fresh.codes);
        q.absmax.copy_(fresh.absmax);
        return;
    }
    quant::quantize8Cpu(values.contiguous(), q.isSigned, q.blocksize, q.codes.data_ptr<uint8_t>(),
                        q.absmax.data_ptr<float>());
}

torch::Tensor dequantizeBlockwise8(const Blockwise8 &q) {
    quant::checkState(q, "dequantizeBlockwise8");
    if (!q.codes.device().is_cpu())
        return dequantizeBlockwise8WithTensorOps(q);
    torch::Tensor out = torch::empty(q.codes.sizes(), torch::kFloat32);
    quant::dequantize8Cpu(q, out.data_ptr<float>());
    return out;
}

Blockwise8 quantizeBlockwise8WithTensorOps(const torch::Tensor &values, bool isSigned, int64_t blocksize) {
    quant::checkFloatInput(values, "quantizeBlockwise8");
    quant::checkBlocksize8(blocksize, "quantizeBlockwise8");
    const auto device = values.device();
    const int64_t n = values.numel();
    const int64_t blocks = quant::ceilDiv(n, blocksize);
    const torch::Tensor flat = values.reshape({-1}).to(torch::kFloat32);
    const torch::Tensor padded = torch::constant_pad_nd(flat, {0, blocks * blocksize - n}).view({blocks, blocksize});
    const torch::Tensor absmax = padded.abs().amax(1);
    const torch::Tensor scaled = (padded * torch::reciprocal(absmax).unsqueeze(1)).reshape({-1}).slice(0, 0, n);
    // DynamicQuantizer: midpoints below x (bucketize: boundaries[i-1] < x <= boundaries[i]); an exact
    // tie on an odd midpoint moves up to the even code; NaN -> 0.
    const auto &mid = quant::dynamicMidpoints(isSigned);
    const torch::Tensor midpoints =
        torch::tensor(std::vector<float>(mid.begin(), mid.begin() + 255), torch::kFloat32).to(device);
    torch::Tensor codes = torch::bucketize(scaled, midpoints);
    const torch::Tensor tie = codes.remainder(2).eq(1) & midpoints.index({codes.clamp_max(254)}).eq(scaled);
    codes = codes + tie.to(torch::kInt64);
    codes = torch::where(scaled.isnan(), torch::zeros_like(codes), codes);
    Blockwise8 q;
    q.codes = codes.to(torch::kUInt8).view(values.sizes());
    q.absmax = absmax.contiguous();
    q.blocksize = blocksize;
    q.isSigned = isSigned;
    return q;
}

torch::Tensor dequantizeBlockwise8WithTensorOps(const Blockwise8 &q) {
    quant::checkState(q, "dequantizeBlockwise8");
    const int64_t n = q.codes.numel();
    const torch::Tensor values =
        quant::dynamicMapTensor(q.isSigned, q.codes.device()).index({q.codes.reshape({-1}).to(torch::kInt64)});
    const torch::Tensor scale = q.absmax.repeat_interleave(q.blocksize).slice(0, 0, n);
    return (values * scale).view(q.codes.sizes());
}

} // namespace headroom
