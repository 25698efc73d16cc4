// The code books and decision thresholds of bitsandbytes' 4-bit and 8-bit blockwise quantization.
#include <algorithm>
#include <cmath>
#include <limits>

#include "quant/quant_internal.h"

namespace headroom {

const std::array<float, 16> &quant4Codebook(Quant4Type type) {
    // bitsandbytes functional.get_4bit_type("nf4"): the NormalFloat quantiles (QLoRA paper, appendix E),
    // exact float32 values.
    static const std::array<float, 16> kNf4 = {-1.0f,
                                               -0.6961928009986877f,
                                               -0.5250730514526367f,
                                               -0.39491748809814453f,
                                               -0.28444138169288635f,
                                               -0.18477343022823334f,
                                               -0.09105003625154495f,
                                               0.0f,
                                               0.07958029955625534f,
                                               0.16093020141124725f,
                                               0.24611230194568634f,
                                               0.33791524171829224f,
                                               0.44070982933044434f,
                                               0.5626170039176941f,
                                               0.7229568362236023f,
                                               1.0f};
    // get_4bit_type("fp4"): 1 sign bit (bit 3), 2 exponent bits, 1 mantissa bit, exponent bias 3,
    // normalised by the largest magnitude 12 (float32 division, as the tensor division there).
    static const std::array<float, 16> kFp4 = {
        0.0f / 12,  0.0625f / 12,  8.0f / 12,  12.0f / 12,  4.0f / 12,  6.0f / 12,  2.0f / 12,  3.0f / 12,
        -0.0f / 12, -0.0625f / 12, -8.0f / 12, -12.0f / 12, -4.0f / 12, -6.0f / 12, -2.0f / 12, -3.0f / 12};
    return type == Quant4Type::NF4 ? kNf4 : kFp4;
}

namespace {

// create_dynamic_map(signed, max_exponent_bits=7, total_bits=8) in bitsandbytes/functional.py: for
// exponent i = 0..6, take k+1 = 2^i + 1 (signed) or 2^(i+1) + 1 (unsigned) points
// torch.linspace(0.1, 1, k+1) in float32, their k midpoints (b[j] + b[j+1]) / 2, times 10^(i-6)
// (and negated when signed); add 0 and 1; sort. Every step is float32 arithmetic as in torch; linspace
// uses its scalar formula (start + step*j in the first half, end - step*(n-1-j) in the second), so a
// map from a torch build whose vectorised linspace rounds differently can differ in the last bit.
std::array<float, 256> buildDynamicMap(bool isSigned) {
    std::vector<float> values;
    for (int exponent = 0; exponent < 7; ++exponent) {
        const int points = (isSigned ? (1 << exponent) : (1 << (exponent + 1))) + 1;
        const float start = 0.1f, end = 1.0f;
        const float step = (end - start) / float(points - 1);
        std::vector<float> boundaries(points);
        for (int j = 0; j < points; ++j)
            boundaries[j] = j < points / 2 ? start + step * float(j) : end - step * float(points - 1 - j);
        const float scale = float(std::pow(10.0, exponent - 6));
        for (int j = 0; j + 1 < points; ++j) {
            const float mean = (boundaries[j] + boundaries[j + 1]) / 2.0f;
            const float value = scale * mean;
            values.push_back(value);
            if (isSigned)
                values.push_back(-value);
        }
    }
    values.push_back(0.0f);
    values.push_back(1.0f);
    std::sort(values.begin(), values.end());
    std::array<float, 256> map{};
    std::copy(values.begin(), values.end(), map.begin());
    return map;
}

std::array<float, 256> buildMidpoints(const std::array<float, 256> &map) {
    std::array<float, 256> midpoints{};
    for (int k = 0; k < 255; ++k)
        midpoints[k] = (map[k] + map[k + 1]) * 0.5f; // dQuantize: (upper + val) * 0.5f
    midpoints[255] = std::numeric_limits<float>::infinity();
    return midpoints;
}

} // namespace

std::vector<float> dynamicMap(bool isSigned) {
    const auto &map = quant::dynamicMapArray(isSigned);
    return {map.begin(), map.end()};
}

namespace quant {

const std::array<float, 15> &nf4Thresholds() {
    static const std::array<float, 15> kThresholds = [] {
        const auto &code = quant4Codebook(Quant4Type::NF4);
        std::array<float, 15> t{};
        for (int k = 0; k < 15; ++k) // exact in double, then rounded once: dQuantizeNF4's constants
            t[k] = float((double(code[k]) + double(code[k + 1])) / 2);
        return t;
    }();
    return kThresholds;
}

const std::array<float, 7> &fp4Thresholds() {
    // dQuantizeFP4's pivots ("divided by 12"), as written there.
    static const std::array<float, 7> kThresholds = {0.00260417f, 0.0859375f, 0.20833333f, 0.29166667f,
                                                     0.4166667f,  0.583333f,  0.8333333f};
    return kThresholds;
}

const std::array<float, 256> &dynamicMapArray(bool isSigned) {
    static const std::array<float, 256> kSigned = buildDynamicMap(true);
    static const std::array<float, 256> kUnsigned = buildDynamicMap(false);
    return isSigned ? kSigned : kUnsigned;
}

const std::array<float, 256> &dynamicMidpoints(bool isSigned) {
    static const std::array<float, 256> kSigned = buildMidpoints(dynamicMapArray(true));
    static const std::array<float, 256> kUnsigned = buildMidpoints(dynamicMapArray(false));
    return isSigned ? kSigned : kUnsigned;
}

} // namespace quant
} // namespace headroom
