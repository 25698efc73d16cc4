#include "train/output_folder.h"

#include <algorithm>
#include <ctime>
#include <random>
#include <regex>

#include "headroom/error.h"
#include "io/atomic_file.h"
#include "io/json_text.h"
#include "io/staged_output.h"
#include "train/checkpoint_store.h"

namespace headroom {

namespace fs = std::filesystem;

namespace {

const char *const kRunFile = "run.json";

fs::path canonicalOf(const fs::path &path) {
    std::error_code ec;
    const fs::path absolute = fs::absolute(path).lexically_normal();
    const fs::path canonical = fs::weakly_canonical(absolute, ec);
    const fs::path result = ec ? absolute : canonical;
    return result.has_filename() ? result : result.parent_path(); // "out/" -> "out"
}

// `path` is `folder` or lies below it (both canonical).
bool isWithin(const fs::path &path, const fs::path &folder) {
    const auto [end, _] = std::mismatch(folder.begin(), folder.end(), path.begin(), path.end());
    return end == folder.end();
}

std::string timeText(const char *format) {
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    ::localtime_r(&now, &local);
    char text[40];
    std::strftime(text, sizeof text, format, &local);
    return text;
}

bool hasFileEndingIn(const fs::path &dir, const std::vector<std::string> &endings, const std::string &except = {}) {
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        for (const auto &ending : endings)
            if (name != except && name.size() > ending.size() &&
                name.compare(name.size() - ending.size(), ending.size(), ending) == 0 && entry.is_regular_file(ec))
                return true;
    }
    return false;
}

// A Hugging Face model folder: config.json beside safetensors weights.
bool holdsModel(const fs::path &dir) {
    std::error_code ec;
    return fs::exists(dir / "config.json", ec) && hasFileEndingIn(dir, {".safetensors", ".safetensors.index.json"});
}

// Files a dataset comes in (a run's own metrics.jsonl aside).
bool holdsDataset(const fs::path &dir) {
    return hasFileEndingIn(dir, {".jsonl", ".parquet", ".arrow", ".csv", ".tsv"}, "metrics.jsonl");
}

[[noreturn]] void refuse(const fs::path &out, const std::string &why) {
    throw invalidInput("training.output_dir: " + out.string() + " " + why + "; choose another folder");
}

// The model and the data are never written over, mixed with, or moved aside with a run.
void refuseModelAndDataFolders(const fs::path &out, const TrainConfig &config) {
    const fs::path model = canonicalOf(config.model);
    if (out == model)
        refuse(out, "is the model folder (model): the run's config.json would replace the model's");
    if (isWithin(out, model))
        refuse(out, "is inside the model folder " + model.string() + ": the run's files would mix with the model's");
    if (isWithin(model, out))
        refuse(out, "holds the model folder " + model.string() + ": the run's files would mix with it");
    if (!config.dataset.path.empty()) {
        const fs::path dataset = canonicalOf(config.dataset.path);
        if (out == dataset.parent_path())
            refuse(out, "is the dataset's folder (dataset.path " + config.dataset.path +
                            "): the run's files would mix with the data");
        if (isWithin(dataset, out))
            refuse(out, "holds the dataset " + dataset.string() + ": the run's files would mix with it");
    }
    for (fs::path folder = out;; folder = folder.parent_path()) {
        if (holdsModel(folder))
            refuse(out, (folder == out ? "holds" : "is inside " + folder.string() + ", which holds") +
                            std::string(" a model (config.json and safetensors weights): the run's files would mix "
                                        "with it"));
        if (folder == folder.parent_path())
            break;
    }
    if (holdsDataset(out))
        refuse(out, "holds dataset files (.jsonl, .parquet, .arrow, .csv or .tsv): the run's files would mix with "
                    "them");
}

// A run that completed no step leaves config.json (a training configuration) and run.json only: a
// new run takes its place. Any other config.json is someone's file.
bool isTrainingConfig(const fs::path &file) {
    try {
        const auto json = detail::readJsonFile(file.string());
        return json.is_object() && json.contains("lora") && json.contains("training");
    } catch (const std::exception &) {
        return false;
    }
}

// The names in `dir` that show another run's results, or files a run would write over.
std::vector<std::string> runFilesIn(const fs::path &dir) {
    static const std::regex checkpoint("checkpoint-[0-9]+");
    std::vector<std::string> found;
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        const bool ours = name == "adapter" || name == "memory_timeline.json" || std::regex_match(name, checkpoint) ||
                          (name == "metrics.jsonl" && entry.file_size(ec) > 0) ||
                          (name == "config.json" && !isTrainingConfig(entry.path()));
        if (ours)
            found.push_back(name);
    }
    std::sort(found.begin(), found.end());
    return found;
}

std::string joined(const std::vector<std::string> &names) {
    std::string text;
    for (size_t i = 0; i < names.size() && i < 6; ++i)
        text += (i ? ", " : "") + names[i];
    return names.size() > 6 ? text + ", ..." : text;
}

// Renames `dir` to <dir>.old-<local time> (a number appended when that is taken) and creates it
// again, empty; returns where the earlier run is now.
fs::path moveAside(const fs::path &dir) {
    const std::string stem = dir.string() + ".old-" + timeText("%Y-%m-%dT%H-%M-%S");
    fs::path aside = stem;
    std::error_code ec;
    for (int n = 2; fs::exists(fs::symlink_status(aside, ec)); ++n)
        aside = stem + "-" + std::to_string(n);
    fs::rename(dir, aside, ec);
    if (ec)
        throw runtimeFailure(dir.string() + ": cannot move the earlier run aside to " + aside.string() + " (" +
                             ec.message() + ")");
    fs::create_directories(dir, ec);
    if (ec)
        throw runtimeFailure(dir.string() + ": cannot create the output folder (" + ec.message() +
                             "); the earlier run is in " + aside.string());
    return aside;
}

std::string newRunId() {
    std::random_device random;
    char suffix[8];
    std::snprintf(suffix, sizeof suffix, "%06x", random() & 0xffffffu);
    return timeText("%Y%m%d-%H%M%S-") + suffix;
}

// The checkpoint a resumed run starts from, and the run it belongs to: a folder holding another
// run's files only takes that run's continuation.
void resolveResume(const fs::path &out, const std::string &requested, OutputClaim &claim) {
    claim.resumeFrom = requested.empty() ? newestCheckpoint(out) : requested;
    const std::string folderId = folderRunId(out), checkpointId = checkpointRunId(claim.resumeFrom);
    const bool sameRun = (!folderId.empty() && folderId == checkpointId) ||
                         isWithin(canonicalOf(claim.resumeFrom), out) || runFilesIn(out).empty();
    if (!sameRun)
        throw invalidInput("training.output_dir: " + out.string() + " holds another run's files (" +
                           joined(runFilesIn(out)) + ") than the one checkpoint " + claim.resumeFrom +
                           " belongs to: resume it into its own run's folder or an empty one");
    claim.runId = !checkpointId.empty() ? checkpointId : folderId;
}

} // namespace

OutputClaim claimOutputFolder(const TrainConfig &config, bool resume, const std::string &checkpoint,
                              const std::function<void(const std::string &)> &notify) {
    const fs::path out = canonicalOf(config.training.outputDir);
    refuseModelAndDataFolders(out, config);
    std::error_code ec;
    fs::create_directories(out, ec);
    if (ec || !fs::is_directory(out, ec))
        throw runtimeFailure("training.output_dir: " + out.string() + ": cannot create the folder" +
                             (ec ? " (" + ec.message() + ")" : std::string(" (a file has that name)")));
    OutputClaim claim;
    claim.lock = std::make_unique<detail::FolderLock>(out);
    if (const auto &stale = claim.lock->takenOver())
        notify(out.string() + ": took over the lock of " + stale->describe() + ", which ended without releasing it");
    for (const auto &done : detail::cleanUpAfterDeadProcesses(out))
        notify(out.string() + ": " + done);
    if (resume) {
        resolveResume(out, checkpoint, claim);
    } else if (const auto found = runFilesIn(out); !found.empty()) {
        if (!config.training.overwriteOutputDir)
            throw invalidInput("training.output_dir: " + out.string() + " holds another run's files (" + joined(found) +
                               "): resume it (--resume), move it aside (--overwrite, or "
                               "training.overwrite_output_dir true), or choose another folder");
        const fs::path aside = moveAside(out);
        claim.lock->folderMoved(aside);
        auto earlier = std::move(claim.lock); // released once the new folder's lock is held
        claim.lock = std::make_unique<detail::FolderLock>(out);
        notify(out.string() + ": moved the earlier run aside to " + aside.string() +
               " (training.overwrite_output_dir)");
    }
    if (claim.runId.empty())
        claim.runId = newRunId();
    return claim;
}

std::string newestCheckpoint(const fs::path &outputDir) {
    const auto all = listCheckpoints(outputDir.string());
    if (all.empty())
        throw invalidInput(outputDir.string() + ": no complete checkpoint of this run to resume from");
    return all.back().second;
}

void writeRunFile(const fs::path &outputDir, const std::string &runId) {
    const nlohmann::json run = {{"run_id", runId}, {"started", timeText("%Y-%m-%d %H:%M:%S")}};
    detail::writeFileAtomically((outputDir / kRunFile).string(), run.dump(2) + "\n");
}

std::string folderRunId(const fs::path &outputDir) {
    const fs::path file = outputDir / kRunFile;
    std::error_code ec;
    if (!fs::exists(file, ec))
        return {};
    try {
        return detail::readJsonFile(file.string()).at("run_id").get<std::string>();
    } catch (const std::exception &) {
        return {}; // unreadable: as in a folder from before run ids
    }
}

} // namespace headroom
