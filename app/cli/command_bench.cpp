#include "cli_context.h"

#include <cstdio>
#include <functional>
#include <ostream>
#include <sstream>

#include "headroom/bench.h"
#include "headroom/error.h"
#include "headroom/gpu_presets.h"
#include "headroom/memory.h"

namespace headroom::cli {

namespace {

// One sweepable flag: its values as given, and how one value changes the configuration. Values are
// separated by commas; --targets, whose one value is itself a comma list, separates them by ";".
// An on/off flag is also given as --NAME (on) or --no-NAME (off), as in estimate.
struct SweepFlag {
    std::string name;
    std::string values;
    std::function<void(TrainConfig &, int64_t &seq, const std::string &)> apply;
    bool onOff = false;
    std::string separator = ",";
};

int64_t integer(const std::string &flag, const std::string &v) {
    size_t used = 0;
    int64_t n = 0;
    try {
        n = std::stoll(v, &used);
    } catch (const std::exception &) {
        used = 0;
    }
    if (used == 0 || used != v.size() || n < 1)
        throw invalidInput("--" + flag + ": '" + v + "' is not a positive integer");
    return n;
}

bool onOff(const std::string &flag, const std::string &v) {
    if (v == "on" || v == "true" || v == "1")
        return true;
    if (v == "off" || v == "false" || v == "0")
        return false;
    throw invalidInput("--" + flag + ": '" + v + "' is not on or off");
}

// The profile's headline: the kernels' busy time against the steps' wall time, and what took longest.
void printProfile(std::ostream &out, const StepProfile &profile, const std::string &path) {
    const double wallMs = profile.wallSeconds * 1000 / profile.steps;
    char line[512];
    const bool kernels = !profile.kernels.empty();
    if (kernels)
        std::snprintf(line, sizeof line,
                      "profile: %.1f ms per step, GPU kernels busy %.1f ms (%.0f%%); the longest kernels:\n", wallMs,
                      profile.kernelSeconds() * 1000 / profile.steps,
                      100 * profile.kernelSeconds() / profile.wallSeconds);
    else
        std::snprintf(line, sizeof line, "profile: %.1f ms per step; the operators with the most self time:\n", wallMs);
    out << line;
    const auto &events = kernels ? profile.kernels : profile.operators;
    for (size_t i = 0; i < events.size() && i < 8; ++i) {
        const auto &e = events[i];
        std::snprintf(line, sizeof line, "  %8.2f ms %5.1f%% %6lld calls  %.120s\n",
                      e.selfMicros / 1000 / profile.steps, 100 * e.selfMicros / 1e6 / profile.wallSeconds,
                      static_cast<long long>(e.calls / profile.steps), e.name.c_str());
        out << line;
    }
    out << "profile written to " << path << (profile.tracePath.empty() ? "" : ", trace to " + profile.tracePath)
        << "\n";
}

} // namespace

void addBenchCommand(CLI::App &app, CliContext &ctx) {
    struct Args {
        std::string model, budget, gpu, profile;
        int steps = 3, warmup = 1;
        std::vector<SweepFlag> flags;
    };
    static Args args;
    args.flags = {
        {"r", "16", [](TrainConfig &c, int64_t &, const std::string &v) { c.lora.r = integer("r", v); }},
        {"lora-alpha", "32", [](TrainConfig &c, int64_t &, const std::string &v) { c.lora.loraAlpha = std::stod(v); }},
        {"lora-dropout", "0.05",
         [](TrainConfig &c, int64_t &, const std::string &v) { c.lora.loraDropout = std::stod(v); }},
        {"targets", "q_proj,k_proj,v_proj,o_proj",
         [](TrainConfig &c, int64_t &, const std::string &v) {
             c.lora.targetModules = splitList(v, kTargetSeparators);
         },
         false, ";"},
        {"quant", "nf4",
         [](TrainConfig &c, int64_t &, const std::string &v) {
             c.setWeightQuant(parseChoice<WeightQuant>(v, "--quant"));
         }},
        {"double-quant", "on",
         [](TrainConfig &c, int64_t &, const std::string &v) {
             c.quantization.useDoubleQuant = onOff("double-quant", v);
         },
         true},
        {"batch", "1",
         [](TrainConfig &c, int64_t &, const std::string &v) {
             c.training.perDeviceTrainBatchSize = integer("batch", v);
         }},
        {"accum", "1",
         [](TrainConfig &c, int64_t &, const std::string &v) {
             c.training.gradientAccumulationSteps = integer("accum", v);
         }},
        {"seq", "512", [](TrainConfig &, int64_t &seq, const std::string &v) { seq = integer("seq", v); }},
        {"precision", "bf16",
         [](TrainConfig &c, int64_t &, const std::string &v) {
             c.setPrecision(parseChoice<Precision>(v, "--precision"));
         }},
        {"checkpointing", "on",
         [](TrainConfig &c, int64_t &, const std::string &v) {
             c.training.gradientCheckpointing = onOff("checkpointing", v);
         },
         true},
        {"attn-implementation", "sdpa",
         [](TrainConfig &c, int64_t &, const std::string &v) {
             c.attnImplementation = parseChoice<Attention>(v, "--attn-implementation");
         }},
        {"optim", "adamw_8bit",
         [](TrainConfig &c, int64_t &, const std::string &v) {
             c.training.optim = parseChoice<OptimizerKind>(v, "--optim");
         }},
    };
    auto *cmd =
        app.add_subcommand("bench", "Time training steps; any setting may be a comma list to sweep "
                                    "(e.g. --checkpointing on,off --batch 1,2,4; --targets q_proj,v_proj;all-linear)");
    cmd->add_option("--model", args.model, "HF model folder (no tokenizer needed)")->required();
    for (auto &flag : args.flags) {
        auto *option =
            cmd->add_option("--" + flag.name, flag.values,
                            flag.separator == "," ? "comma list" : "\"" + flag.separator + "\"-separated list")
                ->capture_default_str();
        if (flag.onOff) {
            option->expected(0, 1)->default_str("on"); // --NAME alone is on
            cmd->add_flag_callback(
                   "--no-" + flag.name, [&flag] { flag.values = "off"; }, "the same as --" + flag.name + " off")
                ->excludes(option);
        }
    }
    cmd->add_option("--steps", args.steps, "timed optimizer steps per setting")->capture_default_str();
    cmd->add_option("--warmup", args.warmup, "untimed steps first")->capture_default_str();
    auto *budget =
        cmd->add_option("--budget", args.budget, "memory budget (e.g. 16GiB): a setting past it runs out of memory");
    cmd->add_option("--gpu", args.gpu, "budget of this card's memory: " + gpuPresetNameList())->excludes(budget);
    cmd->add_option("--profile", args.profile,
                    "profile the timed steps of one setting: time per CPU operator and CUDA kernel as JSON in "
                    "FILE, a Chrome trace in FILE.trace.json where LibTorch has Kineto");
    cmd->callback([&ctx] {
        ctx.startRuntime();
        TrainConfig base;
        parseBudgetFlags(args.budget, args.gpu); // refuses a bad value before any run
        base.training.memoryBudget = args.gpu.empty() ? args.budget : args.gpu;
        base.model = args.model;
        base.device = ctx.device;
        base.threads = ctx.threads;
        base.dataset.path = "(random tokens)";
        // Cartesian product of every flag's values, first flag varying slowest.
        std::vector<std::vector<std::string>> values;
        for (const auto &flag : args.flags)
            values.push_back(splitList(flag.values, flag.separator));
        checkBenchSteps(args.steps, args.warmup, !args.profile.empty());
        if (!args.profile.empty())
            for (size_t i = 0; i < values.size(); ++i)
                if (values[i].size() > 1)
                    throw invalidInput("--profile: profiles one setting, but --" + args.flags[i].name + " lists " +
                                       std::to_string(values[i].size()) + " values");
        // Every combination is built and checked before the table starts, so a bad value prints
        // only its error.
        struct Setting {
            TrainConfig config;
            int64_t seq = 512;
            nlohmann::json settings;
        };
        std::vector<Setting> sweep;
        for (std::vector<size_t> index(values.size(), 0);;) {
            Setting setting{base};
            for (size_t i = 0; i < values.size(); ++i) {
                const auto &v = values[i][index[i]];
                args.flags[i].apply(setting.config, setting.seq, v);
                if (values[i].size() > 1)
                    setting.settings[args.flags[i].name] = v;
            }
            setting.config.validate("bench");
            sweep.push_back(std::move(setting));
            size_t i = values.size();
            while (i > 0 && ++index[i - 1] == values[i - 1].size())
                index[--i] = 0;
            if (i == 0)
                break;
        }
        nlohmann::json rows = nlohmann::json::array();
        auto &out = ctx.human();
        out << "tokens/s   step s   peak        weights     activations  settings\n";
        for (const auto &setting : sweep) {
            const auto row =
                benchTraining(setting.config, setting.seq, args.steps, args.warmup, setting.settings, args.profile);
            rows.push_back(row.toJson());
            char line[256];
            if (row.error.empty())
                std::snprintf(line, sizeof line, "%8.0f %8.3f   %-11s %-11s %-12s ", row.tokensPerSecond,
                              row.stepSeconds, formatBytes(row.peakBytes).c_str(),
                              formatBytes(row.bytes.weights).c_str(), formatBytes(row.bytes.activations).c_str());
            else
                std::snprintf(line, sizeof line, "%-58s ", "  out of memory");
            out << line << setting.settings.dump() << std::endl;
            if (row.profile)
                printProfile(out, *row.profile, args.profile);
            else if (!args.profile.empty())
                throw runtimeFailure("--profile: no profile written, the setting did not run: " + row.error);
        }
        if (ctx.json)
            ctx.printJson(rows);
    });
}

} // namespace headroom::cli
