// A decoder-only causal language model (the families of headroom/model_config.h), computed with LibTorch.
//
// Usage:
//   auto model = CausalLM::load("path/to/hf-model", {torch::kBFloat16, torch::kCPU});
//   torch::Tensor logits = model->forward(inputIds);                 // [B, T, vocab]
//   torch::Tensor loss = causalLmLoss(logits, labels);              // shifted, ignore -100
// forward() follows transformers' formulas for each family: RMSNorm statistics and softmax in
// float32, everything else in the model's compute dtype (the dtype it was loaded as). A KvCache
// turns forward() into incremental decoding for generation.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "headroom/choices.h"

#include "headroom/model_config.h"
#include "headroom/quantization.h"

namespace headroom {

// bitsandbytes-style 4-bit storage of the decoder blocks' linear layers (QLoRA). Embeddings, norms
// and lm_head stay in the compute dtype, as transformers does.
struct Quant4Options {
    bool enabled = false;
    Quant4Type type = Quant4Type::NF4;
    int64_t blocksize = 64;
    bool doubleQuant = true;
};

struct ModelLoadOptions {
    torch::ScalarType dtype = torch::kFloat32; // weights are cast to this on load and computed in it
    torch::Device device = torch::kCPU;
    Quant4Options quantization;
    Attention attention = Attention::Sdpa; // attn_implementation (headroom/attention.h)
};

// PEFT's LoraConfig fields that shape the adapters.
struct LoraOptions {
    int64_t r = 16;
    double alpha = 32;
    double dropout = 0.05;
    std::vector<std::string> targetModules = {"q_proj", "k_proj", "v_proj", "o_proj"}; // or {"all-linear"}
    bool useRslora = false;
    double scaling() const; // alpha / r, or alpha / sqrt(r) with rsLoRA
};

struct NamedTensor {
    std::string name; // PEFT's key, e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight
    torch::Tensor tensor;
};

class KvCache;

struct ForwardInputs {
    torch::Tensor inputIds; // [B, T] int64
    torch::Tensor attentionMask; // [B, past + T] 0/1, optional
    torch::Tensor positions; // [B, T] int64, optional (default past..past+T-1; packing restarts them)
    torch::Tensor segmentIds; // [B, T] int64, optional: attention stays within equal ids (packing)
    KvCache *cache = nullptr;
    bool training = false; // dropout on, and gradient checkpointing if enabled
    // attentionMask pads only after each row's tokens (the trainer's batches). Real tokens then see
    // only real keys under a plain causal mask, and padded positions reach no real one, so fused
    // attention may treat the rows as unpadded (the flash kernel takes no padding mask).
    bool paddedOnTheRight = false;

    // Whether a plain causal mask over the tokens gives every non-padded position the result of
    // the full mask: nothing in the KV cache yet, no packing, padding only at the ends of rows.
    bool plainCausal() const;
};

// Keys and values of every layer for incremental decoding; preallocated for maxLength positions.
class KvCache {
public:
    KvCache(const ModelConfig &config, int64_t batch, int64_t maxLength, torch::ScalarType dtype, torch::Device device);
    int64_t length() const { return m_length; }
    int64_t capacity() const { return m_capacity; }
    // Stores this step's keys/values [B, kvHeads, T, headDim] for `layer` and returns all so far.
    std::pair<torch::Tensor, torch::Tensor> append(int64_t layer, const torch::Tensor &keys,
                                                   const torch::Tensor &values);
    void advance(int64_t steps) { m_length += steps; }

private:
    std::vector<torch::Tensor> m_keys, m_values;
    int64_t m_length = 0;
    int64_t m_capacity = 0;
};

class CausalLM {
public:
    static std::unique_ptr<CausalLM> load(const std::string &modelDir, const ModelLoadOptions &options = {});
    ~CausalLM();

    const ModelConfig &config() const;
    torch::ScalarType dtype() const;
    torch::Device device() const;

    // inputIds [B, T] int64. attentionMask [B, past + T] of 0/1 (optional; all ones when undefined).
    // With a cache, positions continue from cache->length() and the cache is advanced by T.
    // Returns logits [B, T, vocab] in the compute dtype (soft-capped where the model says so).
    torch::Tensor forward(const torch::Tensor &inputIds, const torch::Tensor &attentionMask = {},
                          KvCache *cache = nullptr) const;
    // The final-norm hidden states [B, T, hidden]; the loss projects them chunk by chunk.
    torch::Tensor hiddenStates(const ForwardInputs &inputs) const;
    const torch::Tensor &lmHeadWeight() const;
    // Logits from final hidden states: lm_head, then the final soft-capping where the model has one.
    torch::Tensor logitsFromHidden(const torch::Tensor &hidden) const;
    // Checkpoint tensors the model does not use (a multimodal checkpoint's vision tower, stale
    // buffers), by name: inspect lists them and the trainer warns about them.
    const std::vector<std::string> &unusedTensors() const;

    // Adds freshly initialised LoRA adapters (PEFT's init: A kaiming-uniform(a=sqrt(5)), B zero).
    void addLora(const LoraOptions &settings, uint64_t seed);
    const LoraOptions *lora() const;
    // The trainable adapter tensors (float32, requires_grad) under PEFT's key names, in layer order.
    std::vector<NamedTensor> loraParameters() const;
    int64_t trainableParameters() const;
    void setGradientCheckpointing(bool enabled);
    bool gradientCheckpointing() const;
    // Bytes of the frozen base as held in memory (4-bit blocks and scales, or dense tensors).
    int64_t baseWeightBytes() const;

private:
    CausalLM();
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// Mean cross-entropy over the target tokens of `logits` [B, T, V] predicting labels [B, T] shifted by
// one position; label -100 is ignored. Computed in float32.
torch::Tensor causalLmLoss(const torch::Tensor &logits, const torch::Tensor &labels);

// Parses "float32" / "bfloat16" / "float16" (also "fp32", "bf16", "fp16"); throws invalidInput.
torch::ScalarType parseComputeDtype(const std::string &name, const std::string &context);
std::string dtypeName(torch::ScalarType dtype);

} // namespace headroom
