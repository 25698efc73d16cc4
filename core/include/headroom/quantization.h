// Blockwise quantization as bitsandbytes does it: the 4-bit NF4/FP4 weights of QLoRA (with the
// optional double quantization of their scales) and the blockwise 8-bit dynamic-map codes that 8-bit
// optimizers keep their states in.
//
// Intended usage: quantize4(weight, Quant4Type::NF4) once per frozen base weight while a model loads
// (tensor by tensor; threaded), then dequantize4Into(q, buffer) whenever a layer needs the weight —
// forward, the input gradient in backward, and again on recompute with checkpointing. On CPU that is a
// table-driven, vectorised, threaded loop that runs near memory bandwidth, and one scratch buffer
// reused across layers keeps a training step free of large allocations. An 8-bit optimizer keeps one
// Blockwise8 per state tensor and refreshes it with quantizeBlockwise8Into() after each update.
//
// The bytes are bitsandbytes' own (functional.quantize_4bit / quantize_blockwise with the CUDA
// kernels of csrc/kernels.cu), so a Quant4Tensor maps one to one onto a pre-quantized transformers
// checkpoint: element 2j in the high nibble, a float32 absmax per block, values scaled by 1/absmax and
// rounded to the nearest code exactly where bitsandbytes' kernels put the decision boundaries.
// Tensors on the CPU use Headroom's kernels; tensors on any other device (CUDA) go through the
// *WithTensorOps functions, which write the same bytes with LibTorch operations and double as the
// reference that device kernels are checked against. Mistakes in use (blocksize, dtype, sizes,
// devices) throw headroom::Error (InvalidInput) naming the offending value.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "headroom/choices.h"

namespace headroom {

// The 16 values a nibble decodes to (index = nibble), as bitsandbytes defines them: NF4 from
// functional.get_4bit_type("nf4"); FP4 = [0, 0.0625, 8, 12, 4, 6, 2, 3, -0, -0.0625, -8, -12, -4,
// -6, -2, -3] / 12 (sign in bit 3).
const std::array<float, 16> &quant4Codebook(Quant4Type type);

// bitsandbytes' create_dynamic_map(signed, max_exponent_bits=7, total_bits=8): 256 strictly
// increasing float32 values in [-1, 1] (signed; it holds 0 and 1 but not -1: its minimum is
// -0.99296875) or [0, 1] (unsigned). The signed map double-quantizes 4-bit scales and holds Adam's
// first moment; the unsigned one the second moment.
std::vector<float> dynamicMap(bool isSigned);

// A 4-bit weight as bitsandbytes stores it (transformers' W, W.absmax, W.nested_absmax,
// W.nested_quant_map and the quant_state JSON). Dequantized element i is
//   code[nibble(i)] * absmax[i / blocksize]                                  (kDequantizeBlockwise)
// and with double quantization the block's absmax is first decoded as
//   nestedMap[absmax[b]] * nestedAbsmax[b / nestedBlocksize] + nestedOffset  (dequantize_4bit)
// each product and sum rounded to float32 in that order.
struct Quant4Tensor {
    Quant4Type type = Quant4Type::NF4;
    std::vector<int64_t> shape; // the original shape, e.g. [out, in]
    int64_t blocksize = 64;
    torch::Tensor packed; // uint8 [(numel+1)/2]: element 2j high nibble, 2j+1 low nibble
    torch::Tensor absmax; // float32 [blocks] when !doubleQuant, else uint8 [blocks]
    bool doubleQuant = false;
    torch::Tensor nestedAbsmax; // float32 [ceil(blocks/nestedBlocksize)]
    float nestedOffset = 0; // mean of absmax subtracted before the nested quantization
    int64_t nestedBlocksize = 256;
    torch::Tensor nestedMap; // float32 [256]; undefined means dynamicMap(true). A loaded
        // checkpoint keeps its W.nested_quant_map here (torch.linspace
        // rounding can make it differ from ours in the last bit).

    int64_t numel() const;
    int64_t blocks() const; // ceil(numel / blocksize)
    int64_t bytes() const; // what it holds in memory: packed + absmax + nested state
    torch::Device device() const { return packed.device(); }
};

// weight: float32, bfloat16 or float16, any shape, at least one element. blocksize: a power of two
// in 32..4096. doubleQuant (bitsandbytes' compress_statistics) quantizes the absmax values with the
// signed dynamic map in blocks of 256 after subtracting their mean. The result lives on the
// weight's device.
Quant4Tensor quantize4(const torch::Tensor &weight, Quant4Type type, int64_t blocksize = 64, bool doubleQuant = true);
// A new tensor of q.shape on q's device; outDtype float32, bfloat16 or float16 (each element is the
// float32 product above rounded to nearest-even).
torch::Tensor dequantize4(const Quant4Tensor &q, torch::ScalarType outDtype);
// The same values into a preallocated contiguous buffer of q.numel() elements (float32, bfloat16 or
// float16, on q's device; its shape is left as it is), e.g. one scratch buffer shared by all layers.
void dequantize4Into(const Quant4Tensor &q, torch::Tensor &out);

// Blockwise 8-bit with a dynamic map (the nested absmax of double quantization, and 8-bit optimizer
// states, blocksize 256): code = the map entry nearest to value / absmax of its block (ties between
// two entries go to the even index, as bitsandbytes' kernel search ends); value = map[code] * absmax.
struct Blockwise8 {
    torch::Tensor codes; // uint8, the shape of the quantized values
    torch::Tensor absmax; // float32 [ceil(numel / blocksize)]
    int64_t blocksize = 256;
    bool isSigned = true; // which dynamicMap()
};
// values: float32, bfloat16 or float16, at least one element. blocksize: a power of two in 64..4096.
Blockwise8 quantizeBlockwise8(const torch::Tensor &values, bool isSigned, int64_t blocksize = 256);
// Requantizes into q's existing codes and absmax (allocated on the first call when undefined), with
// q's blocksize and map: an optimizer step allocates nothing. Throws if q's tensors don't fit values.
void quantizeBlockwise8Into(const torch::Tensor &values, Blockwise8 &q);
torch::Tensor dequantizeBlockwise8(const Blockwise8 &q); // float32, the shape of q.codes

// The same operations as LibTorch tensor operations on the inputs' device, bit for bit the same
// results. What non-CPU tensors use (until device kernels land) and the reference for such kernels.
Quant4Tensor quantize4WithTensorOps(const torch::Tensor &weight, Quant4Type type, int64_t blocksize = 64,
                                    bool doubleQuant = true);
torch::Tensor dequantize4WithTensorOps(const Quant4Tensor &q, torch::ScalarType outDtype);
Blockwise8 quantizeBlockwise8WithTensorOps(const torch::Tensor &values, bool isSigned, int64_t blocksize = 256);
torch::Tensor dequantizeBlockwise8WithTensorOps(const Blockwise8 &q);

} // namespace headroom
