#include "train/checkpoint_store.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include "headroom/error.h"
#include "headroom/safetensors.h"
#include "io/file_tree.h"
#include "io/staged_output.h"
#include "model/checkpoint_tensors.h"
#include "io/json_text.h"
#include "train/output_folder.h"

namespace headroom {

namespace fs = std::filesystem;

namespace {

const char *const kStateFile = "trainer_state.json";

void writeTensors(const fs::path &path, const std::vector<std::pair<std::string, torch::Tensor>> &tensors) {
    std::vector<torch::Tensor> cpu;
    SafetensorsWriter writer(path.string(), {{"format", "pt"}});
    for (const auto &[name, t] : tensors) {
        cpu.push_back(t.detach().to(torch::kCPU).contiguous());
        const auto dtype = cpu.back().scalar_type() == torch::kUInt8 ? Dtype::U8 : Dtype::F32;
        if (dtype == Dtype::F32)
            cpu.back() = cpu.back().to(torch::kFloat32);
        writer.declare(name, dtype, cpu.back().sizes().vec());
    }
    for (size_t i = 0; i < tensors.size(); ++i)
        writer.writeTensor(tensors[i].first, cpu[i].data_ptr(), uint64_t(cpu[i].numel() * cpu[i].element_size()));
    writer.finish();
}

} // namespace

std::string writeCheckpoint(const std::string &outputDir, int64_t step, const CausalLM &model,
                            const Optimizer &optimizer, const CheckpointContents &contents, const AdapterCard &card) {
    const fs::path final = fs::path(outputDir) / ("checkpoint-" + std::to_string(step));
    // Staged under a hidden name (".checkpoint-N.tmp-<pid>"), which listCheckpoints never takes.
    detail::StagedOutput staged(final, "checkpoint", detail::StagedOutput::Hidden);
    const fs::path &staging = staged.tmp();
    try {
        fs::create_directories(staging);
        saveAdapter(model, (staging / "adapter").string(), card);
        auto tensors = optimizer.stateTensors();
        tensors.insert(tensors.end(), contents.extraTensors.begin(), contents.extraTensors.end());
        writeTensors(staging / "optimizer.safetensors", tensors);
        nlohmann::json state = contents.trainerState;
        state["optimizer"] = optimizer.stateHeader();
        {
            std::ofstream out(staging / kStateFile);
            out << state.dump(2) << "\n";
            out.close();
            if (!out)
                throw runtimeFailure((staging / kStateFile).string() + ": cannot write");
        }
    } catch (const fs::filesystem_error &e) {
        throw runtimeFailure(final.string() + ": cannot write the checkpoint (" + e.code().message() + ")");
    }
    staged.commit();
    return final.string();
}

std::vector<std::pair<int64_t, std::string>> listCheckpoints(const std::string &outputDir) {
    std::vector<std::pair<int64_t, std::string>> out;
    std::error_code ec;
    if (!fs::is_directory(outputDir, ec))
        return out;
    static const std::regex name("checkpoint-([0-9]{1,18})");
    const std::string runId = folderRunId(outputDir);
    for (const auto &entry : fs::directory_iterator(outputDir, ec)) {
        std::smatch match;
        const std::string file = entry.path().filename().string();
        if (entry.is_directory() && std::regex_match(file, match, name) && fs::exists(entry.path() / kStateFile) &&
            (runId.empty() || checkpointRunId(entry.path().string()) == runId))
            out.emplace_back(std::stoll(match[1].str()), entry.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

void rotateCheckpoints(const std::string &outputDir, int64_t limit) {
    if (limit <= 0)
        return;
    auto all = listCheckpoints(outputDir);
    std::error_code ec;
    for (size_t i = 0; i + size_t(limit) < all.size(); ++i)
        detail::removeTree(all[i].second, ec);
}

std::string checkpointRunId(const std::string &dir) {
    try {
        const auto state = detail::readJsonFile((fs::path(dir) / kStateFile).string());
        return state.is_object() && state.contains("run_id") ? state.at("run_id").get<std::string>() : std::string();
    } catch (const std::exception &) {
        return {};
    }
}

LoadedCheckpoint readCheckpoint(const std::string &dir, CausalLM &model) {
    const fs::path statePath = fs::path(dir) / kStateFile;
    if (!fs::exists(statePath))
        throw invalidInput(dir + ": not a complete checkpoint (no " + kStateFile + ")");
    LoadedCheckpoint loaded;
    loaded.trainerState = detail::readJsonFile(statePath.string());
    // Adapter weights straight into the model's (already created) adapters.
    const std::string adapterFile = (fs::path(dir) / "adapter" / "adapter_model.safetensors").string();
    const auto adapter = SafetensorsFile::open(adapterFile);
    torch::NoGradGuard noGrad;
    for (auto &p : model.loraParameters()) {
        const TensorInfo *info = adapter->find(p.name);
        if (!info || info->shape != p.tensor.sizes().vec() || info->dtype != Dtype::F32)
            throw invalidInput(adapterFile + ": tensor '" + p.name +
                               "' is missing or differs from this run's adapters "
                               "(different lora settings?)");
        p.tensor.copy_(
            torch::from_blob(const_cast<std::uint8_t *>(adapter->data(*info)), info->shape, torch::kFloat32));
        requireFiniteAdapter(p.tensor, adapterFile, p.name);
    }
    const auto optimizerFile = SafetensorsFile::open((fs::path(dir) / "optimizer.safetensors").string());
    for (const auto &info : optimizerFile->tensors()) {
        const auto type = toTorchDtype(info.dtype, optimizerFile->path());
        loaded.tensors[info.name] =
            torch::from_blob(const_cast<std::uint8_t *>(optimizerFile->data(info)), info.shape, type).clone();
    }
    return loaded;
}

} // namespace headroom
