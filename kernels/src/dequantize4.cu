// 4-bit dequantization (bitsandbytes' kDequantizeBlockwise for NF4/FP4, with the double-quantized
// scales decoded on the fly). Memory-bound: each thread turns one 4-byte word (8 elements, always
// inside one block since blocksize >= 32) into 8 outputs written with 16-byte stores; a misaligned
// buffer or the tail of an odd-sized tensor takes the element-by-element path.
#include "kernels_common.cuh"

namespace hr {
namespace {

constexpr int kThreads = 256;
constexpr int kGroup = 8; // elements per thread per iteration

template <typename Out>
__device__ __forceinline__ Out decode(const hr_quant4 &q, const float *book, int64_t e, float scale) {
    const uint8_t byte = q.packed[e >> 1];
    const unsigned nibble = (e & 1) ? (byte & 0x0F) : (byte >> 4);
    return fromFloat<Out>(__fmul_rn(book[nibble], scale));
}

template <typename Out, bool Vector>
__global__ void dequantize4Kernel(hr_quant4 q, Out *out) {
    __shared__ float book[16];
    loadCodebook(q.type, book);
    const int64_t groups = (q.numel + kGroup - 1) / kGroup;
    const int shift = log2Exact(q.blocksize), nestedShift = log2Exact(q.nested_blocksize);
    for (int64_t g = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; g < groups; g += int64_t(gridDim.x) * blockDim.x) {
        const int64_t first = g * kGroup;
        const float scale = blockScale(q, first >> shift, nestedShift);
        if (Vector && first + kGroup <= q.numel) {
            const uint32_t word = reinterpret_cast<const uint32_t *>(q.packed)[g];
            alignas(16) Out values[kGroup];
#pragma unroll
            for (int k = 0; k < 4; ++k) {
                const unsigned byte = (word >> (8 * k)) & 0xFF; // little endian: byte k of the word
                values[2 * k] = fromFloat<Out>(__fmul_rn(book[byte >> 4], scale));
                values[2 * k + 1] = fromFloat<Out>(__fmul_rn(book[byte & 0x0F], scale));
            }
            constexpr int kStores = sizeof(values) / sizeof(uint4);
#pragma unroll
            for (int k = 0; k < kStores; ++k)
                reinterpret_cast<uint4 *>(out + first)[k] = reinterpret_cast<const uint4 *>(values)[k];
        } else {
            for (int64_t e = first; e < first + kGroup && e < q.numel; ++e)
                out[e] = decode<Out>(q, book, e, scale);
        }
    }
}

template <typename Out>
cudaError_t launch(const hr_quant4 &q, void *out, cudaStream_t stream) {
    const int64_t groups = (q.numel + kGroup - 1) / kGroup;
    const bool vector = aligned(q.packed, 4) && aligned(out, 16);
    if (vector)
        dequantize4Kernel<Out, true><<<gridFor(groups, kThreads), kThreads, 0, stream>>>(q, static_cast<Out *>(out));
    else
        dequantize4Kernel<Out, false><<<gridFor(groups, kThreads), kThreads, 0, stream>>>(q, static_cast<Out *>(out));
    return cudaGetLastError();
}

} // namespace
} // namespace hr

extern "C" cudaError_t hr_dequantize4(const hr_quant4 *q, hr_dtype out_dtype, void *out, cudaStream_t stream) {
    if (!hr::validQuant4(q) || !hr::validDtype(out_dtype) || out == nullptr)
        return cudaErrorInvalidValue;
    switch (out_dtype) {
    case HR_FLOAT32: return hr::launch<float>(*q, out, stream);
    case HR_BFLOAT16: return hr::launch<__nv_bfloat16>(*q, out, stream);
    default: return hr::launch<__half>(*q, out, stream);
    }
}
