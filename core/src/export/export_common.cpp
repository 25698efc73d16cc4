#include "export/export_internal.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "headroom/adapter_io.h"
#include "headroom/error.h"
#include "headroom/lora_count.h"
#include "model/checkpoint_tensors.h"
#include "train/checkpoint_store.h"

namespace headroom {

namespace fs = std::filesystem;

namespace {

nlohmann::json readJsonFile(const fs::path &path) {
    std::ifstream in(path);
    if (!in)
        throw invalidInput(path.string() + ": cannot read");
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error &e) {
        throw invalidInput(path.string() + ": not valid JSON (" + std::string(e.what()) + ")");
    }
}

bool hasAdapter(const fs::path &dir) { return fs::exists(dir / "adapter_config.json"); }

// A run's config.json is its training config (it has "lora"); a model's config.json is not.
nlohmann::json trainingConfigIn(const fs::path &runDir) {
    if (!fs::exists(runDir / "config.json"))
        return nullptr;
    auto json = readJsonFile(runDir / "config.json");
    return json.is_object() && json.contains("lora") ? json : nlohmann::json();
}

AdapterSource fromCheckpoint(const fs::path &checkpoint) {
    AdapterSource source;
    source.adapterDir = (checkpoint / "adapter").string();
    source.checkpointDir = checkpoint.string();
    const auto state = readJsonFile(checkpoint / "trainer_state.json");
    if (state.is_object() && state.contains("config"))
        source.trainConfig = state.at("config");
    return source;
}

} // namespace

AdapterSource findAdapter(const std::string &pathText) {
    const fs::path path = fs::absolute(pathText).lexically_normal();
    std::error_code ec;
    if (!fs::is_directory(path, ec))
        throw invalidInput(pathText + ": no such folder (give a run folder, a checkpoint-N folder or an adapter folder)");
    const fs::path dir = path.has_filename() ? path : path.parent_path();
    if (hasAdapter(dir)) {
        const fs::path parent = dir.parent_path();
        if (fs::exists(parent / "trainer_state.json") && dir.filename() == "adapter")
            return fromCheckpoint(parent);
        AdapterSource source;
        source.adapterDir = dir.string();
        if (dir.filename() == "adapter")
            source.trainConfig = trainingConfigIn(parent);
        return source;
    }
    if (fs::exists(dir / "trainer_state.json") && hasAdapter(dir / "adapter"))
        return fromCheckpoint(dir);
    if (hasAdapter(dir / "adapter")) {
        AdapterSource source;
        source.adapterDir = (dir / "adapter").string();
        source.trainConfig = trainingConfigIn(dir);
        return source;
    }
    const auto checkpoints = listCheckpoints(dir.string());
    if (!checkpoints.empty())
        return fromCheckpoint(checkpoints.back().second);
    throw invalidInput(pathText + ": not an adapter folder (no adapter_config.json), a checkpoint or a run folder "
                       "(no adapter/ and no complete checkpoint-N/)");
}

namespace exporting {

StagedPath::StagedPath(fs::path finalPath)
    : m_final(fs::absolute(std::move(finalPath)).lexically_normal()) {
    if (!m_final.has_filename())
        m_final = m_final.parent_path();
    m_tmp = m_final.string() + ".tmp-" + std::to_string(::getpid());
    std::error_code ec;
    fs::remove_all(m_tmp, ec);
}

StagedPath::~StagedPath() {
    if (!m_committed) {
        std::error_code ec;
        fs::remove_all(m_tmp, ec);
    }
}

void StagedPath::createFolder() const {
    std::error_code ec;
    fs::create_directories(m_tmp, ec);
    if (ec)
        throw runtimeFailure(m_final.string() + ": cannot create the output folder (" + ec.message() + ")");
}

void StagedPath::commit() {
    std::error_code ec;
    if (fs::is_directory(m_final, ec))
        fs::remove_all(m_final, ec);
    fs::rename(m_tmp, m_final, ec);
    if (ec)
        throw runtimeFailure(m_final.string() + ": cannot move the finished export into place (" + ec.message() + ")");
    m_committed = true;
}

AdapterFiles openAdapter(const std::string &adapterDir) {
    AdapterFiles adapter;
    adapter.dir = adapterDir;
    adapter.lora = readAdapterConfig(adapterDir);
    const auto config = readJsonFile(fs::path(adapterDir) / "adapter_config.json");
    const auto base = config.find("base_model_name_or_path");
    if (base != config.end() && base->is_string())
        adapter.baseModel = base->get<std::string>();
    adapter.weights = SafetensorsFile::open((fs::path(adapterDir) / "adapter_model.safetensors").string());
    return adapter;
}

std::string projectionWeightName(int64_t layer, const std::string &module) {
    const bool attention = module == "q_proj" || module == "k_proj" || module == "v_proj" || module == "o_proj";
    return "model.layers." + std::to_string(layer) + (attention ? ".self_attn." : ".mlp.") + module + ".weight";
}

std::vector<LoraPair> readLoraPairs(const AdapterFiles &adapter, const ModelConfig &config) {
    const auto &file = *adapter.weights;
    // In the block's order (q, k, v, o, gate, up, down), whatever order target_modules lists them in.
    const auto targets = resolveTargetModules(adapter.lora.targetModules, adapter.dir + "/adapter_config.json: target_modules");
    std::vector<std::string> modules;
    for (const auto &module : allLinearModules())
        if (std::find(targets.begin(), targets.end(), module) != targets.end())
            modules.push_back(module);
    std::map<std::string, bool> used;
    for (const auto &info : file.tensors())
        used[info.name] = false;
    auto read = [&](const std::string &prefix, const char *which, const std::vector<int64_t> &shape) {
        // PEFT saves without the adapter name; some tools keep ".default": accept both.
        std::string name = prefix + "." + which + ".weight";
        const TensorInfo *info = file.find(name);
        if (!info)
            info = file.find(name = prefix + "." + which + ".default.weight");
        if (!info)
            throw invalidInput(file.path() + ": tensor '" + prefix + "." + which +
                               ".weight' missing (adapter_config.json targets it)");
        if (info->shape != shape)
            throw invalidInput(file.path() + ": tensor '" + name + "' has shape " + formatShape(info->shape) +
                               " but the base model needs " + formatShape(shape) + " (adapter made for another base model?)");
        used[name] = true;
        const auto type = toTorchDtype(info->dtype, file.path() + ": tensor '" + name + "'");
        if (!c10::isFloatingType(type))
            throw invalidInput(file.path() + ": tensor '" + name + "' has dtype " + dtypeName(info->dtype) +
                               "; adapter weights must be F32, F16 or BF16");
        return torch::from_blob(const_cast<std::uint8_t *>(file.data(*info)), info->shape, type).to(torch::kFloat32);
    };
    std::vector<LoraPair> pairs;
    const int64_t r = adapter.lora.r;
    for (int64_t layer = 0; layer < config.numLayers; ++layer)
        for (const auto &module : modules) {
            LoraPair pair;
            pair.layer = layer;
            pair.module = module;
            pair.baseTensor = projectionWeightName(layer, module);
            pair.peftPrefix = "base_model.model." + pair.baseTensor.substr(0, pair.baseTensor.size() - 7);
            const auto [in, out] = moduleShape(config, module);
            pair.a = read(pair.peftPrefix, "lora_A", {r, in});
            pair.b = read(pair.peftPrefix, "lora_B", {out, r});
            pairs.push_back(std::move(pair));
        }
    for (const auto &[name, seen] : used)
        if (!seen)
            throw invalidInput(file.path() + ": tensor '" + name + "' is not the lora_A/lora_B of a targeted projection "
                               "(only LoRA on q/k/v/o/gate/up/down_proj is supported)");
    return pairs;
}

std::string resolveBaseDir(const AdapterFiles &adapter, const std::string &baseOverride) {
    const std::string dir = baseOverride.empty() ? adapter.baseModel : baseOverride;
    if (dir.empty())
        throw invalidInput(adapter.dir + "/adapter_config.json: base_model_name_or_path is empty; pass --base MODEL_DIR");
    if (!fs::exists(fs::path(dir) / "config.json"))
        throw invalidInput("base model '" + dir + "' not found (no config.json there)" +
                           (baseOverride.empty() ? "; pass --base MODEL_DIR with the downloaded base model" : ""));
    return dir;
}

void writeTextFile(const fs::path &path, const std::string &text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    out.close();
    if (!out)
        throw runtimeFailure(path.string() + ": cannot write");
}

uint64_t bytesUnder(const fs::path &path) {
    if (!fs::is_directory(path))
        return fs::file_size(path);
    uint64_t total = 0;
    for (const auto &entry : fs::recursive_directory_iterator(path))
        if (entry.is_regular_file())
            total += entry.file_size();
    return total;
}

} // namespace exporting
} // namespace headroom
