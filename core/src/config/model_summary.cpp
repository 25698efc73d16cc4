#include "headroom/model_summary.h"

#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "config/model_layout.h"
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
    const auto embed = checkpoint.find(s.config.checkpointPrefix + "embed_tokens.weight");
    s.dtype = storageDtypeName(embed.info->dtype);
    bool prequantized = false;
    s.unusedTensors = headroom::unusedTensors(s.config, checkpoint.names());
    const std::set<std::string> unused(s.unusedTensors.begin(), s.unusedTensors.end());
    for (const auto &name : checkpoint.names()) {
        prequantized = prequantized || name.find(".quant_state.") != std::string::npos;
        if ((s.config.tieWordEmbeddings && name == s.config.lmHeadTensor) || unused.count(name))
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
    // The family of the folder's own template ("none" without one), told by its markers without
    // parsing it: a template the interpreter refuses still shows what it is.
    s.chatTemplate = ChatTemplate::familyOf(tokenizer->chatTemplateSource());
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

std::string describeTensorNames(const std::vector<std::string> &names) {
    static const std::regex number("\\.[0-9]+\\.");
    std::map<std::string, int64_t> groups;
    for (const auto &name : names) {
        const auto dot = name.find('.');
        const bool towerLike =
            name.rfind("vision_", 0) == 0 || name.rfind("multi_modal_", 0) == 0 || name.rfind("audio_", 0) == 0;
        ++groups[towerLike && dot != std::string::npos ? name.substr(0, dot + 1) + "*"
                                                       : std::regex_replace(name, number, ".N.")];
    }
    std::string out = std::to_string(names.size()) + (names.size() == 1 ? " tensor: " : " tensors: ");
    bool first = true;
    for (const auto &[group, count] : groups) {
        out += (first ? "" : ", ") + group + (count > 1 ? " (" + std::to_string(count) + ")" : "");
        first = false;
    }
    return out;
}

} // namespace headroom
