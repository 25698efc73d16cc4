// What a training run reports, and how a front end steers it — plain C++, no Qt.
//
// The trainer calls a TrainingObserver from its own thread at each event; front ends adapt it (the
// studio turns it into Qt signals in one place, the CLI prints a progress bar, the JSONL sink writes
// metrics.jsonl). A TrainingControl is the one token with which another thread pauses, resumes or
// stops the run; the trainer checks it between micro-batches, and a stop writes a checkpoint.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "headroom/memory_breakdown.h"

namespace headroom {

struct RunStartEvent {
    int64_t totalSteps = 0;
    int64_t startStep = 0; // > 0 when resumed
    int64_t trainExamples = 0, validationExamples = 0;
    int64_t effectiveBatch = 0;
    int64_t trainableParameters = 0, totalParameters = 0;
    std::string precision, device, optimizer;
    std::string outputDir;
    std::string runId; // (extension) the run that owns outputDir: kept across resumes
};

struct StepEvent {
    int64_t step = 0, totalSteps = 0;
    double epoch = 0;
    double loss = 0; // mean over all target tokens of the optimizer step
    double learningRate = 0;
    double gradNorm = 0; // before clipping
    int64_t tokens = 0; // non-padding tokens processed in this step
    double tokensPerSecond = 0;
    double lossScale = 1;
    double elapsedSeconds = 0, etaSeconds = 0;
    bool skipped = false; // fp16 step skipped on inf/NaN gradients
    MemoryBreakdown memory;
    // Filled in the step training.memory_timeline_step names (also written to
    // OUTPUT_DIR/memory_timeline.json); empty otherwise.
    std::vector<MemoryTimelinePoint> timeline;
    std::string runId; // (extension) written to metrics.jsonl as "run_id" when set
    nlohmann::json toJson() const; // the metrics.jsonl line of docs/contracts.md
};

// A step ran out of memory (a real OOM, or the simulated budget). With training.on_oom "adapt" the
// change is applied and the step retried; with "stop" the run ends after a checkpoint of the last
// completed step, from which `--resume` with `overrides` continues.
struct OutOfMemoryEvent {
    int64_t step = 0; // the optimizer step that did not fit (1-based)
    std::string category; // the category that crossed the budget: weights, optimizer, activations
    int64_t budgetBytes = 0;
    int64_t fixedBytes = 0; // weights + adapters + gradients + optimizer
    std::string message; // the allocator's
    std::string change; // "micro-batch 4 -> 2 with accumulation 8 -> 16 keeps effective batch 32"
    nlohmann::json overrides = nlohmann::json::object(); // {"training.per_device_train_batch_size": 2, ...}
    bool applied = false; // the run goes on with the change
    bool needsRestart = false; // the change (quantization, shorter rows) needs a fresh run
    std::string describe() const; // "in step 3: activations crossed ...", for people
};

struct EvalEvent {
    int64_t step = 0;
    double evalLoss = 0;
    std::string runId; // (extension) as in StepEvent
    nlohmann::json toJson() const;
};

// The run diverged: its loss or gradients were NaN or infinite for several optimizer steps in a row
// (or at its last step), or its adapter weights became so. The run ends with this as its error
// (exit 1): no adapter/ is written for the diverged state, and the last checkpoint (all of them hold
// finite weights) is named to resume from with a change.
struct DivergenceEvent {
    int64_t step = 0; // the optimizer step the run stopped at (1-based)
    int64_t firstStep = 0; // the first of the non-finite steps in a row that ended it
    std::string what; // "loss", "gradients" or "adapter weights": what was found non-finite
    bool weightsFinite = true; // whether the adapter weights still were
    std::string hint; // the likely cause and the change: learning rate, fp16 overflow
    std::string lastCheckpoint; // the newest checkpoint of the run, "" when none was written
    std::string describe() const; // "at step 7: the loss was NaN or infinite in steps 5-7; ..."
};

struct FinishEvent {
    int64_t steps = 0;
    double finalLoss = 0;
    std::string adapterDir;
    int64_t peakBytes = 0;
    double tokensPerSecond = 0;
    bool stopped = false; // ended by a stop request (a checkpoint was written)
};

class TrainingObserver {
public:
    virtual ~TrainingObserver() = default;
    virtual void onRunStart(const RunStartEvent &) {}
    virtual void onStep(const StepEvent &) {}
    virtual void onEval(const EvalEvent &) {}
    virtual void onCheckpoint(int64_t step, const std::string &path) {}
    virtual void onWarning(const std::string &message) {}
    virtual void onOutOfMemory(const OutOfMemoryEvent &) {}
    virtual void onDiverged(const DivergenceEvent &) {}
    virtual void onFinish(const FinishEvent &) {}
    virtual void onError(const std::string &message) {}
};

// Pause, resume and stop requests from any thread.
class TrainingControl {
public:
    void requestPause();
    void requestResume();
    void requestStop(); // also releases a paused run
    bool stopRequested() const { return m_stop.load(); }
    bool paused() const { return m_paused.load(); }
    // Blocks the trainer while paused; returns false when a stop was requested.
    bool waitWhilePaused();

private:
    std::atomic<bool> m_stop{false}, m_paused{false};
    std::mutex m_mutex;
    std::condition_variable m_wake;
};

} // namespace headroom
