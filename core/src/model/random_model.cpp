#include "headroom/random_model.h"

#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "headroom/causal_lm.h"
#include "headroom/error.h"
#include "headroom/model_config.h"
#include "headroom/safetensors.h"

namespace headroom {

namespace fs = std::filesystem;

namespace {

struct TensorSpec {
    std::string name;
    std::vector<int64_t> shape;
    enum class Init { Normal, Ones, Zeros, Embedding } init;
};

std::vector<TensorSpec> tensorSpecs(const ModelConfig &c) {
    using I = TensorSpec::Init;
    std::vector<TensorSpec> specs = {{"model.embed_tokens.weight", {c.vocabSize, c.hiddenSize}, I::Embedding}};
    const int64_t qOut = c.numHeads * c.headDim, kvOut = c.numKvHeads * c.headDim;
    for (int64_t i = 0; i < c.numLayers; ++i) {
        const std::string p = "model.layers." + std::to_string(i);
        auto linear = [&](const std::string &name, int64_t in, int64_t out, bool bias) {
            specs.push_back({p + name + ".weight", {out, in}, I::Normal});
            if (bias)
                specs.push_back({p + name + ".bias", {out}, I::Zeros});
        };
        specs.push_back({p + ".input_layernorm.weight", {c.hiddenSize}, I::Ones});
        linear(".self_attn.q_proj", c.hiddenSize, qOut, c.qkvBias);
        linear(".self_attn.k_proj", c.hiddenSize, kvOut, c.qkvBias);
        linear(".self_attn.v_proj", c.hiddenSize, kvOut, c.qkvBias);
        linear(".self_attn.o_proj", qOut, c.hiddenSize, c.oBias);
        specs.push_back({p + ".post_attention_layernorm.weight", {c.hiddenSize}, I::Ones});
        linear(".mlp.gate_proj", c.hiddenSize, c.intermediateSize, c.mlpBias);
        linear(".mlp.up_proj", c.hiddenSize, c.intermediateSize, c.mlpBias);
        linear(".mlp.down_proj", c.intermediateSize, c.hiddenSize, c.mlpBias);
    }
    specs.push_back({"model.norm.weight", {c.hiddenSize}, I::Ones});
    if (!c.tieWordEmbeddings)
        specs.push_back({"lm_head.weight", {c.vocabSize, c.hiddenSize}, I::Normal});
    return specs;
}

} // namespace

void writeRandomModel(const nlohmann::json &configJson, const std::string &dir, const RandomModelOptions &options) {
    const auto config = ModelConfig::fromJson(configJson, "model config");
    const auto dtype = parseComputeDtype(options.dtype, "dtype");
    const Dtype fileDtype = dtype == torch::kFloat32    ? Dtype::F32
                            : dtype == torch::kBFloat16 ? Dtype::BF16
                                                        : Dtype::F16;
    const double std = configJson.value("initializer_range", 0.02);
    const double embeddingStd = options.embeddingStd > 0 ? options.embeddingStd : std;
    fs::create_directories(dir);

    auto json = configJson;
    json["torch_dtype"] = options.dtype;
    {
        std::ofstream out(fs::path(dir) / "config.json");
        out << json.dump(2) << "\n";
        if (!out)
            throw runtimeFailure(dir + "/config.json: cannot write");
    }
    auto generator = at::detail::createCPUGenerator(options.seed);
    SafetensorsWriter writer((fs::path(dir) / "model.safetensors").string(), {{"format", "pt"}});
    const auto specs = tensorSpecs(config);
    for (const auto &s : specs)
        writer.declare(s.name, fileDtype, s.shape);
    for (const auto &s : specs) {
        torch::Tensor t;
        switch (s.init) {
        case TensorSpec::Init::Ones: t = torch::ones(s.shape); break;
        case TensorSpec::Init::Zeros: t = torch::zeros(s.shape); break;
        case TensorSpec::Init::Normal: t = torch::randn(s.shape, generator) * std; break;
        case TensorSpec::Init::Embedding: t = torch::randn(s.shape, generator) * embeddingStd; break;
        }
        t = t.to(dtype).contiguous();
        writer.writeTensor(s.name, t.data_ptr(), uint64_t(t.numel() * t.element_size()));
    }
    writer.finish();
}

} // namespace headroom
