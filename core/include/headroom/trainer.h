// A fine-tuning run, start to finish: the recipe behind `headroom-cli train` and the studio's
// Train page.
//
//   ConsoleProgressSink console(stderr, config.training.loggingSteps);
//   TrainingControl control;                        // pause/stop from another thread
//   TrainSummary summary = runTraining(config, console, &control, {});
//
// Phases (in this order, each in its own function): set-up (validate the config, read and tokenize
// the dataset BEFORE any model is loaded, load the model quantized tensor by tensor, add LoRA,
// build the optimizer and schedule), resume from a checkpoint when asked, the step loop, and the
// final adapter. Each optimizer step runs gradient_accumulation_steps micro-batches and normalises
// the loss by the number of target tokens in the whole step, so padding and accumulation do not
// change the gradient. metrics.jsonl and config.json are always written to output_dir, which the
// run claims first (train/output_folder.h: never a model or dataset folder, one run at a time under
// a lock, never mixed with another run's files). A run whose loss, gradients or adapter weights turn
// NaN or infinite throws TrainingDiverged.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "headroom/error.h"
#include "headroom/train_config.h"
#include "headroom/training_events.h"

namespace headroom {

struct ResumeRequest {
    bool resume = false;
    std::string checkpointDir; // empty: the latest complete checkpoint of the run in output_dir
};

// A step ran out of memory and training.on_oom is "stop" (or nothing the run can change fits): the
// last completed step was checkpointed, and `event` says what crossed the budget and what fits.
// A runtime failure (exit 1).
class TrainingOutOfMemory : public Error {
public:
    explicit TrainingOutOfMemory(OutOfMemoryEvent event)
        : Error(ErrorKind::RuntimeFailure, "out of memory " + event.describe()), m_event(std::move(event)) {}
    const OutOfMemoryEvent &event() const { return m_event; }

private:
    OutOfMemoryEvent m_event;
};

// The run diverged (DivergenceEvent): a runtime failure (exit 1) that writes no adapter for the
// diverged state and names the last checkpoint.
class TrainingDiverged : public Error {
public:
    explicit TrainingDiverged(DivergenceEvent event)
        : Error(ErrorKind::RuntimeFailure, "training diverged " + event.describe()), m_event(std::move(event)) {}
    const DivergenceEvent &event() const { return m_event; }

private:
    DivergenceEvent m_event;
};

struct TrainSummary {
    int64_t steps = 0;
    double finalLoss = 0;
    double finalEvalLoss = -1; // < 0 when there was no evaluation
    std::string adapterDir; // empty when stopped before any step completed
    int64_t peakBytes = 0;
    double tokensPerSecond = 0;
    bool stopped = false;
    std::string checkpointDir; // the checkpoint written when stopped
    nlohmann::json toJson() const; // the `train --json` result of docs/contracts.md
};

class DistributedContext;
// With `distributed` (distributed.h), this process is one rank of a data-parallel run.
TrainSummary runTraining(const TrainConfig &config, TrainingObserver &observer, TrainingControl *control,
                         const ResumeRequest &resume, DistributedContext *distributed = nullptr);

class TrainingDataset;
// The same run on rows prepared by the caller instead of config.dataset (benchmarks, find-batch):
// no tokenizer is needed in the model folder.
TrainSummary runTrainingOn(const TrainConfig &config, TrainingDataset data, TrainingObserver &observer,
                           TrainingControl *control);

} // namespace headroom
