// Where a model's tensors live: the linear modules of a block under PEFT's names, their paths in
// the checkpoint and in transformers' module tree, and every tensor the engine reads. The loader,
// the random-model writer, the exports and the estimate all take names and shapes from here.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "headroom/model_config.h"

namespace headroom {

// The block's linear modules as PEFT names them, in the order "all-linear" expands to: q_proj,
// k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj; Phi-3's fused qkv_proj, o_proj,
// gate_up_proj, down_proj.
const std::vector<std::string> &linearModules(const ModelConfig &config);
// Every module name any supported family has (what a training config may list before the model is known).
const std::vector<std::string> &knownLinearModules();
// (in, out) features of a module in a block.
std::pair<int64_t, int64_t> moduleShape(const ModelConfig &config, const std::string &module);
bool moduleHasBias(const ModelConfig &config, const std::string &module);
// layers.<layer>.self_attn.q_proj, layers.<layer>.mlp.gate_proj, ... under the checkpoint's prefix
// (model.layers.0.self_attn.q_proj) or transformers' module path (PEFT's keys drop "base_model.model.").
std::string checkpointModulePath(const ModelConfig &config, int64_t layer, const std::string &module);
std::string peftModulePath(const ModelConfig &config, int64_t layer, const std::string &module);

struct LayoutTensor {
    enum class Role { Embedding, Norm, Weight, Bias, LmHead };
    std::string name;
    std::vector<int64_t> shape;
    Role role;
};
// The norms of block `layer` in the checkpoint: input_layernorm, post_attention_layernorm, the
// Gemma sandwich's pre/post_feedforward_layernorm, and q_norm / k_norm.
std::vector<LayoutTensor> layerNormTensors(const ModelConfig &config, int64_t layer);
// Every tensor the engine reads from a full-precision checkpoint, in model order.
std::vector<LayoutTensor> checkpointTensors(const ModelConfig &config);
// The names in `stored` that the engine does not read (a vision tower, stale rotary buffers).
// A 4-bit checkpoint's companions of a weight (W.absmax, W.quant_state...) count as read.
std::vector<std::string> unusedTensors(const ModelConfig &config, const std::vector<std::string> &stored);

} // namespace headroom
