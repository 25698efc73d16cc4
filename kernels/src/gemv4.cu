// y = W x with a 4-bit W [rows, cols] and a single input row: the matrix-vector product of
// token-by-token generation. The weight is read once, 4 bits an element; nothing dense is written.
// One warp per output row; where a row starts on a 16-byte boundary (cols % 32 == 0, aligned
// buffers) each lane reads 16 packed bytes (32 elements, one block) per step, else it walks the row
// element by element. Sums are float32: code * x within a 32-element chunk, times the block's scale.
#include "kernels_common.cuh"

namespace hr {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kChunk = 32; // elements per lane per step on the aligned path

__device__ __forceinline__ float warpSum(float v) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
        v += __shfl_down_sync(0xFFFFFFFFu, v, offset);
    return v;
}

template <typename T, bool Vector>
__global__ void gemv4Kernel(hr_quant4 q, int64_t rows, int64_t cols, const T *x, T *y) {
    __shared__ float book[16];
    loadCodebook(q.type, book);
    const int lane = threadIdx.x % 32;
    const int shift = log2Exact(q.blocksize), nestedShift = log2Exact(q.nested_blocksize);
    for (int64_t row = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32; row < rows;
         row += int64_t(gridDim.x) * kWarps) {
        const int64_t rowStart = row * cols;
        float acc = 0.0f;
        if (Vector) {
            const uint4 *packed = reinterpret_cast<const uint4 *>(q.packed + rowStart / 2);
            for (int64_t chunk = lane; chunk < cols / kChunk; chunk += 32) {
                const uint4 word = __ldg(packed + chunk);
                const uint32_t parts[4] = {word.x, word.y, word.z, word.w};
                alignas(16) T xs[kChunk];
#pragma unroll
                for (int k = 0; k < int(sizeof(xs) / sizeof(uint4)); ++k)
                    reinterpret_cast<uint4 *>(xs)[k] = __ldg(reinterpret_cast<const uint4 *>(x + chunk * kChunk) + k);
                float sum = 0.0f;
#pragma unroll
                for (int k = 0; k < 16; ++k) {
                    const unsigned byte = (parts[k / 4] >> (8 * (k % 4))) & 0xFF;
                    sum += book[byte >> 4] * toFloat(xs[2 * k]);
                    sum += book[byte & 0x0F] * toFloat(xs[2 * k + 1]);
                }
                acc += sum * blockScale(q, (rowStart + chunk * kChunk) >> shift, nestedShift);
            }
        } else {
            for (int64_t c = lane; c < cols; c += 32) {
                const int64_t e = rowStart + c;
                const uint8_t byte = q.packed[e >> 1];
                const unsigned nibble = (e & 1) ? (byte & 0x0F) : (byte >> 4);
                acc += book[nibble] * blockScale(q, e >> shift, nestedShift) * toFloat(x[c]);
            }
        }
        acc = warpSum(acc);
        if (lane == 0)
            y[row] = fromFloat<T>(acc);
    }
}

template <typename T>
cudaError_t launch(const hr_quant4 &q, int64_t rows, int64_t cols, const void *x, void *y, cudaStream_t stream) {
    const unsigned grid = gridFor(rows, kWarps);
    const bool vector = cols % kChunk == 0 && aligned(q.packed, 16) && aligned(x, 16);
    if (vector)
        gemv4Kernel<T, true>
            <<<grid, kThreads, 0, stream>>>(q, rows, cols, static_cast<const T *>(x), static_cast<T *>(y));
    else
        gemv4Kernel<T, false>
            <<<grid, kThreads, 0, stream>>>(q, rows, cols, static_cast<const T *>(x), static_cast<T *>(y));
    return cudaGetLastError();
}

} // namespace
} // namespace hr

extern "C" cudaError_t hr_gemv4(const hr_quant4 *q, int64_t rows, int64_t cols, hr_dtype dtype, const void *x, void *y,
                                cudaStream_t stream) {
    if (!hr::validQuant4(q) || !hr::validDtype(dtype) || x == nullptr || y == nullptr || rows <= 0 || cols <= 0 ||
        rows * cols != q->numel)
        return cudaErrorInvalidValue;
    switch (dtype) {
    case HR_FLOAT32: return hr::launch<float>(*q, rows, cols, x, y, stream);
    case HR_BFLOAT16: return hr::launch<__nv_bfloat16>(*q, rows, cols, x, y, stream);
    default: return hr::launch<__half>(*q, rows, cols, x, y, stream);
    }
}
