#include "headroom/model_summary.h"

#include <filesystem>

#include "headroom/chat_template.h"
#include "headroom/error.h"
#include "headroom/safetensors.h"
#include "headroom/tokenizer.h"

namespace headroom {

namespace fs = std::filesystem;

namespace {
std::string storageDtypeName(Dtype dtype) {
    switch (dtype) {
    case Dtype::F32: return "float32";
    case Dtype::BF16: return "bfloat16";
    case Dtype::F16: return "float16";
    default: return dtypeName(dtype);
    }
}
} // namespace

ModelSummary ModelSummary::inspect(const std::string &modelDir) {
    if (!fs::is_directory(modelDir))
        throw invalidInput(modelDir + ": not a folder (expected an HF model folder with config.json)");
    ModelSummary s;
    s.config = ModelConfig::fromFile((fs::path(modelDir) / "config.json").string());
    const auto checkpoint = SafetensorsCheckpoint::openDir(modelDir);
    s.checkpointBytes = checkpoint.totalBytes();
    const auto embed = checkpoint.find("model.embed_tokens.weight");
    s.dtype = storageDtypeName(embed.info->dtype);
    bool prequantized = false;
    for (const auto &name : checkpoint.names()) {
        prequantized = prequantized || name.find(".quant_state.") != std::string::npos;
        if (s.config.tieWordEmbeddings && name == "lm_head.weight")
            continue;
        s.parameters += checkpoint.find(name).info->numel();
    }
    // A bitsandbytes 4-bit checkpoint stores two parameters per byte plus scales: count from the config.
    if (prequantized) {
        s.parameters = s.config.totalParameters();
        s.dtype = "nf4/fp4 (bitsandbytes) + " + s.dtype;
    }
    const auto tokenizer = Tokenizer::load(modelDir);
    s.tokenizer = tokenizer->kind();
    s.chatTemplate =
        tokenizer->chatTemplateSource().empty() ? "none" : ChatTemplate::detect(tokenizer->chatTemplateSource()).name();
    return s;
}

nlohmann::json ModelSummary::toJson() const {
    return {{"architecture", config.architecture},
            {"model_type", config.modelType},
            {"parameters", parameters},
            {"layers", config.numLayers},
            {"hidden_size", config.hiddenSize},
            {"heads", config.numHeads},
            {"kv_heads", config.numKvHeads},
            {"head_dim", config.headDim},
            {"intermediate_size", config.intermediateSize},
            {"vocab_size", config.vocabSize},
            {"dtype", dtype},
            {"tokenizer", tokenizer},
            {"chat_template", chatTemplate}};
}

} // namespace headroom
