// A training run's output folder, claimed before anything is written into it (docs/contracts.md,
// "Output folders"), so that a run never destroys or mixes with other files:
// - never the model's folder or inside it, never the dataset's folder, never a folder around either
//   of them, never inside a folder that holds a model (config.json + *.safetensors) nor one that
//   holds dataset files: the run's config.json would replace a model's, and moving the folder aside
//   would move the model or the data with it;
// - one run at a time: the FolderLock (io/folder_lock.h), held for the run's life;
// - one run's files: a folder that holds another run's checkpoints, adapter or metrics is refused
//   unless this run resumes it, or training.overwrite_output_dir moves that run aside (renamed to
//   <dir>.old-<time>, never deleted);
// - staging folders left by killed processes are cleared (io/staged_output.h).
// Each run has an id, in OUTPUT_DIR/run.json, in its checkpoints' trainer_state.json and in its
// metrics lines, so that checkpoint rotation and "the newest checkpoint" (--resume, export) only
// ever consider the run that owns the folder.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "headroom/train_config.h"
#include "io/folder_lock.h"

namespace headroom {

struct OutputClaim {
    std::unique_ptr<detail::FolderLock> lock;
    std::string runId; // this run's: the resumed checkpoint's (or folder's), else a new one
    std::string resumeFrom; // when resuming: the checkpoint, the folder's newest when none was named
};

// Checks `config.training.output_dir` against the rules above, creates it and takes its lock.
// `checkpoint` is the one asked for with `resume` ("" for the folder's newest). `notify` hears what
// was done to the folder (a stale lock taken over, leftovers removed, an earlier run moved aside) as
// it is done, so it is said even when the folder is then refused. Throws invalidInput naming the
// folder and why (runtimeFailure when another live run holds the lock).
OutputClaim claimOutputFolder(const TrainConfig &config, bool resume, const std::string &checkpoint,
                              const std::function<void(const std::string &)> &notify);

// The newest complete checkpoint of the run that owns outputDir; throws invalidInput when there is none.
std::string newestCheckpoint(const std::filesystem::path &outputDir);

// Writes OUTPUT_DIR/run.json ({"run_id", "started"}) once the run is accepted.
void writeRunFile(const std::filesystem::path &outputDir, const std::string &runId);

// The run id in OUTPUT_DIR/run.json; "" without one (a run from before run ids, or no run).
std::string folderRunId(const std::filesystem::path &outputDir);

} // namespace headroom
