#include "headroom/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "headroom/adapter_io.h"
#include "headroom/causal_lm.h"
#include "headroom/model_summary.h"
#include "train/chunked_loss.h"
#include "headroom/dataset.h"
#include "headroom/distributed.h"
#include "headroom/error.h"
#include "headroom/gpu_presets.h"
#include "train/grad_norm.h"
#include "train/lr_schedule.h"
#include "headroom/memory.h"
#include "headroom/memory_estimate.h"
#include "headroom/memory_timeline.h"
#include "headroom/mixed_precision.h"
#include "train/optimizer.h"
#include "headroom/runtime.h"
#include "headroom/tokenizer.h"
#include "headroom/training_sinks.h"
#include "io/atomic_file.h"
#include "train/checkpoint_store.h"
#include "train/data_order.h"
#include "train/finite_values.h"
#include "train/generator_state.h"
#include "train/micro_batch.h"
#include "train/out_of_memory.h"
#include "train/output_folder.h"

namespace headroom {

namespace fs = std::filesystem;

nlohmann::json TrainSummary::toJson() const {
    nlohmann::json json = {{"steps", steps},          {"final_loss", finalLoss},         {"adapter_dir", adapterDir},
                           {"peak_bytes", peakBytes}, {"tokens_per_s", tokensPerSecond}, {"stopped", stopped}};
    if (finalEvalLoss >= 0)
        json["final_eval_loss"] = finalEvalLoss;
    if (!checkpointDir.empty())
        json["checkpoint_dir"] = checkpointDir;
    return json;
}

namespace {

using Clock = std::chrono::steady_clock;

int64_t tensorBytes(const torch::Tensor &t) { return t.defined() ? t.numel() * int64_t(t.element_size()) : 0; }

// training.memory_budget for the length of a run; the budget in force before is restored after it.
class MemoryBudgetScope {
public:
    void apply(const torch::Device &device, int64_t bytes) {
        m_device = device;
        m_previous = deviceMemoryBudget(device); // on CUDA without a cap: the whole card, i.e. none
        setDeviceMemoryBudget(device, bytes);
        m_active = true;
    }
    // Gives the budget back early (so an emergency checkpoint is not refused by it).
    void lift() {
        if (m_active)
            setDeviceMemoryBudget(m_device, m_previous);
        m_active = false;
    }
    ~MemoryBudgetScope() { lift(); }

private:
    torch::Device m_device = torch::kCPU;
    int64_t m_previous = 0;
    bool m_active = false;
};

void writeJsonAtomically(const fs::path &path, const nlohmann::json &json) {
    detail::writeFileAtomically(path.string(), json.dump(2) + "\n");
}

std::string numberText(double value) {
    std::ostringstream text;
    text << value;
    return text.str();
}

// Divergence: this many optimizer steps in a row with a NaN or infinite loss or gradients end the
// run. Such a step is skipped (no update, so the weights stay as they were), and one of them can be
// a passing thing: an unlucky batch, or an fp16 overflow the loss scaler backs off from. Three in a
// row, on three different batches with unchanged weights, point at the state itself rather than
// the data, and cost at most two more steps to find out.
constexpr int kDivergenceSteps = 3;

// One training run, in the order it happens: set up (runtime, output, memory, data, model,
// optimizer, schedule), resume from a checkpoint when asked, join the other ranks, then the loop
// (step, evaluate, checkpoint) and the finish (the last checkpoint and the adapter).
class TrainingRun {
public:
    TrainingRun(const TrainConfig &config, TrainingObserver &observer, TrainingControl *control,
                std::optional<TrainingDataset> presetData = std::nullopt, DistributedContext *distributed = nullptr)
        : m_config(config), m_userObserver(observer), m_control(control), m_presetData(std::move(presetData)),
          m_dist(distributed) {}

    TrainSummary run(const ResumeRequest &resume) {
        try {
            if (!setUp(resume))
                return stoppedDuringSetUp();
        } catch (const c10::OutOfMemoryError &e) {
            auto event = m_oomAdvisor.diagnoseLoading(m_config, m_device, e.what_without_backtrace());
            m_observer.onOutOfMemory(event);
            throw TrainingOutOfMemory(std::move(event));
        }
        if (resume.resume)
            loadCheckpoint(m_resumeFrom);
        if (m_dist)
            joinRanks();
        // Written once data, model and checkpoint are accepted: a refused run leaves an earlier
        // run's configuration in this folder as it was.
        if (isMain()) {
            if (folderRunId(m_outputDir) != m_claim.runId) // a resumed run keeps its file (and start time)
                writeRunFile(m_outputDir, m_claim.runId);
            writeJsonAtomically(m_outputDir / "config.json", savedConfig());
        }
        announceStart();
        trainLoop();
        return finish();
    }

private:
    void warn(const std::string &message) { m_warnings.push_back(message); }
    // Ctrl-C while loading ends the set-up early. Ranks of a distributed run agree on stopping at
    // step boundaries only: one rank leaving alone would leave the others waiting.
    bool stopRequested() const { return !m_dist && m_control && m_control->stopRequested(); }
    // The configuration as the run's files keep it: overwrite_output_dir was an instruction to this
    // start, not a setting to repeat when the run is resumed or trained again from its config.json.
    nlohmann::json savedConfig() const {
        TrainConfig saved = m_config;
        saved.training.overwriteOutputDir = false;
        return saved.toJson();
    }
    int worldSize() const { return m_dist ? m_dist->worldSize() : 1; }
    bool isMain() const { return !m_dist || m_dist->isMain(); }

    // ---- Set-up, step by step. Warnings are kept for after onRunStart; errors throw at once.

    // False when a stop was requested on the way (nothing is written then but the tokenized data's
    // cache).
    bool setUp(const ResumeRequest &resume) {
        setUpRuntime();
        setUpOutput(resume);
        setUpMemory();
        // data first: a bad dataset is refused before any model is loaded
        for (const auto phase : {&TrainingRun::setUpData, &TrainingRun::setUpModel, &TrainingRun::setUpOptimizer,
                                 &TrainingRun::setUpSchedule}) {
            if (stopRequested())
                return false;
            (this->*phase)();
        }
        return !stopRequested();
    }

    // The configuration checked; threads, the device and a precision it supports.
    void setUpRuntime() {
        m_config.validate();
        const auto &t = m_config.training;
        initRuntime({int(m_config.threads)});
        m_device = resolveDevice(m_config.device);
        m_precision = m_config.precision();
        requirePrecisionSupported(m_precision, m_device, t.fp16 ? "training.fp16" : "training.bf16");
        if (m_device.is_cpu() && m_precision == Precision::BF16 && !cpuSupportsBf16())
            warn("bf16 on a CPU without AVX512-BF16/AMX is emulated and slow; consider fp32 (training.bf16 false)");
        if (m_precision == Precision::FP16 && m_device.is_cpu())
            warn("fp16 on CPU is emulated and slow; bf16 or fp32 run faster here");
    }

    // The output folder (claimed by rank 0, which writes the run's files: train/output_folder.h)
    // and the observers: the caller's, and metrics.jsonl. What the claim does to the folder is said
    // at once (not after onRunStart as the set-up's warnings), so it is seen even when the run is
    // refused.
    void setUpOutput(const ResumeRequest &resume) {
        m_outputDir = fs::absolute(m_config.training.outputDir).lexically_normal();
        m_observer.add(&m_userObserver);
        if (isMain()) {
            m_claim = claimOutputFolder(m_config, resume.resume, resume.checkpointDir,
                                        [this](const std::string &notice) { m_observer.onWarning(notice); });
            m_resumeFrom = m_claim.resumeFrom;
            m_metrics = std::make_unique<JsonlMetricsSink>((m_outputDir / "metrics.jsonl").string());
            m_observer.add(m_metrics.get());
        } else {
            fs::create_directories(m_outputDir);
            if (resume.resume)
                m_resumeFrom = resume.checkpointDir.empty() ? newestCheckpoint(m_outputDir) : resume.checkpointDir;
        }
    }

    // Memory measurement (the counting CPU allocator) and training.memory_budget for the run.
    void setUpMemory() {
        if (m_device.is_cpu())
            installMemoryTracking();
        if (const int64_t budget = parseMemoryBudget(m_config.training.memoryBudget, "training.memory_budget"))
            m_budget.apply(m_device, budget);
    }

    // The tokenized dataset (built here, or the caller's) and the order its rows are trained in.
    void setUpData() {
        if (m_presetData) {
            m_data = std::move(*m_presetData);
        } else {
            const auto tokenizer = Tokenizer::load(m_config.model);
            m_data = TrainingDataset::build(m_config, *tokenizer, (m_outputDir / ".cache").string());
        }
        for (const auto &w : m_data.stats().warnings)
            warn(w);
        if (m_data.train().empty())
            throw invalidInput(m_config.dataset.path + ": no training examples left after the validation split");
        const auto &t = m_config.training;
        const auto &d = m_config.dataset;
        const int64_t rowsPerStep = t.perDeviceTrainBatchSize * t.gradientAccumulationSteps * worldSize(); // all ranks
        m_order = DataOrder(m_data, uint64_t(t.seed), rowsPerStep, d.packing ? d.maxSeqLength : 0);
    }

    // The base model (4-bit when asked) with LoRA adapters initialised from training.seed.
    void setUpModel() {
        const auto load = modelLoadOptions();
        const auto &q = m_config.quantization;
        if (q.loadIn4bit && q.computeDtype != dtypeOf(m_precision))
            warn(std::string("quantization.bnb_4bit_compute_dtype is ") + choiceName(q.computeDtype) +
                 " but training computes in " + choiceName(dtypeOf(m_precision)) + " (training.bf16/fp16 decide)");
        m_model = CausalLM::load(m_config.model, load);
        if (!m_model->unusedTensors().empty())
            warn(m_config.model + ": not loaded and not trained: " + describeTensorNames(m_model->unusedTensors()));
        if (m_device.is_cuda() && m_config.attnImplementation == Attention::Sdpa && m_model->config().attnLogitSoftcap)
            warn("attention soft-capping: torch's flash kernel cannot apply it, so sdpa runs Headroom's chunked "
                 "attention (the same memory, slower)");
        if (m_config.dataset.maxSeqLength > m_model->config().maxPositions)
            throw invalidInput("dataset.max_seq_length: " + std::to_string(m_config.dataset.maxSeqLength) +
                               " exceeds the model's max_position_embeddings (" +
                               std::to_string(m_model->config().maxPositions) + ")");

        const auto &t = m_config.training;
        torch::manual_seed(uint64_t(t.seed));
        const auto &l = m_config.lora;
        m_model->addLora({l.r, l.loraAlpha, l.loraDropout, l.targetModules, l.useRslora}, uint64_t(t.seed));
        m_model->setGradientCheckpointing(t.gradientCheckpointing);
    }

    // How setUpModel loads the model: compute dtype, device, attention, 4-bit quantization.
    ModelLoadOptions modelLoadOptions() const {
        ModelLoadOptions load;
        load.dtype = computeDtype(m_precision);
        load.device = m_device;
        load.attention = m_config.attnImplementation;
        const auto &q = m_config.quantization;
        load.quantization.enabled = q.loadIn4bit;
        load.quantization.type = q.quantType;
        load.quantization.blocksize = q.blocksize;
        load.quantization.doubleQuant = q.useDoubleQuant;
        return load;
    }

    // The optimizer over the adapters, and the loss scaler (fp16 only; a no-op otherwise).
    void setUpOptimizer() {
        const auto &t = m_config.training;
        OptimizerSettings os;
        os.weightDecay = t.weightDecay;
        os.beta1 = t.adamBeta1;
        os.beta2 = t.adamBeta2;
        os.epsilon = t.adamEpsilon;
        std::string notice;
        m_optimizer = Optimizer::create(t.optim, m_model->loraParameters(), os, &notice);
        if (!notice.empty())
            warn(notice);
        for (const auto &p : m_model->loraParameters())
            m_parameters.push_back(p.tensor);
        m_scaler = std::make_unique<LossScaler>(m_precision == Precision::FP16);
    }

    // How many steps (training.max_steps, else num_train_epochs' worth) and each one's learning rate.
    void setUpSchedule() {
        const auto &t = m_config.training;
        m_totalSteps = t.maxSteps > 0 ? t.maxSteps : m_order.stepsFor(t.numTrainEpochs);
        m_schedule.type = parseScheduleType(t.lrSchedulerType, "training.lr_scheduler_type");
        m_schedule.baseLr = t.learningRate;
        m_schedule.totalSteps = m_totalSteps;
        m_schedule.warmupSteps = LrSchedule::warmupFrom(t.warmupRatio, t.warmupSteps, m_totalSteps);
    }

    // ---- Resuming, joining the other ranks, and the start of the run.

    // Continues from checkpoint `dir` (setUpOutput chose it).
    void loadCheckpoint(const std::string &dir) {
        auto loaded = readCheckpoint(dir, *m_model);
        const auto &state = loaded.trainerState;
        try {
            m_optimizer->loadStateHeader(state.at("optimizer"));
            m_optimizer->loadStateTensors(loaded.tensors);
            m_scaler->loadState(state.at("scaler"));
            m_step = state.at("step").get<int64_t>();
            // The data position is global; it maps onto this run's steps when micro x accum x ranks is the same.
            if (state.contains("data_position") && state.at("data_position").get<int64_t>() != m_order.position(m_step))
                throw invalidInput(dir + ": written at data position " + state.at("data_position").dump() + " (step " +
                                   std::to_string(m_step) + ") with another effective batch than this run's " +
                                   std::to_string(m_order.rowsPerStep()) +
                                   " (micro-batch x accumulation x processes): keep it equal "
                                   "to resume, e.g. double gradient_accumulation_steps when halving the processes");
            // null where the step's loss was NaN (a checkpoint of finite weights within a divergence)
            const auto loss = state.value("loss", nlohmann::json(0.0));
            m_lastLoss = loss.is_number() ? loss.get<double>() : std::nan("");
            restoreGenerators(loaded.tensors, m_device);
        } catch (const nlohmann::json::exception &e) {
            throw invalidInput(dir + "/trainer_state.json: incomplete (" + std::string(e.what()) + ")");
        }
        if (m_step >= m_totalSteps)
            warn("the checkpoint is at step " + std::to_string(m_step) + " of " + std::to_string(m_totalSteps) +
                 ": nothing left to train");
    }

    // Data parallelism: every rank must train on the same rows from the same step, and starts from
    // rank 0's adapter weights; dropout draws differ per rank (rank 0 keeps the 1-process stream).
    void joinRanks() {
        m_dist->requireSame(int64_t(m_data.train().size()), "the number of training rows");
        m_dist->requireSame(m_step, "the step to start from");
        m_dist->requireSame(m_totalSteps, "the number of steps");
        m_dist->broadcastFromMain(m_parameters);
        if (!isMain())
            torch::manual_seed(uint64_t(m_config.training.seed) + 1000003ULL * uint64_t(m_dist->rank()) +
                               uint64_t(m_step));
    }

    // Tells the observers what is about to run, then the set-up's warnings.
    void announceStart() {
        RunStartEvent start;
        start.totalSteps = m_totalSteps;
        start.startStep = m_step;
        start.trainExamples = int64_t(m_data.train().size());
        start.validationExamples = int64_t(m_data.validation().size());
        start.effectiveBatch = m_config.effectiveBatch(worldSize());
        start.trainableParameters = m_model->trainableParameters();
        start.totalParameters = m_model->config().totalParameters() + start.trainableParameters;
        start.precision = choiceName(m_precision);
        start.device = m_device.str();
        start.optimizer = choiceName(m_config.training.optim);
        start.outputDir = m_outputDir.string();
        start.runId = m_claim.runId;
        m_observer.onRunStart(start);
        for (const auto &w : m_warnings)
            m_observer.onWarning(w);
    }

    // ---- The loop: one optimizer step at a time, then evaluation and checkpoints when due.

    void trainLoop() {
        const auto &t = m_config.training;
        const auto runStart = Clock::now();
        m_firstStep = m_step;
        while (m_step < m_totalSteps) {
            resetPeakMemory(m_device);
            const auto stepStart = Clock::now();
            StepEvent event;
            bool completed = false;
            try {
                completed = trainStep(event);
            } catch (const c10::OutOfMemoryError &e) {
                handleOutOfMemory(e.what_without_backtrace()); // throws unless the run adapts
                continue; // the same step with the change
            }
            if (!completed) {
                m_stopped = true;
                break;
            }
            ++m_step;
            const double stepSeconds = std::chrono::duration<double>(Clock::now() - stepStart).count();
            const double elapsed = std::chrono::duration<double>(Clock::now() - runStart).count();
            m_tokens += event.tokens;
            m_peak = std::max(m_peak, event.memory.peak);
            m_lastLoss = event.loss;
            event.step = m_step;
            event.totalSteps = m_totalSteps;
            event.epoch = m_order.epochAt(m_step);
            event.tokensPerSecond = stepSeconds > 0 ? double(event.tokens) / stepSeconds : 0;
            event.lossScale = m_scaler->scale();
            event.elapsedSeconds = elapsed;
            event.etaSeconds = elapsed / double(m_step - m_firstStep) * double(m_totalSteps - m_step);
            event.runId = m_claim.runId;
            m_elapsed = elapsed;
            m_oomAdvisor.recordStep(m_model->config(), m_config, m_device, m_order.longestRow(m_step - 1),
                                    event.memory);
            if (!event.timeline.empty() && isMain())
                writeTimeline(event);
            m_observer.onStep(event);
            checkDivergence();

            const bool epochEnd = m_order.crossesEpoch(m_step - 1);
            const bool evalNow = !m_data.validation().empty() &&
                                 (t.evalSteps > 0 ? m_step % t.evalSteps == 0 : epochEnd || m_step == m_totalSteps);
            if (evalNow) {
                m_lastEvalLoss = evaluate();
                m_observer.onEval({m_step, m_lastEvalLoss, m_claim.runId});
            }
            const bool saveNow = (t.saveStrategy == "steps" && m_step % t.saveSteps == 0) ||
                                 (t.saveStrategy == "epoch" && epochEnd && m_step < m_totalSteps);
            if (saveNow)
                saveCheckpoint();
        }
    }

    // One optimizer step; returns false when a stop request abandoned it.
    bool trainStep(StepEvent &event) {
        const auto &t = m_config.training;
        const auto rows = m_order.stepRows(m_step);
        int64_t targets = 0;
        for (const auto *row : rows)
            targets += targetTokens(*row);
        const double divisor = double(std::max<int64_t>(1, targets));
        double lossSum = 0;
        int64_t tokens = 0;
        const StepShard shard = stepShard(int64_t(rows.size()), m_dist ? m_dist->rank() : 0, worldSize());
        if (m_dist && m_dist->any(m_control && m_control->stopRequested())) // all ranks stop at the same step
            return false;
        std::optional<MemoryTimelineRecording> timeline;
        if (t.memoryTimelineStep == m_step + 1)
            timeline.emplace(m_device);
        m_stepRng = generatorStates(m_device); // a step retried after running out of memory draws the same dropout
        for (int64_t micro = 0; micro < t.gradientAccumulationSteps; ++micro) {
            if (!m_dist && m_control &&
                (m_control->stopRequested() || (m_control->paused() && !m_control->waitWhilePaused()))) {
                m_optimizer->zeroGrad();
                return false;
            }
            const auto first = rows.begin() + shard.begin + micro * t.perDeviceTrainBatchSize;
            std::vector<const TokenizedExample *> part(first, first + t.perDeviceTrainBatchSize);
            const auto batch = collateMicroBatch(part, m_config.dataset.packing, m_device);
            const auto loss = batchLoss(batch, true);
            markMemory("loss of micro-batch " + std::to_string(micro + 1));
            (loss.sum * (m_scaler->scale() / divisor)).backward();
            markMemory("backward of micro-batch " + std::to_string(micro + 1) + " done");
            lossSum += loss.sum.item<double>();
            tokens += batch.tokens;
        }
        if (m_dist) { // each rank's gradients are its share of the sum over the step's targets
            m_dist->sumGradients(m_parameters);
            std::vector<double> totals = {lossSum, double(tokens)};
            m_dist->sumInPlace(totals);
            lossSum = totals[0];
            tokens = int64_t(totals[1]);
        }
        std::vector<torch::Tensor> grads;
        for (const auto &p : m_parameters)
            if (p.grad().defined())
                grads.push_back(p.grad());
        double norm = 0;
        const bool finite = prepareGradients(grads, *m_scaler, t.maxGradNorm, norm);
        const double scaleUsed = m_scaler->scale();
        if (finite) {
            m_inOptimizerUpdate = true;
            m_optimizer->step(m_schedule.at(m_step));
            m_inOptimizerUpdate = false;
            markMemory("optimizer step");
        }
        m_scaler->update(!finite);
        event.learningRate = m_schedule.at(m_step);
        event.skipped = !finite;
        event.gradNorm = finite ? norm : std::nan("");
        event.loss = lossSum / divisor;
        event.tokens = tokens;
        // fp16's loss scaling overflows the gradients by design while it searches for its scale:
        // those steps are the scaler's; at a scale of 1 the gradients overflow by themselves.
        m_nonFinite = !std::isfinite(event.loss) ? "loss" : (!finite && scaleUsed <= 1) ? "gradients" : "";
        event.memory = measureMemory(); // before the gradients are cleared: they belong to the step
        if (timeline)
            event.timeline = timeline->points();
        m_optimizer->zeroGrad();
        return true;
    }

    LossSum batchLoss(const MicroBatch &batch, bool training) const {
        ForwardInputs in;
        in.inputIds = batch.ids;
        in.attentionMask = batch.mask;
        in.positions = batch.positions;
        in.segmentIds = batch.segments;
        in.paddedOnTheRight = true; // collateMicroBatch pads at the end of each row
        in.training = training;
        return chunkedCrossEntropySum(m_model->hiddenStates(in), m_model->lmHeadWeight(), batch.labels, 0,
                                      m_model->config().finalLogitSoftcap);
    }

    MemoryBreakdown measureMemory() const {
        MemoryBreakdown m;
        m.weights = m_model->baseWeightBytes();
        for (const auto &p : m_parameters) {
            m.adapters += tensorBytes(p);
            m.gradients += tensorBytes(p.grad());
        }
        m.optimizer = m_optimizer->stateBytes();
        const auto stats = allocatorStats(m_device);
        m.allocated = stats.allocated;
        m.reserved = stats.reserved;
        m.peak = stats.peak;
        // Paged optimizer states live outside the allocator whose peak this is.
        const int64_t optimizerInPeak = m.optimizer - m_optimizer->pagedStateBytes();
        m.activations = std::max<int64_t>(0, m.peak - m.weights - m.adapters - m.gradients - optimizerInPeak);
        m.other = m_device.is_cpu() ? std::max<int64_t>(0, processResidentBytes() - m.reserved - mallocRetainedBytes())
                                    : std::max<int64_t>(0, m.reserved - m.allocated);
        return m;
    }

    double evaluate() {
        const auto &validation = m_data.validation();
        torch::NoGradGuard noGrad;
        double lossSum = 0;
        int64_t targets = 0;
        const int64_t b = m_config.training.perDeviceTrainBatchSize;
        const size_t rank = size_t(m_dist ? m_dist->rank() : 0);
        for (size_t start = rank * size_t(b); start < validation.size(); start += size_t(b * worldSize())) {
            std::vector<const TokenizedExample *> part;
            for (size_t i = start; i < std::min(validation.size(), start + size_t(b)); ++i)
                part.push_back(&validation[i]);
            const auto batch = collateMicroBatch(part, m_config.dataset.packing, m_device);
            const auto loss = batchLoss(batch, false);
            lossSum += loss.sum.item<double>();
            targets += loss.tokens;
        }
        if (m_dist) {
            std::vector<double> totals = {lossSum, double(targets)};
            m_dist->sumInPlace(totals);
            lossSum = totals[0];
            targets = int64_t(totals[1]);
        }
        return targets ? lossSum / double(targets) : 0.0;
    }

    void writeTimeline(const StepEvent &event) const {
        nlohmann::json points = nlohmann::json::array();
        for (const auto &p : event.timeline)
            points.push_back(p.toJson());
        const auto peak = timelinePeak(event.timeline);
        const auto &m = event.memory;
        writeJsonAtomically(m_outputDir / "memory_timeline.json",
                            {{"step", event.step},
                             {"fixed",
                              {{"weights", m.weights},
                               {"adapters", m.adapters},
                               {"gradients", m.gradients},
                               {"optimizer", m.optimizer}}},
                             // The peak fell between point `after` and point `reached_by`.
                             {"peak", {{"bytes", m.peak}, {"after", peak.after}, {"reached_by", peak.reachedBy}}},
                             {"points", points}});
    }

    // ---- Checkpoints, running out of memory, and the end of the run.

    // Every checkpoint holds finite weights, so that "the last checkpoint" is one to resume from.
    std::string saveCheckpoint() {
        requireFiniteWeights(); // on every rank: they hold the same weights and stop together
        if (!isMain())
            return {};
        CheckpointContents contents;
        contents.trainerState = {
            {"run_id", m_claim.runId},
            {"step", m_step},
            {"total_steps", m_totalSteps},
            {"data_position", m_order.position(m_step)},
            {"epoch", m_order.epochAt(m_step)},
            {"loss", m_lastLoss},
            {"scaler", m_scaler->state()},
            {"schedule", {{"warmup_steps", m_schedule.warmupSteps}, {"total_steps", m_schedule.totalSteps}}},
            {"config", savedConfig()}};
        const auto rng = generatorStates(m_device);
        contents.extraTensors.assign(rng.begin(), rng.end());
        const auto path = writeCheckpoint(m_outputDir.string(), m_step, *m_model, *m_optimizer, contents, card());
        rotateCheckpoints(m_outputDir.string(), m_config.training.saveTotalLimit);
        m_observer.onCheckpoint(m_step, path);
        return path;
    }

    AdapterCard card() const {
        AdapterCard c;
        c.baseModel = m_config.model;
        c.dataset = m_config.dataset.path;
        c.steps = m_step;
        c.finalTrainLoss = m_lastLoss;
        c.finalEvalLoss = m_lastEvalLoss;
        c.settings = savedConfig();
        return c;
    }

    // Frees what the failed step held, says what crossed the budget and what fits, and either
    // applies that change (training.on_oom adapt) or checkpoints the last completed step and ends.
    void handleOutOfMemory(const std::string &message) {
        const bool partialUpdate = m_inOptimizerUpdate;
        m_inOptimizerUpdate = false;
        m_optimizer->zeroGrad();
        releaseCachedMemory(m_device);
        restoreGenerators(m_stepRng, m_device);
        auto event = m_oomAdvisor.diagnose(m_config, *m_model, m_optimizer->stateBytes(), m_device, m_step + 1,
                                           m_order.longestRow(m_step), message);
        if (partialUpdate) {
            // Some adapters and optimizer states already hold this step's update and others not:
            // neither retrying nor checkpointing this state is safe.
            event.category = "the optimizer update (left half done, so this state is not saved: resume from the "
                             "last checkpoint)";
            m_observer.onOutOfMemory(event);
            throw TrainingOutOfMemory(std::move(event));
        }
        // With several processes the ranks must keep the same settings: adapting one is not possible.
        if (m_config.training.onOom == "adapt" && !m_dist && !event.change.empty() && !event.needsRestart) {
            m_config.applyOverrides(event.overrides);
            m_model->setGradientCheckpointing(m_config.training.gradientCheckpointing);
            writeJsonAtomically(m_outputDir / "config.json", savedConfig());
            event.applied = true;
            m_observer.onOutOfMemory(event);
            return;
        }
        m_observer.onOutOfMemory(event);
        if (m_step > m_firstStep && !m_dist) { // other ranks are mid-collective: their last checkpoint stands
            m_budget.lift();
            saveCheckpoint();
        }
        throw TrainingOutOfMemory(std::move(event));
    }

    TrainSummary finish() {
        TrainSummary s;
        s.steps = m_step;
        s.finalLoss = m_lastLoss;
        s.finalEvalLoss = m_lastEvalLoss;
        s.peakBytes = m_peak;
        s.tokensPerSecond = m_elapsed > 0 ? double(m_tokens) / m_elapsed : 0;
        s.stopped = m_stopped;
        if (m_stopped) {
            if (m_step > 0)
                s.checkpointDir = saveCheckpoint();
        } else {
            requireFiniteWeights(); // no adapter/ that looks complete for a diverged state
            if (m_config.training.saveStrategy != "no")
                saveCheckpoint();
            s.adapterDir = (m_outputDir / "adapter").string();
            if (isMain())
                saveAdapter(*m_model, s.adapterDir, card());
        }
        FinishEvent e;
        e.steps = s.steps;
        e.finalLoss = s.finalLoss;
        e.adapterDir = s.stopped ? s.checkpointDir : s.adapterDir;
        e.peakBytes = s.peakBytes;
        e.tokensPerSecond = s.tokensPerSecond;
        e.stopped = s.stopped;
        m_observer.onFinish(e);
        return s;
    }

    // ---- Divergence (kDivergenceSteps): the run ends with TrainingDiverged.

    // After each step: counts the steps in a row that trainStep found non-finite; the last step of
    // the run may not be one of them.
    void checkDivergence() {
        if (m_nonFinite.empty()) {
            m_nonFiniteSteps = 0;
            return;
        }
        if (m_nonFiniteSteps++ == 0)
            m_firstNonFiniteStep = m_step;
        if (m_nonFiniteSteps >= kDivergenceSteps || m_step == m_totalSteps)
            diverge(m_nonFinite, m_firstNonFiniteStep);
    }

    void requireFiniteWeights() {
        if (!allFinite(m_parameters))
            diverge("adapter weights", m_step);
    }

    [[noreturn]] void diverge(const std::string &what, int64_t firstStep) {
        DivergenceEvent event;
        event.step = m_step;
        event.firstStep = firstStep;
        event.what = what;
        event.weightsFinite = what != "adapter weights" && allFinite(m_parameters);
        event.hint = divergenceHint(event.weightsFinite);
        const auto checkpoints = listCheckpoints(m_outputDir.string());
        if (!checkpoints.empty())
            event.lastCheckpoint = checkpoints.back().second;
        m_userObserver.onDiverged(event); // the caller's: the run's own sinks have nothing to add
        throw TrainingDiverged(std::move(event));
    }

    // The likely cause: updates too large when the weights went non-finite; with finite weights, an
    // fp16 overflow, or the base model's own forward pass.
    std::string divergenceHint(bool weightsFinite) const {
        const std::string lr = "training.learning_rate (now " + numberText(m_config.training.learningRate) + ")";
        const bool fp16 = m_precision == Precision::FP16;
        if (!weightsFinite)
            return "the updates grew too large: lower " + lr + (fp16 ? ", or train in bf16 (--precision bf16)" : "");
        if (fp16)
            return "float16 overflowed (its largest value is 65504): train in bf16 (--precision bf16) or fp32, or "
                   "lower " +
                   lr;
        return "the forward pass overflows with finite adapters: lower " + lr +
               ", or check the base model's weights and config.json (rope_theta, rms_norm_eps) and the data";
    }

    // A stop requested while loading: no step ran and nothing of the run was written; observers
    // heard no onRunStart, so they hear no onFinish either.
    TrainSummary stoppedDuringSetUp() const {
        TrainSummary s;
        s.steps = m_step;
        s.stopped = true;
        return s;
    }

    TrainConfig m_config;
    OutputClaim m_claim; // the output folder's lock, held until the run ends
    std::string m_resumeFrom;
    MemoryBudgetScope m_budget;
    OutOfMemoryAdvisor m_oomAdvisor;
    TrainingObserver &m_userObserver;
    TrainingControl *m_control;
    std::optional<TrainingDataset> m_presetData;
    DistributedContext *m_dist; // null for one process
    ObserverFanout m_observer;
    std::unique_ptr<JsonlMetricsSink> m_metrics;
    std::vector<std::string> m_warnings;
    fs::path m_outputDir;
    torch::Device m_device = torch::kCPU;
    Precision m_precision = Precision::FP32;
    TrainingDataset m_data;
    std::unique_ptr<CausalLM> m_model;
    std::unique_ptr<Optimizer> m_optimizer;
    std::unique_ptr<LossScaler> m_scaler;
    std::vector<torch::Tensor> m_parameters;
    DataOrder m_order; // over m_data
    LrSchedule m_schedule;
    int64_t m_totalSteps = 0, m_step = 0, m_firstStep = 0, m_tokens = 0, m_peak = 0;
    double m_lastLoss = 0, m_lastEvalLoss = -1, m_elapsed = 0;
    bool m_stopped = false;
    bool m_inOptimizerUpdate = false;
    std::string m_nonFinite; // what the last step found NaN or infinite: "loss", "gradients" or ""
    int64_t m_nonFiniteSteps = 0, m_firstNonFiniteStep = 0;
    GeneratorStates m_stepRng; // taken before each step, for a retry
};

} // namespace

TrainSummary runTraining(const TrainConfig &config, TrainingObserver &observer, TrainingControl *control,
                         const ResumeRequest &resume, DistributedContext *distributed) {
    TrainingRun run(config, observer, control, std::nullopt, distributed);
    try {
        return run.run(resume);
    } catch (const std::exception &e) {
        observer.onError(e.what());
        throw;
    }
}

TrainSummary runTrainingOn(const TrainConfig &config, TrainingDataset data, TrainingObserver &observer,
                           TrainingControl *control) {
    TrainingRun run(config, observer, control, std::move(data));
    try {
        return run.run({});
    } catch (const std::exception &e) {
        observer.onError(e.what());
        throw;
    }
}

} // namespace headroom
