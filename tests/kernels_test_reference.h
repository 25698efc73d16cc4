// Plain C++ references for the CUDA kernels (kernels/include/headroom_kernels.h), written from the
// published definitions (bitsandbytes: functional.py and its 8-bit optimizers) rather than from the kernels or core/src/quant:
// the 4-bit code books, bitsandbytes' dynamic maps, blockwise dequantization, a batch-1 product and
// the 8-bit AdamW step. Each operation is rounded to float32 in the documented order, so where the
// kernels promise bit-exact results the comparison can be exact.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace kernels_reference {

const std::array<float, 16> &nf4Codebook();
const std::array<float, 16> &fp4Codebook();
// create_dynamic_map(signed, max_exponent_bits=7, total_bits=8), 256 ascending entries.
std::vector<float> dynamicMap(bool isSigned);

uint16_t bf16Bits(float v); // round to nearest even
uint16_t f16Bits(float v); // round to nearest even
float bf16Value(uint16_t bits);
float f16Value(uint16_t bits);

// A 4-bit tensor in host memory, fields as hr_quant4.
struct Quant4 {
    bool fp4 = false;
    int64_t numel = 0, blocksize = 64;
    std::vector<uint8_t> packed;
    std::vector<float> absmax; // without double quantization
    std::vector<uint8_t> absmaxCodes; // with it
    std::vector<float> nestedAbsmax, nestedMap;
    float nestedOffset = 0;
    int64_t nestedBlocksize = 256;
};

float blockScale(const Quant4 &q, int64_t block);
float dequantizeElement(const Quant4 &q, int64_t i); // float32 value before any output rounding
// y[r] = sum_c W[r, c] * x[c] in double.
std::vector<double> gemv(const Quant4 &q, int64_t rows, int64_t cols, const std::vector<float> &x);

struct AdamW8bitState {
    std::vector<uint8_t> mCodes, vCodes;
    std::vector<float> mAbsmax, vAbsmax;
};
struct AdamWSettings {
    double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.0;
};
// One step on float32 values of the parameter (a 16-bit parameter is passed widened and rounded by
// the caller). Blocks of 256.
void adamw8bitStep(std::vector<float> &param, const std::vector<float> &grad, AdamW8bitState &state,
                   const AdamWSettings &s, int64_t step);

} // namespace kernels_reference
