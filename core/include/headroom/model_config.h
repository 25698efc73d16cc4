// The architecture of a decoder-only model, read from a Hugging Face config.json.
//
// ModelConfig::fromFile() parses and validates config.json once; everything else (the model, the
// memory estimator, inspect, the studio) reads this struct. Supported: LlamaForCausalLM,
// MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM,
// the text model of Gemma3ForConditionalGeneration, SmolLM3ForCausalLM and Phi3ForCausalLM, and
// checkpoints with one of those blocks (SmolLM/SmolLM2, TinyLlama, Phi-3.5/Phi-4-mini). Anything
// else is refused by name. Fields a config.json leaves out take the defaults of transformers'
// config class for that model_type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace headroom {

struct RopeScaling {
    enum class Type { None, Linear, Llama3, LongRope };
    Type type = Type::None;
    double factor = 1.0;
    double lowFreqFactor = 1.0; // llama3 only
    double highFreqFactor = 4.0; // llama3 only
    int64_t originalMaxPositions = 8192; // llama3 and longrope
    std::vector<double> shortFactor, longFactor; // longrope: one per rotary frequency
    double attentionFactor = 1.0; // longrope: cos and sin are scaled by it
};

// Which keys a layer's queries see: all earlier ones, or the last `sliding_window` of them.
enum class LayerAttention { Full, Sliding };
// The gated MLP's activation: silu (SwiGLU) or gelu with the tanh approximation (Gemma's GeGLU).
enum class Activation { Silu, GeluTanh };

struct ModelConfig {
    std::string architecture; // e.g. "LlamaForCausalLM"
    std::string modelType; // e.g. "llama"; for Gemma3ForConditionalGeneration the text model's "gemma3_text"
    int64_t hiddenSize = 0;
    int64_t intermediateSize = 0;
    int64_t numLayers = 0;
    int64_t numHeads = 0;
    int64_t numKvHeads = 0;
    int64_t headDim = 0;
    int64_t vocabSize = 0;
    int64_t maxPositions = 2048;
    double rmsNormEps = 1e-6;
    double ropeTheta = 10000.0;
    RopeScaling ropeScaling;
    bool tieWordEmbeddings = false;
    bool qkvBias = false; // Qwen2 always; Llama with attention_bias
    bool oBias = false; // Llama with attention_bias
    bool mlpBias = false; // Llama with mlp_bias
    std::optional<int64_t> slidingWindow; // the window of the layers whose type is Sliding
    std::vector<LayerAttention> layerTypes; // one per layer
    std::string torchDtype = "float32"; // the checkpoint's dtype as config.json states it
    std::optional<int64_t> bosTokenId;
    std::vector<int64_t> eosTokenIds;

    // What the newer families add to the Llama block.
    Activation activation = Activation::Silu;
    bool qkNorm = false; // Qwen3, Gemma 3: an RMSNorm over head_dim on each query and key head before RoPE
    bool gemmaNorm = false; // Gemma: RMSNorm scales by (1 + weight), all in float32
    bool scaleEmbeddings = false; // Gemma: embeddings times sqrt(hidden_size) in the weights' dtype
    bool sandwichNorms = false; // Gemma 2/3: norms after attention and MLP too, and before the MLP
    bool fusedProjections = false; // Phi-3: qkv_proj and gate_up_proj instead of q/k/v and gate/up
    std::optional<double> queryPreAttnScalar; // Gemma: attention scale query_pre_attn_scalar^-0.5
    std::optional<double> attnLogitSoftcap; // Gemma 2/3: scores -> cap * tanh(scores / cap)
    std::optional<double> finalLogitSoftcap; // Gemma 2/3: logits -> cap * tanh(logits / cap)
    double partialRotaryFactor = 1.0; // Phi-3: RoPE turns only the first head_dim * factor dims
    std::optional<double> ropeLocalTheta; // Gemma 3: sliding layers use this base, unscaled
    std::vector<bool> ropeLayers; // per layer; false where SmolLM3's no_rope_layers skips RoPE

    // Where the decoder lives: its tensors' prefix in the checkpoint, and its module path in
    // transformers' model (PEFT's adapter keys). Both "model." except inside
    // Gemma3ForConditionalGeneration ("language_model.model." on the hub, "model.language_model."
    // as transformers 4.52+ names the module).
    std::string checkpointPrefix = "model.";
    std::string modulePrefix = "model.";
    std::string lmHeadTensor = "lm_head.weight";
    // Checkpoint tensors the engine does not use, by prefix (a multimodal model's vision tower).
    std::vector<std::string> unusedTensorPrefixes;

    static ModelConfig fromFile(const std::string &configPath);
    // `context` names the source in error messages (a path, or "bundled config NAME").
    static ModelConfig fromJson(const nlohmann::json &json, const std::string &context);

    bool slidingLayer(int64_t layer) const { return slidingWindow && layerTypes.at(layer) == LayerAttention::Sliding; }
    bool usesRope(int64_t layer) const { return ropeLayers.empty() || ropeLayers.at(layer); }
    int64_t rotaryDim() const; // head_dim * partial_rotary_factor
    double attentionScale() const; // 1 / sqrt(query_pre_attn_scalar or head_dim)
    // The family's features beyond the Llama block, in words (inspect, the studio's Model page).
    std::vector<std::string> features() const;

    // Parameter counts from the architecture alone (no weights needed).
    int64_t embeddingParameters() const;
    int64_t layerParameters() const; // one decoder block
    int64_t totalParameters() const; // embeddings + blocks + final norm + lm_head when untied
};

} // namespace headroom
