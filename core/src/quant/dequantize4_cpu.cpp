// CPU kernels for 4-bit dequantization, the hot path: every quantized weight is dequantized in
// forward, again for the input gradient in backward, and again on recompute.
//
// Per block the 16 possible outputs code[k] * absmax are computed once and converted to the output
// type; then every packed byte becomes two outputs through that table. With AVX2 the table sits in
// registers: a byte shuffle (vpshufb) looks up 32 nibbles at once for bfloat16/float16 outputs (one
// table of low bytes, one of high bytes), vpermps does float32. Blocks are spread over LibTorch's
// intra-op threads.
#include <algorithm>
#include <cmath>
#include <cstring>

#include <ATen/Parallel.h>
#include <c10/util/Half.h>

#include "quant/quant_internal.h"
#include "quant/quant_simd.h"

namespace headroom::quant {
namespace {

constexpr int64_t kGrainElements = 1 << 16; // per task: scheduling costs nothing next to the work

// float32 -> bfloat16 bits, round to nearest even (what torch's .to(bfloat16) and CUDA's
// __float2bfloat16 do); NaN stays a quiet NaN.
inline uint16_t bf16Bits(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    if (std::isnan(value))
        return 0x7FC0;
    return uint16_t((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

inline uint16_t f16Bits(float value) { return c10::Half(value).x; }

enum class OutKind { F32, BF16, F16 };

// Portable path, also the tail of the last (partial) block: a 16-entry table per block.
template <typename Out, typename Convert>
void dequantizeBlockScalar(const uint8_t *in, int64_t len, const float *code, float scale, Convert convert, Out *out) {
    Out table[16];
    for (int k = 0; k < 16; ++k)
        table[k] = convert(code[k] * scale);
    const int64_t pairs = len / 2;
    for (int64_t j = 0; j < pairs; ++j) {
        out[2 * j] = table[in[j] >> 4];
        out[2 * j + 1] = table[in[j] & 0x0F];
    }
    if (len % 2)
        out[len - 1] = table[in[pairs] >> 4];
}

void dequantizeBlockScalarAny(OutKind kind, const uint8_t *in, int64_t len, const float *code, float scale, void *out) {
    switch (kind) {
    case OutKind::F32:
        dequantizeBlockScalar(
            in, len, code, scale, [](float v) { return v; }, static_cast<float *>(out));
        break;
    case OutKind::BF16: dequantizeBlockScalar(in, len, code, scale, bf16Bits, static_cast<uint16_t *>(out)); break;
    case OutKind::F16: dequantizeBlockScalar(in, len, code, scale, f16Bits, static_cast<uint16_t *>(out)); break;
    }
}

#ifdef HEADROOM_QUANT_X86

// bfloat16 round to nearest even on 8 lanes, result in the low half of each 32-bit lane:
// (bits + 0x7FFF + lsb) >> 16; NaN -> 0x7FC0.
__attribute__((target("avx2"))) inline __m256i bf16Lanes(__m256 v) {
    const __m256i bits = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    const __m256i rounded =
        _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF))), 16);
    const __m256 isNan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    return _mm256_blendv_epi8(rounded, _mm256_set1_epi32(0x7FC0), _mm256_castps_si256(isNan));
}

// The 16 table values code[k] * scale as 16-bit patterns, split into a table of low bytes and one of
// high bytes, each repeated in both 128-bit lanes for vpshufb.
__attribute__((target("avx2,f16c"))) void tables16(const float *code, float scale, OutKind kind, __m256i &lowTable,
                                                   __m256i &highTable) {
    const __m256 s = _mm256_set1_ps(scale);
    const __m256 v0 = _mm256_mul_ps(_mm256_loadu_ps(code), s);
    const __m256 v1 = _mm256_mul_ps(_mm256_loadu_ps(code + 8), s);
    __m256i words; // 16 x u16, entry k at position k
    if (kind == OutKind::F16) {
        const __m128i h0 = _mm256_cvtps_ph(v0, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m128i h1 = _mm256_cvtps_ph(v1, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        words = _mm256_set_m128i(h1, h0);
    } else {
        // packus interleaves the lanes (0-3, 8-11 | 4-7, 12-15); the permute puts them in order.
        words = _mm256_permute4x64_epi64(_mm256_packus_epi32(bf16Lanes(v0), bf16Lanes(v1)), 0xD8);
    }
    // Per lane: low bytes of its 8 words, then their high bytes; then gather the halves.
    const __m256i splitBytes = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10,
                                                12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    const __m256i split = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(words, splitBytes), 0xD8);
    lowTable = _mm256_permute2x128_si256(split, split, 0x00);
    highTable = _mm256_permute2x128_si256(split, split, 0x11);
}

// Nibble indices of 16 packed bytes in element order: (elements 0..15, elements 16..31).
__attribute__((target("avx2"))) inline void unpackNibbles(const uint8_t *in, __m128i &first, __m128i &second) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i *>(in));
    const __m128i mask = _mm_set1_epi8(0x0F);
    const __m128i high = _mm_and_si128(_mm_srli_epi16(raw, 4), mask); // element 2j
    const __m128i low = _mm_and_si128(raw, mask); // element 2j + 1
    first = _mm_unpacklo_epi8(high, low);
    second = _mm_unpackhi_epi8(high, low);
}

// One block, bytes a multiple of 16.
__attribute__((target("avx2,f16c"))) inline void dequantizeBlock16(const uint8_t *in, int64_t bytes, const float *code,
                                                                   float scale, OutKind kind, uint16_t *out) {
    __m256i lowTable, highTable;
    tables16(code, scale, kind, lowTable, highTable);
    for (int64_t i = 0; i < bytes; i += 16, out += 32) {
        __m128i first, second;
        unpackNibbles(in + i, first, second);
        const __m256i index = _mm256_set_m128i(second, first);
        const __m256i lo = _mm256_shuffle_epi8(lowTable, index);
        const __m256i hi = _mm256_shuffle_epi8(highTable, index);
        const __m256i words0 = _mm256_unpacklo_epi8(lo, hi); // elements 0-7 | 16-23
        const __m256i words1 = _mm256_unpackhi_epi8(lo, hi); // elements 8-15 | 24-31
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(out), _mm256_permute2x128_si256(words0, words1, 0x20));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(out + 16), _mm256_permute2x128_si256(words0, words1, 0x31));
    }
}

// 8 float32 outputs for the nibble indices in the low 8 bytes of `indices`: codes 0-7 from values0,
// 8-15 from values1, chosen by bit 3.
__attribute__((target("avx2"))) inline void lookup8(__m128i indices, __m256 values0, __m256 values1, float *out) {
    const __m256i index = _mm256_cvtepu8_epi32(indices);
    const __m256 fromLow = _mm256_permutevar8x32_ps(values0, index);
    const __m256 fromHigh = _mm256_permutevar8x32_ps(values1, index);
    const __m256 useHigh = _mm256_castsi256_ps(_mm256_slli_epi32(index, 28)); // bit 3 -> sign bit
    _mm256_storeu_ps(out, _mm256_blendv_ps(fromLow, fromHigh, useHigh));
}

__attribute__((target("avx2"))) inline void dequantizeBlockF32(const uint8_t *in, int64_t bytes, const float *code,
                                                               float scale, float *out) {
    const __m256 s = _mm256_set1_ps(scale);
    const __m256 values0 = _mm256_mul_ps(_mm256_loadu_ps(code), s);
    const __m256 values1 = _mm256_mul_ps(_mm256_loadu_ps(code + 8), s);
    for (int64_t i = 0; i < bytes; i += 16, out += 32) {
        __m128i first, second;
        unpackNibbles(in + i, first, second);
        lookup8(first, values0, values1, out);
        lookup8(_mm_srli_si128(first, 8), values0, values1, out + 8);
        lookup8(second, values0, values1, out + 16);
        lookup8(_mm_srli_si128(second, 8), values0, values1, out + 24);
    }
}

// Full blocks [firstBlock, endBlock); a full block is a multiple of 16 bytes (blocksize >= 32, a
// power of two).
__attribute__((target("avx2,f16c"))) void dequantizeFullBlocksAvx2(const uint8_t *packed, int64_t blocksize,
                                                                   const float *code, const BlockScales &scales,
                                                                   OutKind kind, void *out, int64_t firstBlock,
                                                                   int64_t endBlock) {
    const int64_t bytes = blocksize / 2;
    for (int64_t b = firstBlock; b < endBlock; ++b) {
        if (kind == OutKind::F32)
            dequantizeBlockF32(packed + b * bytes, bytes, code, scales(b), static_cast<float *>(out) + b * blocksize);
        else
            dequantizeBlock16(packed + b * bytes, bytes, code, scales(b), kind,
                              static_cast<uint16_t *>(out) + b * blocksize);
    }
}

#endif // HEADROOM_QUANT_X86

void dequantizeBlocks(const uint8_t *packed, int64_t numel, int64_t blocksize, const float *code,
                      const BlockScales &scales, OutKind kind, void *out, int64_t firstBlock, int64_t endBlock) {
#ifdef HEADROOM_QUANT_X86
    if (cpuHasAvx2()) {
        const int64_t fullEnd = std::min(endBlock, numel / blocksize);
        dequantizeFullBlocksAvx2(packed, blocksize, code, scales, kind, out, firstBlock, fullEnd);
        firstBlock = std::max(firstBlock, fullEnd);
    }
#endif
    const size_t outSize = kind == OutKind::F32 ? sizeof(float) : sizeof(uint16_t);
    for (int64_t b = firstBlock; b < endBlock; ++b) {
        const int64_t start = b * blocksize;
        dequantizeBlockScalarAny(kind, packed + start / 2, std::min(blocksize, numel - start), code, scales(b),
                                 static_cast<char *>(out) + start * outSize);
    }
}

} // namespace

void dequantize4Cpu(const Quant4Tensor &q, torch::Tensor &out) {
    const auto kind = out.scalar_type() == torch::kFloat32    ? OutKind::F32
                      : out.scalar_type() == torch::kBFloat16 ? OutKind::BF16
                                                              : OutKind::F16;
    torch::Tensor map;
    const BlockScales scales = blockScalesOf(q, torch::kCPU, map);
    const uint8_t *packed = q.packed.data_ptr<uint8_t>();
    const float *code = quant4Codebook(q.type).data();
    const int64_t numel = q.numel();
    void *dst = out.data_ptr();
    const int64_t grain = std::max<int64_t>(1, kGrainElements / q.blocksize);
    at::parallel_for(0, q.blocks(), grain, [&](int64_t first, int64_t end) {
        dequantizeBlocks(packed, numel, q.blocksize, code, scales, kind, dst, first, end);
    });
}

} // namespace headroom::quant
