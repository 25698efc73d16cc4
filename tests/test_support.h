// Helpers shared by the tests: where the fixtures are, and reading fixture tensors into LibTorch.
#pragma once

#include <QElapsedTimer>
#include <QProcess>
#include <QString>
#include <QtTest/QtTest>

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "headroom/demo.h"
#include "headroom/random_model.h"
#include "headroom/safetensors.h"
#include "headroom/train_config.h"
#include "headroom/training_events.h"

namespace headroom::test {

inline QString dataPath(const QString &relative) { return qEnvironmentVariable("HEADROOM_TEST_DATA") + "/" + relative; }

inline QString binPath(const QString &binary) { return qEnvironmentVariable("HEADROOM_BIN_DIR") + "/" + binary; }

// Reads a running process's stderr until it contains `needle`, the process ends, or `timeoutMs`
// passes; returns what it read (e.g. to act once a training run has logged its first step).
inline QString readStderrUntil(QProcess &process, const QString &needle, int timeoutMs) {
    QString err;
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < timeoutMs && !err.contains(needle) && process.state() != QProcess::NotRunning) {
        process.waitForReadyRead(200);
        err += QString::fromUtf8(process.readAllStandardError());
    }
    return err;
}

// A small, deterministic fp32 LoRA run on the demo: no validation split, no 4-bit, r 4 without
// dropout, no checkpointing, AdamW without warmup, no checkpoints; tests set what they vary.
inline TrainConfig demoTrainConfig(const DemoPaths &demo, const std::string &outputDir) {
    TrainConfig c;
    c.model = demo.modelDir;
    c.dataset.path = demo.dataset;
    c.dataset.validationSplit = 0;
    c.quantization.loadIn4bit = false;
    c.lora.r = 4;
    c.lora.loraDropout = 0;
    auto &t = c.training;
    t.outputDir = outputDir;
    t.gradientCheckpointing = false;
    t.bf16 = false;
    t.optim = OptimizerKind::AdamWTorch;
    t.warmupRatio = 0;
    t.saveStrategy = "no";
    return c;
}

// A small model shaped like each family beyond Llama, with the family's features switched on:
// `config` is its config.json without vocab_size (writeFamilyModel sets it), `features` the lines
// ModelConfig::features() must show for it (so a config key read wrongly cannot switch a feature
// off unnoticed), `peftTargets` some of its modules by PEFT's names.
struct FamilyModel {
    std::string name;
    nlohmann::json config;
    std::vector<std::string> features;
    std::vector<std::string> peftTargets;
};

inline std::vector<FamilyModel> familyModels() {
    using nlohmann::json;
    // What every family below shares: 3 layers of hidden 48 (Phi-3: 64), GQA.
    const json block = {{"hidden_size", 48},        {"intermediate_size", 96},  {"num_hidden_layers", 3},
                        {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"max_position_embeddings", 512},
                        {"initializer_range", 0.1}};
    auto with = [&block](json extra) {
        json c = block;
        c.update(extra);
        return c;
    };
    const std::vector<std::string> separate = {"q_proj", "v_proj", "up_proj"};
    // Gemma3ForConditionalGeneration's text model: layers sliding, full, sliding; Gemma3TextConfig's
    // defaults for the rest (local RoPE base 10000, query_pre_attn_scalar 256, no soft-caps).
    const json gemma3Text =
        with({{"model_type", "gemma3_text"}, {"head_dim", 16}, {"sliding_window", 8}, {"sliding_window_pattern", 2}});
    return {
        {"qwen3",
         with({{"architectures", {"Qwen3ForCausalLM"}},
               {"model_type", "qwen3"},
               {"head_dim", 16},
               {"rope_theta", 1000000.0},
               {"tie_word_embeddings", false},
               {"use_sliding_window", true},
               {"sliding_window", 8},
               {"max_window_layers", 1},
               {"layer_types", {"full_attention", "sliding_attention", "sliding_attention"}}}),
         {"head_dim 16", "q/k RMSNorm", "sliding window 8 on 2 of 3 layers"},
         separate},
        {"gemma2",
         with({{"architectures", {"Gemma2ForCausalLM"}},
               {"model_type", "gemma2"},
               {"head_dim", 16},
               {"query_pre_attn_scalar", 12},
               {"attn_logit_softcapping", 2.0},
               {"final_logit_softcapping", 3.0},
               {"sliding_window", 8}}),
         {"Gemma RMSNorm", "sandwich norms", "embeddings x sqrt", "GeGLU", "query_pre_attn_scalar^-0.5 = 1/sqrt(12)",
          "attention soft-capping 2", "final logit soft-capping 3", "sliding window 8 on 2 of 3 layers"},
         separate},
        {"gemma3",
         with({{"architectures", {"Gemma3ForCausalLM"}},
               {"model_type", "gemma3_text"},
               {"num_key_value_heads", 1},
               {"head_dim", 24},
               {"query_pre_attn_scalar", 32},
               {"layer_types", {"sliding_attention", "sliding_attention", "full_attention"}},
               {"sliding_window", 8},
               {"rope_theta", 1000000.0},
               {"rope_local_base_freq", 10000.0},
               {"rope_scaling", {{"rope_type", "linear"}, {"factor", 8.0}}},
               {"final_logit_softcapping", 3.0}}),
         {"head_dim 24", "q/k RMSNorm", "final logit soft-capping 3", "sliding window 8 on 2 of 3 layers",
          "sliding layers: RoPE base 10000", "RoPE linear scaling x8"},
         separate},
        {"gemma3-conditional",
         {{"architectures", {"Gemma3ForConditionalGeneration"}},
          {"model_type", "gemma3"},
          {"initializer_range", 0.1},
          {"text_config", gemma3Text},
          {"vision_config",
           {{"model_type", "siglip_vision_model"},
            {"hidden_size", 16},
            {"image_size", 8},
            {"patch_size", 4},
            {"num_hidden_layers", 1},
            {"num_attention_heads", 2},
            {"intermediate_size", 32}}}},
         {"q/k RMSNorm", "sliding window 8 on 2 of 3 layers", "sliding layers: RoPE base 10000",
          "text model only (not loaded: vision_tower.*, multi_modal_projector.*)"},
         separate},
        {"smollm3",
         with({{"architectures", {"SmolLM3ForCausalLM"}},
               {"model_type", "smollm3"},
               {"rope_theta", 2000000.0},
               {"no_rope_layers", {1, 0, 1}}}),
         {"no RoPE in 1 of 3 layers", "tied embeddings and lm_head"},
         separate},
        {"phi3",
         with({{"architectures", {"Phi3ForCausalLM"}},
               {"model_type", "phi3"},
               {"hidden_size", 64},
               {"partial_rotary_factor", 0.75},
               {"original_max_position_embeddings", 16},
               {"rope_scaling",
                {{"type", "longrope"},
                 {"short_factor", {1.0, 1.05, 1.1, 1.2, 1.35, 1.5}},
                 {"long_factor", {1.0, 1.4, 2.2, 3.6, 5.5, 8.0}}}},
               {"sliding_window", 16},
               {"tie_word_embeddings", false}}),
         {"fused qkv_proj and gate_up_proj", "partial RoPE (12 of 16 dims)", "RoPE longrope (long factors past 16",
          "sliding window 16 on 3 of 3 layers"},
         {"qkv_proj", "gate_up_proj"}},
    };
}

// Writes `family` with random weights into `dir`, with the demo's tokenizer (its vocabulary sets
// vocab_size): the demo data, tokenized for this folder, trains it. The embedding is drawn with
// the demo's std 0.25, so a frozen tied lm_head leaves LoRA room to lower the loss.
inline void writeFamilyModel(const FamilyModel &family, const DemoPaths &demo, const std::string &dir) {
    namespace fs = std::filesystem;
    std::ifstream in(demo.modelDir + "/config.json");
    const int64_t vocab = nlohmann::json::parse(in).at("vocab_size").get<int64_t>();
    auto config = family.config;
    (config.contains("text_config") ? config["text_config"] : config)["vocab_size"] = vocab;
    RandomModelOptions options;
    options.embeddingStd = 0.25;
    writeRandomModel(config, dir, options);
    for (const char *file : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"})
        fs::copy_file(fs::path(demo.modelDir) / file, fs::path(dir) / file, fs::copy_options::overwrite_existing);
}

// Copies tensor `name` out of a safetensors file (test fixtures are small).
inline torch::Tensor readTensor(const SafetensorsFile &file, const std::string &name) {
    const TensorInfo *info = file.find(name);
    if (!info)
        throw std::runtime_error(file.path() + ": no tensor " + name);
    torch::ScalarType type = torch::kFloat32;
    switch (info->dtype) {
    case Dtype::F32: type = torch::kFloat32; break;
    case Dtype::I64: type = torch::kInt64; break;
    case Dtype::I32: type = torch::kInt32; break;
    case Dtype::BF16: type = torch::kBFloat16; break;
    default: throw std::runtime_error("unsupported fixture dtype for " + name);
    }
    return torch::from_blob(const_cast<std::uint8_t *>(file.data(*info)), info->shape, type).clone();
}

// Keeps what a training run reported, for the assertions.
class RecordingObserver : public TrainingObserver {
public:
    std::vector<StepEvent> steps;
    std::vector<int64_t> checkpoints;
    std::vector<OutOfMemoryEvent> outOfMemory;
    void onStep(const StepEvent &e) override { steps.push_back(e); }
    void onCheckpoint(int64_t step, const std::string &) override { checkpoints.push_back(step); }
    void onOutOfMemory(const OutOfMemoryEvent &e) override { outOfMemory.push_back(e); }
};

} // namespace headroom::test
