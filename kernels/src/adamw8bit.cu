// bitsandbytes' blockwise 8-bit AdamW step, fused: one thread block per state block of 256
// elements, one element per thread. Decode both moments, update moment and parameter in float32,
// reduce the block's new absmax values, encode again. The maps and their decision midpoints sit in
// shared memory; the midpoint search is core/src/quant's DynamicQuantizer.
#include <cmath>

#include "kernels_common.cuh"

namespace hr {
namespace {

constexpr int kThreads = HR_ADAMW8BIT_BLOCKSIZE;

// The scalars of a step, each computed in double and rounded to float32 once.
struct Scalars {
    float decay; // 1 - lr * weight_decay (1 when weight_decay is 0: the multiply is skipped)
    bool applyDecay;
    float beta1, oneMinusBeta1, beta2, oneMinusBeta2;
    float sqrtBiasCorrection2, eps, stepSize; // stepSize = -lr / (1 - beta1^step)
};

// The code of x: the number of midpoints below x, up by one on an exact tie with an odd midpoint;
// NaN gives 0.
__device__ __forceinline__ unsigned encode(const float *midpoints, float x) {
    int r = 0;
#pragma unroll
    for (int step = 128; step > 0; step >>= 1)
        r += (midpoints[r + step - 1] < x) ? step : 0;
    return unsigned(r + ((r & 1) && midpoints[r] == x));
}

__device__ __forceinline__ float blockMaxAbs(float v, float *scratch) {
    v = fabsf(v);
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, offset));
    const int warp = threadIdx.x / 32;
    __syncthreads(); // scratch may still be read from the previous reduction
    if (threadIdx.x % 32 == 0)
        scratch[warp] = v;
    __syncthreads();
    float result = scratch[0];
    for (int w = 1; w < kThreads / 32; ++w)
        result = fmaxf(result, scratch[w]);
    return result;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    adamw8bitKernel(T *param, const T *grad, int64_t n, uint8_t *mCodes, float *mAbsmax, uint8_t *vCodes,
                    float *vAbsmax, const float *signedMap, const float *unsignedMap, Scalars s) {
    __shared__ float mMap[256], vMap[256], mMid[256], vMid[256], scratch[kThreads / 32];
    const int t = threadIdx.x;
    mMap[t] = signedMap[t];
    vMap[t] = unsignedMap[t];
    __syncthreads();
    mMid[t] = t < 255 ? __fmul_rn(__fadd_rn(mMap[t], mMap[t + 1]), 0.5f) : INFINITY;
    vMid[t] = t < 255 ? __fmul_rn(__fadd_rn(vMap[t], vMap[t + 1]), 0.5f) : INFINITY;
    __syncthreads();

    for (int64_t block = blockIdx.x; block * kThreads < n; block += gridDim.x) {
        const int64_t i = block * kThreads + t;
        const bool active = i < n;
        float m = 0.0f, v = 0.0f;
        if (active) {
            const float g = toFloat(grad[i]);
            float p = toFloat(param[i]);
            m = __fmul_rn(mMap[mCodes[i]], mAbsmax[block]);
            v = __fmul_rn(vMap[vCodes[i]], vAbsmax[block]);
            if (s.applyDecay)
                p = __fmul_rn(p, s.decay);
            m = __fadd_rn(__fmul_rn(m, s.beta1), __fmul_rn(s.oneMinusBeta1, g));
            v = __fadd_rn(__fmul_rn(v, s.beta2), __fmul_rn(__fmul_rn(s.oneMinusBeta2, g), g));
            const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), s.sqrtBiasCorrection2), s.eps);
            p = __fadd_rn(p, __fmul_rn(s.stepSize, __fdiv_rn(m, denom)));
            param[i] = fromFloat<T>(p);
        }
        // Inactive threads (past the end of the last block) contribute 0 to the maxima.
        const float mMax = blockMaxAbs(m, scratch);
        const float vMax = blockMaxAbs(v, scratch);
        if (active) {
            mCodes[i] = uint8_t(encode(mMid, __fmul_rn(m, __fdiv_rn(1.0f, mMax))));
            vCodes[i] = uint8_t(encode(vMid, __fmul_rn(v, __fdiv_rn(1.0f, vMax))));
        }
        if (t == 0) {
            mAbsmax[block] = mMax;
            vAbsmax[block] = vMax;
        }
    }
}

Scalars scalarsOf(const hr_adamw_params &h) {
    Scalars s;
    s.applyDecay = h.weight_decay != 0.0;
    s.decay = float(1.0 - h.lr * h.weight_decay);
    s.beta1 = float(h.beta1);
    s.oneMinusBeta1 = float(1.0 - h.beta1);
    s.beta2 = float(h.beta2);
    s.oneMinusBeta2 = float(1.0 - h.beta2);
    s.sqrtBiasCorrection2 = float(std::sqrt(1.0 - std::pow(h.beta2, double(h.step))));
    s.eps = float(h.eps);
    s.stepSize = float(-h.lr / (1.0 - std::pow(h.beta1, double(h.step))));
    return s;
}

template <typename T>
cudaError_t launch(void *param, const void *grad, int64_t n, uint8_t *mCodes, float *mAbsmax, uint8_t *vCodes,
                   float *vAbsmax, const float *signedMap, const float *unsignedMap, const Scalars &s,
                   cudaStream_t stream) {
    adamw8bitKernel<T><<<gridFor(n, kThreads), kThreads, 0, stream>>>(static_cast<T *>(param),
                                                                      static_cast<const T *>(grad), n, mCodes, mAbsmax,
                                                                      vCodes, vAbsmax, signedMap, unsignedMap, s);
    return cudaGetLastError();
}

} // namespace
} // namespace hr

extern "C" cudaError_t hr_adamw8bit_step(hr_dtype param_dtype, void *param, const void *grad, int64_t n,
                                         uint8_t *m_codes, float *m_absmax, uint8_t *v_codes, float *v_absmax,
                                         const float *signed_map, const float *unsigned_map,
                                         const hr_adamw_params *params, cudaStream_t stream) {
    if (!hr::validDtype(param_dtype) || param == nullptr || grad == nullptr || n <= 0 || m_codes == nullptr ||
        m_absmax == nullptr || v_codes == nullptr || v_absmax == nullptr || signed_map == nullptr ||
        unsigned_map == nullptr || params == nullptr || params->step < 1 || !(params->lr >= 0))
        return cudaErrorInvalidValue;
    const hr::Scalars s = hr::scalarsOf(*params);
    switch (param_dtype) {
    case HR_FLOAT32:
        return hr::launch<float>(param, grad, n, m_codes, m_absmax, v_codes, v_absmax, signed_map, unsigned_map, s,
                                 stream);
    case HR_BFLOAT16:
        return hr::launch<__nv_bfloat16>(param, grad, n, m_codes, m_absmax, v_codes, v_absmax, signed_map, unsigned_map,
                                         s, stream);
    default:
        return hr::launch<__half>(param, grad, n, m_codes, m_absmax, v_codes, v_absmax, signed_map, unsigned_map, s,
                                  stream);
    }
}
