// What the quantization files share: the decision thresholds that turn a scaled value into a code,
// argument checks, and the CPU kernels behind the public functions of headroom/quantization.h.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "headroom/quantization.h"

namespace headroom::quant {

constexpr int64_t kNestedBlocksize = 256; // bitsandbytes quantize_4bit: quantize_blockwise(..., blocksize=256)

// NF4: the code of a scaled value x is the number of these 15 thresholds that x exceeds
// (x > t; a tie stays with the lower code; NaN exceeds none). They are the float32 roundings of the
// midpoints between neighbouring codes, i.e. the constants of dQuantizeNF4 in csrc/kernels.cu.
const std::array<float, 15> &nf4Thresholds();
// FP4 works on sign and magnitude (dQuantizeFP4): sign bit 8 when x < 0, then the number m of these
// 7 thresholds that |x| exceeds picks the magnitude code fp4MagnitudeCode(m). The thresholds are the
// kernel's decimal literals, three of which are not the float32 midpoints of the code book:
// 0.00260417 (+14 ulp), 0.4166667 (+1 ulp) and 0.583333 (-5 ulp).
const std::array<float, 7> &fp4Thresholds();
// Magnitude rank m (0 = 0, 1 = 0.0625/12, ..., 7 = 12/12) to its 3-bit code
// {0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010, 0b011}: bit 2 flips where bit 1 is set.
inline int fp4MagnitudeCode(int m) { return m ^ ((m & 2) << 1); }

// The 8-bit rule: midpoints[k] = (map[k] + map[k+1]) * 0.5f in float32 for k < 255, and +inf at 255.
// The code is the number of midpoints below x, moved up by one when x equals an odd midpoint exactly
// (bitsandbytes' dQuantize search always ends on an even index and keeps it on a tie); NaN gives 0.
const std::array<float, 256> &dynamicMidpoints(bool isSigned);
const std::array<float, 256> &dynamicMapArray(bool isSigned);

// The rules as function objects with their tables held by value, for the kernels' inner loops.
struct Nf4Quantizer {
    std::array<float, 15> thresholds = nf4Thresholds();
    int operator()(float x) const {
        int code = 0;
        for (int k = 0; k < 15; ++k)
            code += x > thresholds[k];
        return code;
    }
};

struct Fp4Quantizer {
    std::array<float, 7> thresholds = fp4Thresholds();
    int operator()(float x) const {
        const float magnitude = std::fabs(x);
        int m = 0;
        for (int k = 0; k < 7; ++k)
            m += magnitude > thresholds[k];
        return fp4MagnitudeCode(m) | (x < 0 ? 8 : 0);
    }
};

struct DynamicQuantizer {
    const float *midpoints; // dynamicMidpoints(): 256 entries
    int operator()(float x) const {
        // Branchless search: the number of midpoints (255 real, then +inf) below x.
        int r = 0;
        for (int step = 128; step > 0; step >>= 1)
            r += (midpoints[r + step - 1] < x) ? step : 0;
        return r + ((r & 1) && midpoints[r] == x);
    }
};

// The scales of q's blocks as raw pointers on q's device, for the CPU kernel and the CUDA kernels'
// view (cuda/cuda_kernels.cpp): absmax, or with double quantization the uint8 codes, the nested
// absmax, the nested map, the offset and the nested blocksize. operator() decodes block b on the CPU:
// absmax[b], or map[codes[b]] * nested[b / nestedBlocksize] + offset in two float32 roundings (map *
// nested, then + offset), as bitsandbytes' dequantize_blockwise and `absmax += offset`.
struct BlockScales {
    const float *absmax = nullptr;
    const uint8_t *codes = nullptr;
    const float *nested = nullptr;
    const float *map = nullptr;
    float offset = 0;
    int64_t nestedBlocksize = 0;

    float operator()(int64_t b) const {
        if (absmax)
            return absmax[b];
        const float decoded = map[codes[b]] * nested[b / nestedBlocksize];
        return decoded + offset;
    }
};
// `nestedMap` keeps the map the scales point into alive (nestedMapOf(q, device)).
BlockScales blockScalesOf(const Quant4Tensor &q, torch::Device device, torch::Tensor &nestedMap);

// Argument checks shared by the CPU and tensor-op paths; they throw invalidInput.
void checkBlocksize4(int64_t blocksize, const char *what);
void checkBlocksize8(int64_t blocksize, const char *what);
void checkFloatInput(const torch::Tensor &t, const char *what);
void checkQuant4Tensor(const Quant4Tensor &q, const char *what);
void checkOutputDtype(torch::ScalarType type, const char *what);
void checkOutputBuffer(const Quant4Tensor &q, const torch::Tensor &out, const char *what);
// dynamicMapArray(isSigned) as a float32 tensor on `device`, made once per device and kept.
const torch::Tensor &dynamicMapTensor(bool isSigned, torch::Device device);
torch::Tensor nestedMapOf(const Quant4Tensor &q, torch::Device device); // q.nestedMap or dynamicMap(true)
int64_t ceilDiv(int64_t a, int64_t b);

// CPU kernels. input: contiguous float32/bfloat16/float16; the outputs are preallocated.
void quantize4Cpu(const torch::Tensor &input, Quant4Type type, int64_t blocksize, uint8_t *packed, float *absmax);
void dequantize4Cpu(const Quant4Tensor &q, torch::Tensor &out); // out: contiguous, checked
// The tensor-operation dequantization (quant4.cpp) into `out` (contiguous, checked), in chunks.
void dequantize4WithTensorOpsInto(const Quant4Tensor &q, torch::Tensor &out);
void quantize8Cpu(const torch::Tensor &input, bool isSigned, int64_t blocksize, uint8_t *codes, float *absmax);
void dequantize8Cpu(const Blockwise8 &q, float *out);

} // namespace headroom::quant
