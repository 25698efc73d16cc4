// headroom-cli estimate: memory of a fine-tuning run from the model's config.json and the training
// flags, against a budget (a GPU preset, --budget, or this machine's RAM), without loading weights.
// --calibrate runs one real step to measure activations and caches the ratio for later estimates.
#include "cli_context.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "headroom/bench.h"
#include "headroom/error.h"
#include "headroom/gpu_presets.h"
#include "headroom/memory.h"
#include "headroom/memory_estimate.h"
#include "headroom/runtime.h"
#include "headroom/train_config.h"

namespace headroom::cli {

namespace fs = std::filesystem;

namespace {

struct EstimateArgs {
    std::string model, config, gpu, budget, calibrationCache;
    std::string targets, quant, precision, optim, attention;
    int64_t r = 0, batch = 0, accum = 0, seq = 0, gpus = 0;
    double alpha = 0, dropout = 0;
    bool doubleQuant = true, checkpointing = true;
    bool calibrate = false, noCalibration = false, details = false;
};

std::string bundledList() {
    std::string list;
    for (const auto &n : bundledModelNames())
        list += (list.empty() ? "" : ", ") + n;
    return list;
}

// A model folder, a model's config.json, a training config (its model folder's config.json; its
// settings become the defaults) or a bundled name.
ModelConfig resolveModel(const std::string &value, const std::string &flag, std::optional<TrainConfig> &trainConfig,
                         std::string &modelDir) {
    const fs::path path(value);
    if (fs::is_directory(path)) {
        modelDir = value;
        return ModelConfig::fromFile((path / "config.json").string());
    }
    if (fs::is_regular_file(path)) {
        std::ifstream in(path);
        const auto json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
        if (json.is_discarded())
            throw invalidInput(value + ": not valid JSON");
        if (json.is_object() && json.contains("architectures")) {
            modelDir = path.parent_path().string();
            return ModelConfig::fromJson(json, value);
        }
        trainConfig = TrainConfig::fromFile(value);
        modelDir = trainConfig->model;
        const auto config = fs::path(modelDir) / "config.json";
        if (!fs::is_regular_file(config))
            throw invalidInput(value + ": model: '" + modelDir + "' has no config.json");
        return ModelConfig::fromFile(config.string());
    }
    for (const auto &name : bundledModelNames())
        if (name == value)
            return bundledModelConfig(value);
    throw invalidInput(flag + ": '" + value +
                       "' is not a model folder, a config file or a bundled model (bundled: " + bundledList() + ")");
}

struct Budget {
    std::optional<int64_t> bytes;
    std::string source; // "t4: NVIDIA Tesla T4 16 GB", "--budget", "this machine's RAM"
    const GpuPreset *preset = nullptr;
    // --budget means what `train --budget` does: a cap on the allocator, which the CUDA context and
    // the CPU process baseline lie outside (MemoryEstimate::budgetedBytes); a preset is the card.
    bool capsAllocator = false;
};

Budget resolveBudget(const EstimateArgs &args, const std::string &device) {
    Budget b;
    if (!args.gpu.empty()) {
        b.preset = findGpuPreset(args.gpu);
        if (!b.preset)
            throw invalidInput("--gpu: '" + args.gpu + "' is not a preset (valid: " + gpuPresetNameList() + ")");
        b.bytes = b.preset->memoryBytes;
        b.source = b.preset->name + ": " + b.preset->label;
    } else if (!args.budget.empty()) {
        b.bytes = parseByteSize(args.budget, "--budget");
        b.source = "--budget, a cap on the allocator as `train --budget`: without the context / process baseline";
        b.capsAllocator = true;
    } else if (device == "cpu") {
        b.preset = findGpuPreset("cpu");
        b.bytes = b.preset->memoryBytes;
        b.source = "cpu: " + b.preset->label;
    }
    return b;
}

std::string bytesCell(int64_t bytes) {
    char cell[64];
    std::snprintf(cell, sizeof cell, "%12s  %15lld", formatBytes(bytes).c_str(), (long long)bytes);
    return cell;
}

void printHuman(std::ostream &out, const MemoryEstimate &e, const Budget &budget, const EstimateSettings &s,
                const std::optional<FitSuggestion> &suggestion, const std::vector<std::string> &notes, bool details) {
    out << "settings      quant " << choiceName(s.quant)
        << (s.quant != WeightQuant::None && s.doubleQuant ? " + double quant" : "") << ", LoRA r " << s.loraR
        << ", micro-batch " << s.microBatch << " x accumulation " << s.accumulation << " x " << s.gpus
        << " GPU = " << e.effectiveBatch << ", seq " << s.seqLength << ", " << choiceName(s.precision)
        << ", checkpointing " << (s.gradientCheckpointing ? "on" : "off") << ", attention " << choiceName(s.attention)
        << ", " << choiceName(s.optimizer) << ", " << s.device << "\n";
    out << "parameters    " << e.totalParameters << " total, " << e.trainableParameters << " trainable\n\n";
    out << "category                    size            bytes\n";
    const std::pair<const char *, int64_t> rows[] = {{"weights", e.weights},         {"adapters", e.adapters},
                                                     {"gradients", e.gradients},     {"optimizer", e.optimizer},
                                                     {"activations", e.activations}, {"other", e.other}};
    for (const auto &[name, bytes] : rows) {
        char label[16];
        std::snprintf(label, sizeof label, "%-12s", name);
        out << label << bytesCell(bytes) << "\n";
    }
    out << "total       " << bytesCell(e.total()) << "\n";
    if (budget.bytes)
        out << "budget      " << bytesCell(*budget.bytes) << "  (" << budget.source << ")\n";
    out << "\nactivation peak: " << e.peakPhase
        << (e.activationScale != 1.0 ? " (scaled by " + std::to_string(e.activationScale) + " from calibration)" : "")
        << "\n";
    if (details) {
        out << "\none decoder layer saves for backward:\n";
        for (const auto &t : e.perLayer)
            out << "  " << bytesCell(t.bytes) << "  " << t.name << "\n";
        out << "alive at the activation peak:\n";
        for (const auto &t : e.peakParts)
            out << "  " << bytesCell(t.bytes) << "  " << t.name << "\n";
    }
    for (const auto &note : notes)
        out << "note: " << note << "\n";
    if (!budget.bytes) {
        out << "\nno budget: give --gpu PRESET or --budget BYTES\n";
        return;
    }
    const int64_t spare = *budget.bytes - e.budgetedBytes(budget.capsAllocator);
    if (spare >= 0) {
        out << "\nfits, " << formatBytes(spare) << " to spare\n";
        return;
    }
    out << "\ndoes not fit: " << formatBytes(-spare) << " over\n";
    if (suggestion)
        out << "try first: " << suggestion->change << " ("
            << (budget.capsAllocator ? formatBytes(suggestion->estimate.budgetedBytes(true)) + " under the cap"
                                     : "total " + formatBytes(suggestion->estimate.total()))
            << ")\n";
    else
        out << "nothing fits: not at micro-batch 1 and sequence 128 with checkpointing and 4-bit weights; "
               "a larger GPU or a smaller model\n";
}

// One real step of these settings on random tokens; its measured activations against the estimate.
double calibrate(const std::string &modelDir, const ModelConfig &model, const EstimateSettings &settings,
                 const CliContext &ctx, const std::string &cachePath) {
    if (modelDir.empty() || !fs::exists(fs::path(modelDir) / "config.json"))
        throw invalidInput("--calibrate: needs a model folder with weights (--model DIR or a training config)");
    TrainConfig config;
    config.model = modelDir;
    config.dataset.path = "(random tokens)";
    config.device = settings.device;
    config.threads = ctx.threads;
    settings.applyTo(config);
    config.training.gradientAccumulationSteps = 1;
    const auto row = benchTraining(config, settings.seqLength, 1, 1, {});
    if (!row.error.empty())
        throw runtimeFailure("--calibrate: the calibration step ran out of memory (" + row.error +
                             "): calibrate with a smaller --batch or --seq");
    EstimateSettings uncalibrated = settings;
    uncalibrated.activationScale = 1.0;
    const auto estimate = estimateMemory(model, uncalibrated);
    return calibrateActivations(cachePath, calibrationKey(model, settings.device, settings.attention),
                                row.bytes.activations, estimate.activations);
}

} // namespace

void addEstimateCommand(CLI::App &app, CliContext &ctx) {
    static EstimateArgs args;
    auto *cmd = app.add_subcommand("estimate", "Memory of a fine-tuning run from the config alone (no weights loaded)");
    auto *model = cmd->add_option("--model", args.model, "HF model folder (its config.json) or a bundled model name");
    auto *config = cmd->add_option("--config", args.config,
                                   "a model's config.json, a training config (its settings are the defaults) or a "
                                   "bundled model name (e.g. llama-3.1-8b)");
    model->excludes(config);
    auto *r = cmd->add_option("--r", args.r, "LoRA rank")->check(CLI::PositiveNumber);
    auto *alpha = cmd->add_option("--lora-alpha", args.alpha, "LoRA alpha (no effect on memory)");
    auto *dropout = cmd->add_option("--lora-dropout", args.dropout, "LoRA dropout (> 0 keeps masks for backward)");
    auto *targets = cmd->add_option("--targets", args.targets, "q_proj,k_proj,... or all-linear");
    auto *quant = cmd->add_option("--quant", args.quant, "none, nf4 or fp4");
    auto *doubleQuant = cmd->add_flag("--double-quant,!--no-double-quant", args.doubleQuant,
                                      "quantize the 4-bit block scales too (default on)");
    auto *batch = cmd->add_option("--batch", args.batch, "micro-batch (rows)")->check(CLI::PositiveNumber);
    auto *accum = cmd->add_option("--accum", args.accum, "gradient accumulation steps")->check(CLI::PositiveNumber);
    auto *seq = cmd->add_option("--seq", args.seq, "tokens per row")->check(CLI::Range(int64_t(2), int64_t(1) << 30));
    auto *precision = cmd->add_option("--precision", args.precision, "fp32, bf16 or fp16");
    auto *checkpointing =
        cmd->add_flag("--checkpointing,!--no-checkpointing", args.checkpointing, "gradient checkpointing (default on)");
    auto *attention = cmd->add_option("--attn-implementation", args.attention,
                                      "attention: sdpa (fused, no [B,heads,T,T] kept) or eager");
    auto *optim = cmd->add_option("--optim", args.optim, "adamw_torch, adamw_8bit, paged_adamw_8bit or sgd");
    auto *gpus =
        cmd->add_option("--gpus", args.gpus, "data-parallel GPUs (memory is per GPU)")->check(CLI::PositiveNumber);
    auto *gpu = cmd->add_option("--gpu", args.gpu, "budget preset: " + gpuPresetNameList());
    cmd->add_option("--budget", args.budget,
                    "budget in bytes (suffixes KiB, MiB, GiB): a cap on the allocator, as train --budget (the CUDA "
                    "context and the process baseline lie outside it)")
        ->excludes(gpu);
    cmd->add_flag("--calibrate", args.calibrate, "run one real step to measure activations and cache the ratio");
    cmd->add_option("--calibration-cache", args.calibrationCache,
                    "calibration cache (default " + defaultCalibrationPath() + ")");
    cmd->add_flag("--no-calibration", args.noCalibration, "ignore cached calibrations");
    cmd->add_flag("--details", args.details, "list what one layer saves and what is alive at the peak");
    cmd->callback([&ctx, model, config, r, alpha, dropout, targets, quant, doubleQuant, batch, accum, seq, precision,
                   checkpointing, attention, optim, gpus] {
        if (args.model.empty() && args.config.empty())
            throw invalidInput(
                "estimate: give --model DIR or --config CONFIG.json (or a bundled name: " + bundledList() + ")");
        std::optional<TrainConfig> trainConfig;
        std::string modelDir;
        const ModelConfig modelConfig = args.model.empty()
                                            ? resolveModel(args.config, "--config", trainConfig, modelDir)
                                            : resolveModel(args.model, "--model", trainConfig, modelDir);
        EstimateSettings s = trainConfig ? EstimateSettings::fromTrainConfig(*trainConfig) : EstimateSettings();
        if (r->count())
            s.loraR = args.r;
        if (alpha->count())
            s.loraAlpha = args.alpha;
        if (dropout->count())
            s.loraDropout = args.dropout;
        if (targets->count())
            s.targetModules = splitList(args.targets, kTargetSeparators);
        if (quant->count())
            s.quant = parseChoice<WeightQuant>(args.quant, "--quant");
        if (doubleQuant->count())
            s.doubleQuant = args.doubleQuant;
        if (batch->count())
            s.microBatch = args.batch;
        if (accum->count())
            s.accumulation = args.accum;
        if (seq->count())
            s.seqLength = args.seq;
        if (precision->count())
            s.precision = parseChoice<Precision>(args.precision, "--precision");
        if (checkpointing->count())
            s.gradientCheckpointing = args.checkpointing;
        if (attention->count())
            s.attention = parseChoice<Attention>(args.attention, "--attn-implementation");
        if (optim->count())
            s.optimizer = parseChoice<OptimizerKind>(args.optim, "--optim");
        if (gpus->count())
            s.gpus = args.gpus;

        // The device: a GPU preset's, else --device, else the training config's, else this machine's.
        std::string device = ctx.device;
        if (device == "auto" && trainConfig)
            device = trainConfig->device;
        s.device = !args.gpu.empty()  ? (args.gpu == "cpu" ? "cpu" : "cuda")
                   : device == "auto" ? (resolveDevice("auto").is_cuda() ? "cuda" : "cpu")
                   : device == "cpu"  ? "cpu"
                                      : "cuda";
        const Budget budget = resolveBudget(args, s.device);
        if (budget.preset)
            s.cudaCapability = budget.preset->cudaCapability;
        s.validate();

        const std::string cachePath = args.calibrationCache.empty() ? defaultCalibrationPath() : args.calibrationCache;
        const std::string key = calibrationKey(modelConfig, s.device, s.attention);
        std::vector<std::string> notes;
        if (args.calibrate) {
            ctx.startRuntime();
            const double ratio = calibrate(modelDir, modelConfig, s, ctx, cachePath);
            notes.push_back("calibrated: measured activations = " + std::to_string(ratio) + " x estimated (saved in " +
                            cachePath + ")");
        }
        if (!args.noCalibration)
            if (const auto ratio = calibrationRatio(cachePath, key))
                s.activationScale = *ratio;
        if (budget.preset && !budget.preset->isCpu() && !budget.preset->bf16 && s.precision == Precision::BF16)
            notes.push_back(budget.preset->name + " has no bf16: training there needs --precision fp16 (same memory)");
        if (s.gpus > 1)
            notes.push_back("memory is per GPU: each of the " + std::to_string(s.gpus) + " replicas holds all of it");
        if (s.optimizer == OptimizerKind::PagedAdamW8bit)
            notes.push_back(
                s.device == "cuda"
                    ? "paged_adamw_8bit: the 8-bit states of tensors of 1e5+ elements live in managed memory "
                      "that can page out to host memory (counted under optimizer)"
                    : "paged_adamw_8bit pages only on CUDA; here it runs as adamw_8bit");

        const MemoryEstimate e = estimateMemory(modelConfig, s);
        const bool fits = budget.bytes && e.budgetedBytes(budget.capsAllocator) <= *budget.bytes;
        std::optional<FitSuggestion> suggestion;
        if (budget.bytes && !fits)
            suggestion = suggestFit(modelConfig, s, *budget.bytes, budget.capsAllocator);
        if (ctx.json) {
            auto json = e.toJson();
            json["budget"] = budget.bytes ? nlohmann::json(*budget.bytes) : nlohmann::json();
            json["fits"] = budget.bytes ? nlohmann::json(fits) : nlohmann::json();
            json["device"] = s.device;
            json["notes"] = notes;
            if (suggestion)
                json["suggestion"] = {{"change", suggestion->change},
                                      {"total", suggestion->estimate.total()},
                                      {"micro_batch", suggestion->settings.microBatch},
                                      {"accumulation", suggestion->settings.accumulation},
                                      {"seq", suggestion->settings.seqLength},
                                      {"checkpointing", suggestion->settings.gradientCheckpointing},
                                      {"quant", choiceName(suggestion->settings.quant)}};
            ctx.printJson(json);
        }
        printHuman(ctx.human(), e, budget, s, suggestion, notes, args.details);
    });
}

} // namespace headroom::cli
