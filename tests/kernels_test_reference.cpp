#include "kernels_test_reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <cuda_fp16.h>

namespace kernels_reference {

const std::array<float, 16> &nf4Codebook() {
    // bitsandbytes functional.py, get_4bit_type("nf4"): the NF4 code, index = nibble value.
    static const std::array<float, 16> book = {-1.0f,
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
    return book;
}

const std::array<float, 16> &fp4Codebook() {
    static const std::array<float, 16> book = [] {
        const float raw[16] = {0, 0.0625f, 8, 12, 4, 6, 2, 3, -0.0f, -0.0625f, -8, -12, -4, -6, -2, -3};
        std::array<float, 16> b{};
        for (int k = 0; k < 16; ++k)
            b[k] = raw[k] / 12.0f;
        return b;
    }();
    return book;
}

std::vector<float> dynamicMap(bool isSigned) {
    // For exponent i = 0..6: linspace(0.1, 1, k + 1) with k = 2^i (signed) or 2^(i+1) (unsigned),
    // the k midpoints times 10^(i-6), and their negatives when signed; then 0 and 1; sorted.
    std::vector<float> values;
    for (int i = 0; i < 7; ++i) {
        const int k = isSigned ? (1 << i) : (1 << (i + 1));
        std::vector<float> points(k + 1);
        const float step = (1.0f - 0.1f) / float(k);
        for (int j = 0; j <= k; ++j) // torch.linspace: from the start in the first half, from the end after
            points[j] = j < (k + 1) / 2 ? 0.1f + step * float(j) : 1.0f - step * float(k - j);
        const float scale = float(std::pow(10.0, i - 6));
        for (int j = 0; j < k; ++j) {
            const float mid = scale * ((points[j] + points[j + 1]) / 2.0f);
            values.push_back(mid);
            if (isSigned)
                values.push_back(-mid);
        }
    }
    values.push_back(0.0f);
    values.push_back(1.0f);
    std::sort(values.begin(), values.end());
    return values;
}

uint16_t bf16Bits(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    if (std::isnan(v))
        return uint16_t((bits >> 16) | 0x40);
    return uint16_t((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

uint16_t f16Bits(float v) { return static_cast<__half_raw>(__float2half_rn(v)).x; }

float bf16Value(uint16_t bits) {
    const uint32_t wide = uint32_t(bits) << 16;
    float v;
    std::memcpy(&v, &wide, 4);
    return v;
}

float f16Value(uint16_t bits) {
    __half_raw raw;
    raw.x = bits;
    return __half2float(__half(raw));
}

float blockScale(const Quant4 &q, int64_t block) {
    if (q.absmaxCodes.empty())
        return q.absmax[block];
    const float decoded = q.nestedMap[q.absmaxCodes[block]] * q.nestedAbsmax[block / q.nestedBlocksize];
    return decoded + q.nestedOffset;
}

float dequantizeElement(const Quant4 &q, int64_t i) {
    const uint8_t byte = q.packed[i / 2];
    const int nibble = i % 2 == 0 ? byte >> 4 : byte & 0x0F;
    const auto &book = q.fp4 ? fp4Codebook() : nf4Codebook();
    return book[nibble] * blockScale(q, i / q.blocksize);
}

std::vector<double> gemv(const Quant4 &q, int64_t rows, int64_t cols, const std::vector<float> &x) {
    std::vector<double> y(rows, 0.0);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
            y[r] += double(dequantizeElement(q, r * cols + c)) * double(x[c]);
    return y;
}

namespace {

// The code of x: the index of the nearest map entry (the midpoint rule), an exact tie between
// entries k and k + 1 going to the even one of the two; NaN to 0.
uint8_t encode(const std::vector<float> &map, float x) {
    if (std::isnan(x))
        return 0;
    int code = 0;
    for (int k = 0; k < 255; ++k) {
        const float mid = (map[k] + map[k + 1]) * 0.5f;
        if (x > mid || (x == mid && k % 2 == 1))
            code = k + 1;
    }
    return uint8_t(code);
}

} // namespace

void adamw8bitStep(std::vector<float> &param, const std::vector<float> &grad, AdamW8bitState &state,
                   const AdamWSettings &s, int64_t step) {
    static const std::vector<float> signedMap = dynamicMap(true), unsignedMap = dynamicMap(false);
    const float decay = float(1.0 - s.lr * s.weightDecay);
    const float b1 = float(s.beta1), omb1 = float(1.0 - s.beta1), b2 = float(s.beta2), omb2 = float(1.0 - s.beta2);
    const float sqrtBc2 = float(std::sqrt(1.0 - std::pow(s.beta2, double(step))));
    const float eps = float(s.eps);
    const float stepSize = float(-s.lr / (1.0 - std::pow(s.beta1, double(step))));
    const int64_t n = int64_t(param.size());
    for (int64_t block = 0; block * 256 < n; ++block) {
        const int64_t first = block * 256, last = std::min(n, first + 256);
        std::vector<float> m(last - first), v(last - first);
        float mMax = 0, vMax = 0;
        for (int64_t i = first; i < last; ++i) {
            float mi = signedMap[state.mCodes[i]] * state.mAbsmax[block];
            float vi = unsignedMap[state.vCodes[i]] * state.vAbsmax[block];
            if (s.weightDecay != 0.0)
                param[i] = param[i] * decay;
            const float g = grad[i];
            mi = mi * b1 + omb1 * g;
            vi = vi * b2 + (omb2 * g) * g;
            const float denom = std::sqrt(vi) / sqrtBc2 + eps;
            param[i] = param[i] + stepSize * (mi / denom);
            m[i - first] = mi;
            v[i - first] = vi;
            mMax = std::max(mMax, std::fabs(mi));
            vMax = std::max(vMax, std::fabs(vi));
        }
        state.mAbsmax[block] = mMax;
        state.vAbsmax[block] = vMax;
        for (int64_t i = first; i < last; ++i) {
            state.mCodes[i] = encode(signedMap, m[i - first] * (1.0f / mMax));
            state.vCodes[i] = encode(unsignedMap, v[i - first] * (1.0f / vMax));
        }
    }
}

} // namespace kernels_reference
