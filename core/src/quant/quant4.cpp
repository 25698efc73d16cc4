// The 4-bit API: argument checks, device dispatch (CPU kernels; CUDA kernels where built; else
// tensor operations) and double quantization of the block scales.
#include <algorithm>

#include "cuda/cuda_kernels.h"
#include "headroom/error.h"
#include "quant/quant_internal.h"

namespace headroom {

int64_t Quant4Tensor::numel() const {
    int64_t n = 1;
    for (int64_t d : shape)
        n *= d;
    return n;
}

int64_t Quant4Tensor::blocks() const { return quant::ceilDiv(numel(), blocksize); }

int64_t Quant4Tensor::bytes() const {
    auto size = [](const torch::Tensor &t) { return t.defined() ? int64_t(t.numel() * t.element_size()) : 0; };
    int64_t total = size(packed) + size(absmax);
    if (doubleQuant)
        total += size(nestedAbsmax) + size(nestedMap) + int64_t(sizeof nestedOffset);
    return total;
}

namespace {

// bitsandbytes quantize_4bit with compress_statistics: offset = absmax.mean(); the centred scales are
// quantize_blockwise'd with the signed dynamic map in blocks of 256. The mean is taken in double and
// rounded once (torch's float32 mean may differ in the last bit; the offset is stored, so a checkpoint
// decodes exactly either way).
void compressScales(Quant4Tensor &q, const torch::Tensor &absmax, bool withTensorOps) {
    const float offset = float(absmax.to(torch::kFloat64).mean().item<double>());
    const torch::Tensor centred = absmax - double(offset); // float32 subtraction
    const Blockwise8 nested = withTensorOps ? quantizeBlockwise8WithTensorOps(centred, true, quant::kNestedBlocksize)
                                            : quantizeBlockwise8(centred, true, quant::kNestedBlocksize);
    q.doubleQuant = true;
    q.absmax = nested.codes;
    q.nestedAbsmax = nested.absmax;
    q.nestedOffset = offset;
    q.nestedBlocksize = quant::kNestedBlocksize;
}

Quant4Tensor emptyState(const torch::Tensor &weight, Quant4Type type, int64_t blocksize) {
    Quant4Tensor q;
    q.type = type;
    q.shape = weight.sizes().vec();
    q.blocksize = blocksize;
    return q;
}

} // namespace

Quant4Tensor quantize4(const torch::Tensor &weight, Quant4Type type, int64_t blocksize, bool doubleQuant) {
    quant::checkFloatInput(weight, "quantize4");
    quant::checkBlocksize4(blocksize, "quantize4");
    if (!weight.device().is_cpu())
        return quantize4WithTensorOps(weight, type, blocksize, doubleQuant);
    Quant4Tensor q = emptyState(weight, type, blocksize);
    const torch::Tensor input = weight.contiguous();
    const auto bytes = torch::TensorOptions().dtype(torch::kUInt8);
    q.packed = torch::empty({(input.numel() + 1) / 2}, bytes);
    torch::Tensor absmax = torch::empty({q.blocks()}, torch::kFloat32);
    quant::quantize4Cpu(input, type, blocksize, q.packed.data_ptr<uint8_t>(), absmax.data_ptr<float>());
    if (doubleQuant)
        compressScales(q, absmax, false);
    else
        q.absmax = absmax;
    return q;
}

torch::Tensor dequantize4(const Quant4Tensor &q, torch::ScalarType outDtype) {
    quant::checkQuant4Tensor(q, "dequantize4");
    quant::checkOutputDtype(outDtype, "dequantize4");
    if (q.device().is_cuda() && cuda::kernelsEnabled()) {
        torch::Tensor out = torch::empty(q.shape, q.packed.options().dtype(outDtype));
        cuda::dequantize4Into(q, out);
        return out;
    }
    if (!q.device().is_cpu())
        return dequantize4WithTensorOps(q, outDtype);
    torch::Tensor out = torch::empty(q.shape, torch::TensorOptions().dtype(outDtype));
    quant::dequantize4Cpu(q, out);
    return out;
}

void dequantize4Into(const Quant4Tensor &q, torch::Tensor &out) {
    quant::checkQuant4Tensor(q, "dequantize4Into");
    quant::checkOutputBuffer(q, out, "dequantize4Into");
    if (q.device().is_cuda() && cuda::kernelsEnabled()) {
        cuda::dequantize4Into(q, out);
        return;
    }
    if (!q.device().is_cpu()) {
        quant::dequantize4WithTensorOpsInto(q, out);
        return;
    }
    quant::dequantize4Cpu(q, out);
}

// ---------------------------------------------------------------------------------------------------
// Tensor-operation versions: the same formulas as the kernels, step by step on whole tensors.

namespace {

torch::Tensor floatTensor(const float *values, int64_t count, torch::Device device) {
    return torch::tensor(std::vector<float>(values, values + count), torch::kFloat32).to(device);
}

// Zero-pads the flattened input to whole blocks: [blocks, blocksize] float32, plus x / absmax per
// element as x * (1 / absmax) (NaN in all-zero blocks, as in the kernels).
std::pair<torch::Tensor, torch::Tensor> scaledBlocks(const torch::Tensor &values, int64_t blocksize) {
    const int64_t n = values.numel();
    const int64_t blocks = quant::ceilDiv(n, blocksize);
    const torch::Tensor flat = values.reshape({-1}).to(torch::kFloat32);
    const torch::Tensor padded = torch::constant_pad_nd(flat, {0, blocks * blocksize - n}).view({blocks, blocksize});
    const torch::Tensor absmax = padded.abs().amax(1);
    const torch::Tensor scaled = padded * torch::reciprocal(absmax).unsqueeze(1);
    return {absmax, scaled};
}

} // namespace

Quant4Tensor quantize4WithTensorOps(const torch::Tensor &weight, Quant4Type type, int64_t blocksize, bool doubleQuant) {
    quant::checkFloatInput(weight, "quantize4");
    quant::checkBlocksize4(blocksize, "quantize4");
    Quant4Tensor q = emptyState(weight, type, blocksize);
    const auto device = weight.device();
    auto [absmax, scaled] = scaledBlocks(weight, blocksize);
    // The threshold rule: the number of thresholds exceeded is bucketize's index (boundaries[i-1] < x <= boundaries[i]).
    torch::Tensor codes;
    if (type == Quant4Type::NF4) {
        const auto &t = quant::nf4Thresholds();
        codes = torch::bucketize(scaled, floatTensor(t.data(), int64_t(t.size()), device));
    } else {
        const auto &t = quant::fp4Thresholds();
        const torch::Tensor rank = torch::bucketize(scaled.abs(), floatTensor(t.data(), int64_t(t.size()), device));
        std::vector<int64_t> magnitudeCodes;
        for (int m = 0; m < 8; ++m)
            magnitudeCodes.push_back(quant::fp4MagnitudeCode(m));
        const torch::Tensor magnitude = torch::tensor(magnitudeCodes, torch::kInt64).to(device).index({rank});
        codes = magnitude + scaled.lt(0).to(torch::kInt64) * 8;
    }
    codes = torch::where(scaled.isnan(), torch::zeros_like(codes), codes);
    // Elements and the zero padding in element order; an odd count keeps the padding nibble.
    const int64_t n = weight.numel();
    const torch::Tensor nibbles = codes.reshape({-1}).slice(0, 0, (n + 1) / 2 * 2).view({-1, 2});
    q.packed = (nibbles.select(1, 0) * 16 + nibbles.select(1, 1)).to(torch::kUInt8).contiguous();
    if (doubleQuant)
        compressScales(q, absmax, true);
    else
        q.absmax = absmax.contiguous();
    return q;
}

// The chain below holds about 28 bytes per element at once (int64 nibbles, float32 values and
// scales, their product); chunks of this many elements (a whole number of blocks for every
// blocksize, an even element count) bound that to about 28 MiB beside the output, which is all the
// memory estimate counts for a dequantized weight (a CUDA build without Headroom's kernels runs this
// in every 4-bit layer's forward and backward).
constexpr int64_t kTensorOpsChunk = int64_t(1) << 20;

torch::Tensor dequantize4WithTensorOps(const Quant4Tensor &q, torch::ScalarType outDtype) {
    quant::checkQuant4Tensor(q, "dequantize4");
    quant::checkOutputDtype(outDtype, "dequantize4");
    torch::Tensor out = torch::empty(q.shape, q.packed.options().dtype(outDtype));
    quant::dequantize4WithTensorOpsInto(q, out);
    return out;
}

void quant::dequantize4WithTensorOpsInto(const Quant4Tensor &q, torch::Tensor &out) {
    const auto device = q.device();
    const int64_t n = q.numel();
    const auto &book = quant4Codebook(q.type);
    const torch::Tensor codebook = floatTensor(book.data(), 16, device);
    torch::Tensor absmax = q.absmax;
    if (q.doubleQuant) {
        const torch::Tensor nested = q.nestedAbsmax.repeat_interleave(q.nestedBlocksize).slice(0, 0, q.blocks());
        const torch::Tensor decoded = quant::nestedMapOf(q, device).index({q.absmax.to(torch::kInt64)}) * nested;
        absmax = decoded + double(q.nestedOffset);
    }
    torch::Tensor flat = out.view({n});
    for (int64_t begin = 0; begin < n; begin += kTensorOpsChunk) {
        const int64_t end = std::min(n, begin + kTensorOpsChunk);
        const torch::Tensor packed = q.packed.slice(0, begin / 2, (end + 1) / 2).to(torch::kInt64);
        const torch::Tensor nibbles = torch::stack({packed.div(16, "floor"), packed.remainder(16)}, 1).reshape({-1});
        const torch::Tensor values = codebook.index({nibbles.slice(0, 0, end - begin)});
        const int64_t firstBlock = begin / q.blocksize;
        const torch::Tensor scale = absmax.slice(0, firstBlock, quant::ceilDiv(end, q.blocksize))
                                        .repeat_interleave(q.blocksize)
                                        .slice(0, begin - firstBlock * q.blocksize, end - firstBlock * q.blocksize);
        flat.slice(0, begin, end).copy_(values * scale);
    }
}

} // namespace headroom
