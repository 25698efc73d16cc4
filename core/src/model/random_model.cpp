#include "headroom/random_model.h"

#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "config/model_layout.h"
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

// transformers' _init_weights: normal(0, initializer_range) for linears and the head, zero biases,
// norm weights 1 (Gemma's (1 + w) norms: 0, so they start as the identity too).
std::vector<TensorSpec> tensorSpecs(const ModelConfig &c) {
    using I = TensorSpec::Init;
    using R = LayoutTensor::Role;
    std::vector<TensorSpec> specs;
    for (auto &t : checkpointTensors(c)) {
        const I init = t.role == R::Embedding ? I::Embedding
                       : t.role == R::Norm    ? (c.gemmaNorm ? I::Zeros : I::Ones)
                       : t.role == R::Bias    ? I::Zeros
                                              : I::Normal;
        specs.push_back({std::move(t.name), std::move(t.shape), init});
    }
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
