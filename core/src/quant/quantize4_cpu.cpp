// CPU kernels for 4-bit quantization (bitsandbytes kQuantizeBlockwise with NF4/FP4), run once per
// weight while a model loads: absmax = max |x| over the block, x * (1 / absmax) in float32, then the
// threshold rule of quant_internal.h. An all-zero block has 1/0 = inf and 0 * inf = NaN, which
// exceeds no threshold: code 0 there, as on the GPU. The nibble after an odd last element encodes
// 0 * (1 / absmax) of the zero the kernel pads with. With AVX2, full blocks take 16 elements per step:
// threshold counts by vector compares, pairs packed into bytes by shifts and packs.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "quant/quant_internal.h"
#include "quant/quant_simd.h"

namespace headroom::quant {
namespace {

constexpr int64_t kGrainElements = 1 << 16; // per task: scheduling costs nothing next to the work

#ifdef HEADROOM_QUANT_X86

// 8 elements as float32 (exact for every input type).
__attribute__((target("avx2,f16c"))) inline __m256 load8(const float *p) { return _mm256_loadu_ps(p); }
__attribute__((target("avx2,f16c"))) inline __m256 load8(const c10::BFloat16 *p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}
__attribute__((target("avx2,f16c"))) inline __m256 load8(const c10::Half *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
}

__attribute__((target("avx2"))) inline __m256 absolute(__m256 x) {
    return _mm256_and_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF)));
}

// max |x| over len (a multiple of 8) elements. vmaxps returns its second operand when the first is
// NaN, so NaN inputs are skipped like std::max(maxAbs, |x|) and fmaxf in the scalar paths.
template <typename T>
__attribute__((target("avx2,f16c"))) float absmaxAvx2(const T *x, int64_t len) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < len; i += 8)
        acc = _mm256_max_ps(absolute(load8(x + i)), acc);
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

// Codes of 8 scaled values, one per 32-bit lane. A compare gives -1 where x > t (false for NaN), so
// subtracting the masks counts the thresholds exceeded.
__attribute__((target("avx2"))) inline __m256i countAbove(__m256 x, const float *thresholds, int count) {
    __m256i n = _mm256_setzero_si256();
    for (int k = 0; k < count; ++k)
        n = _mm256_sub_epi32(n, _mm256_castps_si256(_mm256_cmp_ps(x, _mm256_set1_ps(thresholds[k]), _CMP_GT_OQ)));
    return n;
}

__attribute__((target("avx2"))) inline __m256i nf4Codes(__m256 x, const float *thresholds) {
    return countAbove(x, thresholds, 15);
}

__attribute__((target("avx2"))) inline __m256i fp4Codes(__m256 x, const float *thresholds) {
    const __m256i rank = countAbove(absolute(x), thresholds, 7);
    const __m256i magnitudeCodes =
        _mm256_setr_epi32(fp4MagnitudeCode(0), fp4MagnitudeCode(1), fp4MagnitudeCode(2), fp4MagnitudeCode(3),
                          fp4MagnitudeCode(4), fp4MagnitudeCode(5), fp4MagnitudeCode(6), fp4MagnitudeCode(7));
    const __m256i negative = _mm256_castps_si256(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
    return _mm256_or_si256(_mm256_permutevar8x32_epi32(magnitudeCodes, rank),
                           _mm256_and_si256(negative, _mm256_set1_epi32(8)));
}

// 16 codes (elements 0-7, 8-15) -> 8 bytes, element 2j in the high nibble. Each 64-bit lane holds an
// (even, odd) pair: (lane << 4) | (lane >> 32) leaves even << 4 | odd in its low 32 bits.
__attribute__((target("avx2"))) inline void pack16(__m256i first, __m256i second, uint8_t *out) {
    const __m256i pairs0 = _mm256_or_si256(_mm256_slli_epi64(first, 4), _mm256_srli_epi64(first, 32));
    const __m256i pairs1 = _mm256_or_si256(_mm256_slli_epi64(second, 4), _mm256_srli_epi64(second, 32));
    const __m256i lowDwords = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    const __m128i bytes0 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(pairs0, lowDwords));
    const __m128i bytes1 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(pairs1, lowDwords));
    const __m128i words = _mm_packus_epi32(bytes0, bytes1);
    _mm_storel_epi64(reinterpret_cast<__m128i *>(out), _mm_packus_epi16(words, words));
}

// len: a multiple of 16.
template <typename T, bool Nf4>
__attribute__((target("avx2,f16c"))) void quantizeBlockAvx2(const T *x, int64_t len, float inv, const float *thresholds,
                                                            uint8_t *out) {
    const __m256 scale = _mm256_set1_ps(inv);
    for (int64_t i = 0; i < len; i += 16, out += 8) {
        const __m256 x0 = _mm256_mul_ps(load8(x + i), scale);
        const __m256 x1 = _mm256_mul_ps(load8(x + i + 8), scale);
        if constexpr (Nf4)
            pack16(nf4Codes(x0, thresholds), nf4Codes(x1, thresholds), out);
        else
            pack16(fp4Codes(x0, thresholds), fp4Codes(x1, thresholds), out);
    }
}

#endif // HEADROOM_QUANT_X86

template <typename T>
float toFloat(T v) {
    return float(v);
}

template <typename T, typename Quantizer>
void quantizeBlocks(const T *in, int64_t numel, int64_t blocksize, uint8_t *packed, float *absmax, int64_t firstBlock,
                    int64_t endBlock) {
    const Quantizer quantize;
    for (int64_t b = firstBlock; b < endBlock; ++b) {
        const int64_t start = b * blocksize;
        const int64_t len = std::min(blocksize, numel - start);
        const T *x = in + start;
        uint8_t *out = packed + start / 2;
#ifdef HEADROOM_QUANT_X86
        // Full blocks are multiples of 16 elements (blocksize >= 32, a power of two).
        if (len == blocksize && cpuHasAvx2()) {
            const float maxAbs = absmaxAvx2(x, len);
            absmax[b] = maxAbs;
            quantizeBlockAvx2<T, std::is_same_v<Quantizer, Nf4Quantizer>>(x, len, 1.0f / maxAbs,
                                                                          quantize.thresholds.data(), out);
            continue;
        }
#endif
        float maxAbs = 0.0f;
        for (int64_t i = 0; i < len; ++i)
            maxAbs = std::max(maxAbs, std::fabs(toFloat(x[i])));
        absmax[b] = maxAbs;
        const float inv = 1.0f / maxAbs;
        const int64_t pairs = len / 2;
        for (int64_t j = 0; j < pairs; ++j)
            out[j] = uint8_t((quantize(toFloat(x[2 * j]) * inv) << 4) | quantize(toFloat(x[2 * j + 1]) * inv));
        if (len % 2)
            out[pairs] = uint8_t((quantize(toFloat(x[len - 1]) * inv) << 4) | quantize(0.0f * inv));
    }
}

template <typename T>
void quantizeTyped(const T *in, int64_t numel, Quant4Type type, int64_t blocksize, uint8_t *packed, float *absmax) {
    const int64_t blocks = ceilDiv(numel, blocksize);
    const int64_t grain = std::max<int64_t>(1, kGrainElements / blocksize);
    at::parallel_for(0, blocks, grain, [&](int64_t first, int64_t end) {
        if (type == Quant4Type::NF4)
            quantizeBlocks<T, Nf4Quantizer>(in, numel, blocksize, packed, absmax, first, end);
        else
            quantizeBlocks<T, Fp4Quantizer>(in, numel, blocksize, packed, absmax, first, end);
    });
}

} // namespace

void quantize4Cpu(const torch::Tensor &input, Quant4Type type, int64_t blocksize, uint8_t *packed, float *absmax) {
    const int64_t n = input.numel();
    switch (input.scalar_type()) {
    case torch::kFloat32: quantizeTyped(input.data_ptr<float>(), n, type, blocksize, packed, absmax); break;
    case torch::kBFloat16: quantizeTyped(input.data_ptr<c10::BFloat16>(), n, type, blocksize, packed, absmax); break;
    case torch::kFloat16: quantizeTyped(input.data_ptr<c10::Half>(), n, type, blocksize, packed, absmax); break;
    default: TORCH_CHECK(false, "quantize4Cpu: unchecked dtype");
    }
}

} // namespace headroom::quant
