// Linear weights saved already quantized by transformers + bitsandbytes: W (packed uint8 [n/2, 1]),
// W.absmax (float32, or uint8 with double quantization), W.quant_map (the 16-entry code book),
// W.nested_absmax, W.nested_quant_map and W.quant_state.bitsandbytes__nf4|fp4 (the bytes of a JSON
// with quant_type, blocksize, shape, nested_blocksize, nested_offset). Such a checkpoint is loaded
// as it is, without dequantizing.
#pragma once

#include <optional>
#include <string>

#include "headroom/quantization.h"
#include "headroom/safetensors.h"

namespace headroom {

// True when `prefix`.weight is stored 4-bit quantized in `checkpoint`.
bool isPrequantized(const SafetensorsCheckpoint &checkpoint, const std::string &prefix);
// Reads it; checks the stored shape against [out, in]. Throws invalidInput naming file and tensor.
Quant4Tensor readPrequantized(const SafetensorsCheckpoint &checkpoint, const std::string &prefix,
                              const std::vector<int64_t> &expectedShape, torch::Device device);

} // namespace headroom
