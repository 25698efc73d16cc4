// What the kernels share: float32 <-> bfloat16/float16 conversion, the 4-bit code books, the block
// scale of a 4-bit tensor and argument checks. Arithmetic that must match a CPU reference bit for
// bit uses the _rn intrinsics, so nvcc cannot contract a multiply and an add into an FMA.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "headroom_kernels.h"

namespace hr {

template <hr_dtype D>
struct Storage;
template <>
struct Storage<HR_FLOAT32> {
    using type = float;
};
template <>
struct Storage<HR_BFLOAT16> {
    using type = __nv_bfloat16;
};
template <>
struct Storage<HR_FLOAT16> {
    using type = __half;
};

__device__ __forceinline__ float toFloat(float v) { return v; }
__device__ __forceinline__ float toFloat(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float toFloat(__half v) { return __half2float(v); }

template <typename T>
__device__ __forceinline__ T fromFloat(float v);
template <>
__device__ __forceinline__ float fromFloat<float>(float v) {
    return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 fromFloat<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ __half fromFloat<__half>(float v) {
    return __float2half_rn(v);
}

// bitsandbytes functional.get_4bit_type: NF4 (QLoRA's NormalFloat quantiles) and FP4 (sign in bit 3,
// 2 exponent bits, 1 mantissa bit, normalised by 12), exact float32 values; in constant memory
// (one copy per translation unit: no relocatable device code) and on the host.
#define HR_CODEBOOKS                                                                                                   \
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,                   \
        -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,                \
        0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f,    \
        1.0f, 0.0f / 12, 0.0625f / 12, 8.0f / 12, 12.0f / 12, 4.0f / 12, 6.0f / 12, 2.0f / 12, 3.0f / 12, -0.0f / 12,  \
        -0.0625f / 12, -8.0f / 12, -12.0f / 12, -4.0f / 12, -6.0f / 12, -2.0f / 12, -3.0f / 12

// kCodebooks[type * 16 + nibble]: NF4 then FP4.
static __constant__ float kCodebooks[32] = {HR_CODEBOOKS};

// log2 of a power of two.
__device__ __forceinline__ int log2Exact(int64_t powerOfTwo) { return __ffsll(powerOfTwo) - 1; }

// The scale of 4-bit block b (see hr_quant4 in headroom_kernels.h); nestedShift =
// log2Exact(q.nested_blocksize).
__device__ __forceinline__ float blockScale(const hr_quant4 &q, int64_t b, int nestedShift) {
    if (q.absmax_codes == nullptr)
        return __ldg(q.absmax + b);
    const float decoded =
        __fmul_rn(__ldg(q.nested_map + __ldg(q.absmax_codes + b)), __ldg(q.nested_absmax + (b >> nestedShift)));
    return __fadd_rn(decoded, q.nested_offset);
}

// The block's copy of q's code book in shared memory: threads of a warp look up different entries,
// which constant memory would serialize. Every thread of the block must call it (it synchronizes).
__device__ __forceinline__ void loadCodebook(hr_quant4_type type, float *book) {
    if (threadIdx.x < 16)
        book[threadIdx.x] = kCodebooks[type * 16 + threadIdx.x];
    __syncthreads();
}

inline bool isPowerOfTwo(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }
inline bool validDtype(hr_dtype d) { return d == HR_FLOAT32 || d == HR_BFLOAT16 || d == HR_FLOAT16; }
bool validQuant4(const hr_quant4 *q);
inline bool aligned(const void *p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }
inline unsigned gridFor(int64_t work, int threads) {
    const int64_t blocks = (work + threads - 1) / threads;
    return unsigned(blocks < (1 << 20) ? (blocks > 0 ? blocks : 1) : (1 << 20)); // grid-stride loops do the rest
}

} // namespace hr
