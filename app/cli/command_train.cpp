#include "cli_context.h"

#include <atomic>
#include <csignal>
#include <thread>

#include "headroom/error.h"
#include "headroom/mixed_precision.h"
#include "headroom/runtime.h"
#include "headroom/trainer.h"
#include "headroom/training_sinks.h"

namespace headroom::cli {

namespace {

std::atomic<bool> g_interrupted{false};

void onInterrupt(int) {
    g_interrupted = true;
    std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}

// Turns Ctrl-C into a stop request (the trainer then writes a checkpoint and returns).
class InterruptWatcher {
public:
    explicit InterruptWatcher(TrainingControl &control) : m_thread([this, &control] {
        while (!m_done) {
            if (g_interrupted.exchange(false)) {
                std::fprintf(stderr, "\nstopping after writing a checkpoint (Ctrl-C again to quit at once)\n");
                control.requestStop();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }) {
        std::signal(SIGINT, onInterrupt);
    }
    ~InterruptWatcher() {
        std::signal(SIGINT, SIG_DFL);
        m_done = true;
        m_thread.join();
    }

private:
    std::atomic<bool> m_done{false};
    std::thread m_thread;
};

} // namespace

void addTrainCommand(CLI::App &app, CliContext &ctx) {
    struct Args {
        std::string config;
        std::vector<std::string> overrides;
        std::string resumeDir;
        std::string precision;
        int64_t maxSteps = 0;
    };
    static Args args;
    auto *cmd = app.add_subcommand("train", "Fine-tune a LoRA/QLoRA adapter as CONFIG.json says");
    cmd->add_option("CONFIG", args.config, "training configuration (JSON)")->required();
    cmd->add_option("--set", args.overrides, "override a field: dotted.path=value (repeatable)");
    auto *resume = cmd->add_option("--resume", args.resumeDir,
                                   "resume from CKPT_DIR, or without a value from the latest checkpoint in output_dir")
                       ->expected(0, 1);
    cmd->add_option("--max-steps", args.maxSteps, "stop after N optimizer steps (overrides training.max_steps)")
        ->check(CLI::Validator(
            [](std::string &value) {
                return value.find_first_not_of("0123456789") == std::string::npos && !value.empty() &&
                               value.find_first_not_of('0') != std::string::npos
                           ? std::string()
                           : "must be a positive integer, got '" + value + "'";
            },
            "POSITIVE"));
    cmd->add_option("--precision", args.precision,
                    "auto (bf16 where the device computes it natively, fp16 on older GPUs, else fp32), fp32, bf16 "
                    "or fp16; sets training.bf16/fp16")
        ->check(CLI::IsMember({"auto", "fp32", "bf16", "fp16"}));
    cmd->callback([&ctx, resume] {
        auto config = TrainConfig::fromFile(args.config);
        for (const auto &assignment : args.overrides)
            config.applyOverride(assignment);
        if (args.maxSteps > 0)
            config.training.maxSteps = args.maxSteps;
        if (ctx.device != "auto")
            config.device = ctx.device;
        if (ctx.threads > 0)
            config.threads = ctx.threads;
        if (!args.precision.empty()) {
            std::string reason;
            const Precision chosen = args.precision == "auto" ? autoPrecision(resolveDevice(config.device), &reason)
                                   : args.precision == "bf16" ? Precision::BF16
                                   : args.precision == "fp16" ? Precision::FP16
                                                              : Precision::FP32;
            config.training.bf16 = chosen == Precision::BF16;
            config.training.fp16 = chosen == Precision::FP16;
            if (!reason.empty())
                std::fprintf(stderr, "precision %s: %s\n", precisionName(chosen).c_str(), reason.c_str());
        }
        config.validate(args.config);

        ConsoleProgressSink console(stderr, config.training.loggingSteps);
        TrainingControl control;
        ResumeRequest request;
        request.resume = resume->count() > 0;
        request.checkpointDir = args.resumeDir;
        TrainSummary summary;
        {
            InterruptWatcher watcher(control);
            summary = runTraining(config, console, &control, request);
        }
        if (ctx.json)
            ctx.printJson(summary.toJson());
        if (summary.stopped)
            throw runtimeFailure("interrupted at step " + std::to_string(summary.steps) +
                                 (summary.checkpointDir.empty() ? "" : "; resume with --resume (checkpoint " +
                                                                           summary.checkpointDir + ")"));
    });
}

} // namespace headroom::cli
