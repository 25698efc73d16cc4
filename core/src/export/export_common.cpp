#include "export/export_internal.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>

#include "headroom/adapter_io.h"
#include "headroom/error.h"
#include "memory/estimate/lora_count.h"
#include "model/checkpoint_tensors.h"
#include "train/checkpoint_store.h"
#include "io/json_text.h"

namespace headroom {

namespace fs = std::filesystem;

namespace {

bool hasAdapter(const fs::path &dir) { return fs::exists(dir / "adapter_config.json"); }

// A run's config.json is its training config (it has "lora"); a model's config.json is not.
nlohmann::json trainingConfigIn(const fs::path &runDir) {
    if (!fs::exists(runDir / "config.json"))
        return nullptr;
    auto json = detail::readJsonFile((runDir / "config.json").string());
    return json.is_object() && json.contains("lora") ? json : nlohmann::json();
}

bool isCheckpointName(const std::string &name) {
    static const std::regex pattern("checkpoint-[0-9]+");
    return std::regex_match(name, pattern);
}

AdapterSource fromCheckpoint(const fs::path &checkpoint) {
    AdapterSource source;
    source.adapterDir = (checkpoint / "adapter").string();
    source.checkpointDir = checkpoint.string();
    if (isCheckpointName(checkpoint.filename().string()))
        source.runDir = checkpoint.parent_path().string();
    const auto state = detail::readJsonFile((checkpoint / "trainer_state.json").string());
    if (state.is_object() && state.contains("config"))
        source.trainConfig = state.at("config");
    source.chosen = checkpoint.filename().string() + "'s adapter";
    return source;
}

// The optimizer steps in the model card saveAdapter writes (adapter_io.cpp: "... for 150 optimizer
// steps."), or -1 when the folder has no such card.
int64_t cardSteps(const fs::path &adapterDir) {
    std::ifstream in(adapterDir / "README.md");
    if (!in)
        return -1;
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    static const std::regex steps(" for ([0-9]{1,18}) optimizer steps");
    std::smatch match;
    return std::regex_search(text, match, steps) ? std::stoll(match[1]) : -1;
}

fs::file_time_type modified(const fs::path &path) {
    std::error_code ec;
    const auto time = fs::last_write_time(path, ec);
    return ec ? fs::file_time_type::min() : time;
}

// A run folder: its adapter/ (written when the run finished) or its newest complete checkpoint,
// whichever is newer: a finished run that was resumed and then stopped has a newer checkpoint.
AdapterSource fromRun(const fs::path &dir, const std::string &pathText) {
    const auto checkpoints = listCheckpoints(dir.string());
    const bool finished = hasAdapter(dir / "adapter");
    if (!finished && checkpoints.empty())
        throw invalidInput(pathText + ": not an adapter folder (no adapter_config.json), a checkpoint or a run folder "
                                      "(no adapter/ and no complete checkpoint-N/)");
    if (!finished) {
        auto source = fromCheckpoint(checkpoints.back().second);
        source.chosen += ", the run's newest complete checkpoint (the run has no adapter/)";
        return source;
    }
    AdapterSource adapter;
    adapter.adapterDir = (dir / "adapter").string();
    adapter.runDir = dir.string();
    adapter.trainConfig = trainingConfigIn(dir);
    adapter.chosen = "the run's adapter/";
    if (checkpoints.empty())
        return adapter;
    const auto &[step, checkpoint] = checkpoints.back();
    const std::string name = fs::path(checkpoint).filename().string();
    const int64_t adapterSteps = cardSteps(dir / "adapter");
    bool checkpointNewer;
    std::string comparison;
    if (adapterSteps >= 0) {
        checkpointNewer = step > adapterSteps;
        comparison = "step " + std::to_string(adapterSteps) + " against " + name + "'s step " + std::to_string(step);
    } else { // an adapter/ without our model card: compare when the weights were written
        checkpointNewer = modified(fs::path(checkpoint) / "trainer_state.json") >
                          modified(dir / "adapter" / "adapter_model.safetensors");
        comparison = "no step in its README.md; by modification time against " + name;
    }
    if (!checkpointNewer) {
        adapter.chosen += " (" + comparison + ")";
        return adapter;
    }
    auto source = fromCheckpoint(checkpoint);
    source.chosen += ", newer than the run's adapter/ (" + comparison + ")";
    return source;
}

} // namespace

AdapterSource findAdapter(const std::string &pathText) {
    const fs::path path = fs::absolute(pathText).lexically_normal();
    std::error_code ec;
    if (!fs::is_directory(path, ec))
        throw invalidInput(pathText +
                           ": no such folder (give a run folder, a checkpoint-N folder or an adapter folder)");
    const fs::path dir = path.has_filename() ? path : path.parent_path();
    if (hasAdapter(dir)) {
        const fs::path parent = dir.parent_path();
        if (fs::exists(parent / "trainer_state.json") && dir.filename() == "adapter")
            return fromCheckpoint(parent);
        AdapterSource source;
        source.adapterDir = dir.string();
        source.chosen = "the adapter folder given";
        if (dir.filename() == "adapter")
            source.trainConfig = trainingConfigIn(parent);
        if (!source.trainConfig.is_null())
            source.runDir = parent.string();
        return source;
    }
    if (fs::exists(dir / "trainer_state.json") && hasAdapter(dir / "adapter"))
        return fromCheckpoint(dir);
    return fromRun(dir, pathText);
}

namespace exporting {

namespace {

// Absolute, symlinks resolved as far as the path exists, no trailing separator.
fs::path resolved(const fs::path &path) {
    std::error_code ec;
    fs::path out = fs::weakly_canonical(fs::absolute(path), ec);
    if (ec)
        out = fs::absolute(path);
    out = out.lexically_normal();
    return out.has_filename() || out == out.root_path() ? out : out.parent_path();
}

// `inner` is `outer` or lies inside it, comparing whole path components.
bool isWithin(const fs::path &inner, const fs::path &outer) {
    return std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end()).first == outer.end();
}

void refuseInputs(const fs::path &destination, const std::vector<std::string> &inputs) {
    const fs::path out = resolved(destination);
    const std::string where = destination.string() + ": ";
    for (const auto &input : inputs)
        if (out == resolved(input))
            throw invalidInput(where + "is a folder this export reads; write the export somewhere else");
    for (const auto &input : inputs) {
        const fs::path in = resolved(input);
        if (isWithin(out, in))
            throw invalidInput(where + "lies inside " + in.string() +
                               ", which this export reads; write it somewhere else");
        if (isWithin(in, out))
            throw invalidInput(where + "holds " + in.string() + ", which this export reads; write it somewhere else");
    }
}

std::string joined(const std::vector<std::string> &names) {
    std::string out;
    for (const auto &name : names)
        out += (out.empty() ? "" : ", ") + name;
    return out;
}

bool startsWithGgufMagic(const fs::path &file) {
    std::ifstream in(file, std::ios::binary);
    char magic[4] = {};
    return in.read(magic, 4) && std::string(magic, 4) == "GGUF";
}

bool holdsModelWeights(const fs::path &dir) {
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("model", 0) == 0 && entry.path().extension() == ".safetensors")
            return true;
    }
    return false;
}

// What is at `destination` already, when `kind` may not replace it.
void refuseExisting(const fs::path &destination, OutputKind kind) {
    std::error_code ec;
    const auto status = fs::status(destination, ec);
    if (!fs::exists(status))
        return;
    const std::string where = destination.string() + ": ";
    const bool isFolder = fs::is_directory(status);
    if (kind == OutputKind::GgufFile || kind == OutputKind::TextFile) {
        if (isFolder)
            throw invalidInput(where + "is a folder; give the path of the file to write, e.g. " +
                               (destination / "adapter.gguf").string());
        if (kind == OutputKind::GgufFile && fs::file_size(destination, ec) > 0 && !startsWithGgufMagic(destination))
            throw invalidInput(where + "exists and is not a GGUF file; not replacing it");
        return;
    }
    if (!isFolder)
        throw invalidInput(where + "exists and is not a folder");
    if (fs::is_empty(destination, ec))
        return;
    if (kind == OutputKind::AdapterFolder && !fs::exists(destination / "adapter_config.json"))
        throw invalidInput(where + "is a folder that is not an earlier adapter export (no adapter_config.json); "
                                   "not replacing it: choose a new folder");
    if (kind == OutputKind::MergedFolder &&
        !(fs::exists(destination / "config.json") && holdsModelWeights(destination)))
        throw invalidInput(where + "is a folder that is not an earlier merged export (no config.json and "
                                   "model*.safetensors); not replacing it: choose a new folder");
}

void syncFile(const fs::path &path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    const bool ok = fd >= 0 && ::fsync(fd) == 0;
    const int error = errno;
    if (fd >= 0)
        ::close(fd);
    if (!ok)
        throw runtimeFailure(path.string() + ": cannot write (" + std::strerror(error) + ")");
}

// The destination, absolute and without a trailing separator, once the checks have passed.
fs::path checkedDestination(const std::string &destination, OutputKind kind, const std::vector<std::string> &inputs) {
    if (destination.empty())
        throw invalidInput("the output path is empty");
    fs::path final = fs::absolute(destination).lexically_normal();
    if (!final.has_filename()) { // "out/", "./"
        if (kind == OutputKind::GgufFile || kind == OutputKind::TextFile)
            throw invalidInput(destination + ": names a folder; give the path of the file to write, e.g. " +
                               (final / "adapter.gguf").string());
        final = final.parent_path();
    }
    refuseInputs(final, inputs);
    refuseExisting(final, kind);
    return final;
}

} // namespace

StagedPath::StagedPath(const std::string &destination, OutputKind kind, const std::vector<std::string> &inputs)
    : StagedOutput(checkedDestination(destination, kind, inputs), "export") {}

std::vector<std::string> inputFolders(const AdapterSource &source, const std::string &baseDir) {
    std::vector<std::string> folders;
    for (const auto &dir : {source.adapterDir, source.checkpointDir, source.runDir, baseDir})
        if (!dir.empty())
            folders.push_back(dir);
    return folders;
}

AdapterFiles openAdapter(const std::string &adapterDir) {
    AdapterFiles adapter;
    adapter.dir = adapterDir;
    adapter.lora = readAdapterConfig(adapterDir);
    const auto config = detail::readJsonFile((fs::path(adapterDir) / "adapter_config.json").string());
    const auto base = config.find("base_model_name_or_path");
    if (base != config.end() && base->is_string())
        adapter.baseModel = base->get<std::string>();
    adapter.weights = SafetensorsFile::open((fs::path(adapterDir) / "adapter_model.safetensors").string());
    return adapter;
}

std::vector<LoraPair> readLoraPairs(const AdapterFiles &adapter, const ModelConfig &config) {
    const auto &file = *adapter.weights;
    // In the block's order (q, k, v, o, gate, up, down; Phi-3: qkv, o, gate_up, down), whatever
    // order target_modules lists them in.
    const auto targets =
        resolveTargetModules(config, adapter.lora.targetModules, adapter.dir + "/adapter_config.json: target_modules");
    std::vector<std::string> modules;
    for (const auto &module : linearModules(config))
        if (std::find(targets.begin(), targets.end(), module) != targets.end())
            modules.push_back(module);
    std::map<std::string, bool> used;
    for (const auto &info : file.tensors())
        used[info.name] = false;
    auto read = [&](const std::string &prefix, const char *which, const std::vector<int64_t> &shape) {
        // PEFT saves without the adapter name; some tools keep ".default": accept both.
        std::string name = prefix + "." + which + ".weight";
        const std::string withDefault = prefix + "." + which + ".default.weight";
        const TensorInfo *info = file.find(name);
        if (info && file.find(withDefault))
            throw invalidInput(file.path() + ": holds both '" + name + "' and '" + withDefault +
                               "'; which one is meant?");
        if (!info)
            info = file.find(name = withDefault);
        if (!info)
            throw invalidInput(file.path() + ": tensor '" + prefix + "." + which +
                               ".weight' missing (adapter_config.json targets it)");
        if (info->shape != shape)
            throw invalidInput(file.path() + ": tensor '" + name + "' has shape " + formatShape(info->shape) +
                               " but the base model needs " + formatShape(shape) +
                               " (adapter made for another base model?)");
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
            pair.baseTensor = checkpointModulePath(config, layer, module) + ".weight";
            pair.peftPrefix = "base_model.model." + peftModulePath(config, layer, module);
            const auto [in, out] = moduleShape(config, module);
            pair.a = read(pair.peftPrefix, "lora_A", {r, in});
            pair.b = read(pair.peftPrefix, "lora_B", {out, r});
            pairs.push_back(std::move(pair));
        }
    for (const auto &[name, seen] : used)
        if (!seen)
            throw invalidInput(file.path() + ": tensor '" + name +
                               "' is not the lora_A/lora_B of a targeted projection (LoRA is supported on " +
                               joined(linearModules(config)) + ")");
    return pairs;
}

std::string resolveBaseDir(const AdapterFiles &adapter, const std::string &baseOverride) {
    const std::string dir = baseOverride.empty() ? adapter.baseModel : baseOverride;
    if (dir.empty())
        throw invalidInput(adapter.dir +
                           "/adapter_config.json: base_model_name_or_path is empty; pass --base MODEL_DIR");
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
        throw runtimeFailure(path.string() + ": cannot write (" + std::strerror(errno) + ")");
    syncFile(path);
}

void copyFile(const fs::path &from, const fs::path &to) {
    std::error_code ec;
    fs::copy_file(from, to, ec);
    if (ec)
        throw runtimeFailure(to.string() + ": cannot write (" + ec.message() + ")");
    syncFile(to);
}

} // namespace exporting
} // namespace headroom
