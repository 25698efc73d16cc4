// Timing training steps for one setting (`headroom-cli bench`, the studio's trade-off lab).
//
// Trains `warmupSteps + steps` optimizer steps of the given configuration on random token ids of
// exactly `seqLength` tokens (every token a target), so settings are compared on equal work; the
// model folder needs no tokenizer. Reports the mean over the timed steps and the memory breakdown
// measured in the last one. An out-of-memory error (a real one, or the simulated budget) is
// reported in the row instead of ending a sweep. With a profile path the timed steps are profiled
// (step_profile.h): the profile's JSON goes there, its Chrome trace beside it (PATH.trace.json).
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "headroom/dataset.h"
#include "headroom/memory_breakdown.h"
#include "headroom/step_profile.h"
#include "headroom/train_config.h"

namespace headroom {

struct BenchRow {
    nlohmann::json settings; // what varied, for the table
    double tokensPerSecond = 0;
    double stepSeconds = 0;
    int64_t peakBytes = 0;
    MemoryBreakdown bytes;
    std::string error; // "out of memory: ..." when the setting did not fit
    std::optional<StepProfile> profile;
    nlohmann::json toJson() const;
};

// `count` rows of `length` random token ids in [0, vocab), every token but the first a target.
std::vector<TokenizedExample> randomTokenRows(int64_t count, int64_t length, int64_t vocab, uint64_t seed);

// Throws invalidInput for steps < 1, warmupSteps < 0, or a profile without a warm-up step (loading
// and first-step allocations would fill it). benchTraining checks the same; a sweep checks first.
void checkBenchSteps(int steps, int warmupSteps, bool profile);

// `profilePath` profiles the timed steps (after the warm-up steps).
BenchRow benchTraining(const TrainConfig &config, int64_t seqLength, int steps, int warmupSteps,
                       const nlohmann::json &settings, const std::string &profilePath = {});

} // namespace headroom
