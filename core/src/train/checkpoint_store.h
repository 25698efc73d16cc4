// Training checkpoints: OUTPUT_DIR/checkpoint-STEP/ with the adapter (PEFT layout), the optimizer
// state (optimizer.safetensors), and trainer_state.json (step, data position, scaler, schedule,
// RNG, the config). Each is written into a temporary folder and renamed when complete, so a crash
// or kill at any moment never leaves a half checkpoint that looks whole; only folders named exactly
// checkpoint-<digits> holding trainer_state.json count as checkpoints.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "headroom/adapter_io.h"
#include "train/optimizer.h"

namespace headroom {

struct CheckpointContents {
    nlohmann::json trainerState; // step, data position, scaler, schedule, config
    std::vector<std::pair<std::string, torch::Tensor>> extraTensors; // e.g. RNG state
};

// Writes checkpoint-<step> and returns its path.
std::string writeCheckpoint(const std::string &outputDir, int64_t step, const CausalLM &model,
                            const Optimizer &optimizer, const CheckpointContents &contents, const AdapterCard &card);
// The complete checkpoints in outputDir, oldest first: those of the run that owns the folder (the
// run id of its run.json, train/output_folder.h), or all of them in a folder without run.json
// (written before run ids).
std::vector<std::pair<int64_t, std::string>> listCheckpoints(const std::string &outputDir);
// Keeps the newest `limit` (0 = all) of listCheckpoints: another run's checkpoints are never removed.
void rotateCheckpoints(const std::string &outputDir, int64_t limit);
// The run id in a checkpoint's trainer_state.json; "" when it has none (or cannot be read).
std::string checkpointRunId(const std::string &dir);

struct LoadedCheckpoint {
    nlohmann::json trainerState;
    std::map<std::string, torch::Tensor> tensors; // optimizer state and extras
};
// Loads the adapter weights into `model` (which must already carry adapters of the same shape)
// and returns the rest. Throws invalidInput naming the folder when it is not a complete checkpoint.
LoadedCheckpoint readCheckpoint(const std::string &dir, CausalLM &model);

} // namespace headroom
