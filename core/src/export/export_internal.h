// What the exports share: a staged output path that only appears when complete, the adapter's
// tensors paired per targeted projection and checked against the base model's config, and finding
// the base model.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "headroom/causal_lm.h"
#include "headroom/export.h"
#include "headroom/model_config.h"
#include "headroom/safetensors.h"
#include "io/staged_output.h"

namespace headroom::exporting {

// What a StagedPath writes: decides which existing destination it may replace.
enum class OutputKind {
    AdapterFolder, // replaces an empty folder or an earlier adapter export (adapter_config.json)
    MergedFolder, // replaces an empty folder or an earlier merged export (config.json + model*.safetensors)
    GgufFile, // replaces an empty file or a GGUF file
    TextFile, // replaces a file
};

// An export's output, staged by detail::StagedOutput (written at "<final>.tmp-<pid>", a file or a
// folder, moved onto `final` by commit(), removed on destruction unless committed). The constructor
// first refuses (invalidInput naming the destination) a destination that is, holds or lies inside
// one of `inputs` (the folders the export reads), a file destination that is or names a folder, and
// an existing one `kind` may not replace.
class StagedPath : public detail::StagedOutput {
public:
    StagedPath(const std::string &destination, OutputKind kind, const std::vector<std::string> &inputs);
};

// The folders an export of `source` reads (adapter, checkpoint, run, and the base when given).
std::vector<std::string> inputFolders(const AdapterSource &source, const std::string &baseDir = {});

// adapter_config.json (parsed by readAdapterConfig) and the opened adapter_model.safetensors.
struct AdapterFiles {
    std::string dir;
    LoraOptions lora;
    std::string baseModel; // base_model_name_or_path, may be empty
    std::shared_ptr<SafetensorsFile> weights;
};
AdapterFiles openAdapter(const std::string &adapterDir);

// One adapted projection of a block (config/model_layout.h names both paths).
struct LoraPair {
    int64_t layer = 0;
    std::string module; // linearModules(config): q_proj ... down_proj, Phi-3's qkv_proj, gate_up_proj
    std::string baseTensor; // the adapted weight in the checkpoint, e.g. model.layers.0.self_attn.q_proj.weight
    std::string peftPrefix; // base_model.model.<transformers' module path>, e.g. ...model.language_model.layers.0...
    torch::Tensor a; // float32 [r, in]
    torch::Tensor b; // float32 [out, r]
};

// Every layer x targeted module, in layer order, with shapes checked against `config`. Throws
// invalidInput naming the file and tensor for a missing, extra or mis-shaped tensor.
std::vector<LoraPair> readLoraPairs(const AdapterFiles &adapter, const ModelConfig &config);

// --base, else base_model_name_or_path when it is a local folder with config.json.
std::string resolveBaseDir(const AdapterFiles &adapter, const std::string &baseOverride);

// Written (or copied) and fsynced, so that the rename that publishes the export publishes the data.
void writeTextFile(const std::filesystem::path &path, const std::string &text);
void copyFile(const std::filesystem::path &from, const std::filesystem::path &to);

} // namespace headroom::exporting
