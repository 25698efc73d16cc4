// x86-64 SIMD support for the quantization kernels: AVX2 code is compiled with function-level target
// attributes and chosen at run time, so the library still runs on any x86-64 (and builds elsewhere,
// where the portable loops are used).
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HEADROOM_QUANT_X86 1
#include <immintrin.h>

namespace headroom::quant {

// AVX2 and F16C (float16 conversions); FMA is deliberately not used: a fused multiply-add would round
// differently from bitsandbytes' separate products and sums.
inline bool cpuHasAvx2() {
    static const bool kHas = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
    return kHas;
}

} // namespace headroom::quant
#endif
