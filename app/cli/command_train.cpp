#include "cli_context.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

#include "headroom/distributed.h"
#include "headroom/error.h"
#include "headroom/mixed_precision.h"
#include "headroom/runtime.h"
#include "headroom/trainer.h"
#include "headroom/training_sinks.h"

namespace headroom::cli {

namespace {

// Ctrl-C (or SIGTERM) that the run cannot turn into a stop ends the process with one "error: "
// line, and then by the signal, as it would have ended without a handler.
const char *volatile g_interruptLine = ""; // set by a handler, read by the next one

void sayAndEnd(int signal) {
    const ssize_t written = ::write(STDERR_FILENO, g_interruptLine, std::strlen(g_interruptLine));
    (void)written; // nothing is left to do about a failed write here
    std::signal(signal, SIG_DFL);
    std::raise(signal);
}

void endOnInterrupt(const char *line) {
    g_interruptLine = line;
    std::signal(SIGINT, sayAndEnd);
    std::signal(SIGTERM, sayAndEnd);
}

// Much of `train`'s start-up is LibTorch initialising itself before main(), where a Ctrl-C ended the
// process without a word. .preinit_array runs before any library's initialisers (only the loading of
// the libraries comes earlier), so the line is there from then on; other subcommands keep the
// default.
void sayWhenInterruptedWhileStarting(int argc, char **argv, char **) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--device") == 0 || std::strcmp(argv[i], "--threads") == 0)
            ++i;
        else if (argv[i][0] != '-') {
            if (std::strcmp(argv[i], "train") == 0)
                endOnInterrupt("error: interrupted while starting; nothing was trained or written\n");
            return;
        }
    }
}
__attribute__((section(".preinit_array"), used)) void (*g_preinit)(int, char **,
                                                                   char **) = sayWhenInterruptedWhileStarting;

std::atomic<bool> g_interrupted{false};

void onInterrupt(int) {
    g_interrupted = true;
    // A second Ctrl-C (or SIGTERM) ends the process at once.
    endOnInterrupt("error: interrupted again: quit at once (the last complete checkpoint stands)\n");
}

// Turns Ctrl-C, and SIGTERM (Slurm, a GUI, `--nproc`'s launcher when it dies), into a stop request:
// while loading, the run ends before its first step and the error line says so; once it trains, it
// writes a checkpoint and returns, which this line announces (a checkpoint can take a while).
class InterruptWatcher {
public:
    InterruptWatcher()
        : m_thread([this] {
              while (!m_done) {
                  if (g_interrupted.exchange(false)) {
                      if (m_trainingStarted)
                          std::fprintf(stderr,
                                       "\nstopping after writing a checkpoint (Ctrl-C again to quit at once)\n");
                      m_control.requestStop();
                  }
                  std::this_thread::sleep_for(std::chrono::milliseconds(20)); // a stop while loading comes sooner
              }
          }) {
        std::signal(SIGINT, onInterrupt);
        std::signal(SIGTERM, onInterrupt);
    }
    ~InterruptWatcher() {
        std::signal(SIGINT, SIG_DFL);
        std::signal(SIGTERM, SIG_DFL);
        m_done = true;
        m_thread.join();
    }
    TrainingControl &control() { return m_control; }
    // The run reached its first step (TrainingObserver::onRunStart).
    void trainingStarted() { m_trainingStarted = true; }
    bool hasTrainingStarted() const { return m_trainingStarted; }

private:
    TrainingControl m_control;
    std::atomic<bool> m_done{false}, m_trainingStarted{false};
    std::thread m_thread; // last: it uses the members above
};

// Tells the watcher when the run starts training.
class StartNotice : public TrainingObserver {
public:
    explicit StartNotice(InterruptWatcher &watcher) : m_watcher(watcher) {}
    void onRunStart(const RunStartEvent &) override { m_watcher.trainingStarted(); }

private:
    InterruptWatcher &m_watcher;
};

// Trains in this process: alone, or as one rank of a process group when a launcher set WORLD_SIZE
// (also WORLD_SIZE=1, e.g. `--nproc 1`, which exercises the process group on one device).
void trainInThisProcess(TrainConfig config, bool cuda, const std::optional<DistributedEnv> &env,
                        const ResumeRequest &request, CliContext &ctx) {
    std::unique_ptr<DistributedContext> distributed;
    if (env && (env->worldSize > 1 || processGroupSupported(cuda))) {
        if (cuda) {
            if (env->localRank >= cudaDeviceCount())
                throw invalidInput("LOCAL_RANK=" + std::to_string(env->localRank) + " but this process sees " +
                                   std::to_string(cudaDeviceCount()) + " CUDA devices (check CUDA_VISIBLE_DEVICES)");
            config.device = "cuda:" + std::to_string(env->localRank);
        }
        distributed = DistributedContext::connect(*env, cuda, std::chrono::seconds(config.training.ddpTimeout));
        if (distributed->isMain())
            std::fprintf(stderr, "data parallel: %d ranks, %s process group, rank 0 on %s\n", distributed->worldSize(),
                         distributed->backendName(), resolveDevice(config.device).str().c_str());
    }
    const bool main = !distributed || distributed->isMain();

    InterruptWatcher watcher;
    ConsoleProgressSink console(stderr, config.training.loggingSteps);
    StartNotice startNotice(watcher);
    ObserverFanout observers;
    observers.add(&startNotice);
    if (main) // ranks other than 0 report only through their exit code and error line
        observers.add(&console);
    const TrainSummary summary = runTraining(config, observers, &watcher.control(), request, distributed.get());
    if (ctx.json && main)
        ctx.printJson(summary.toJson());
    if (summary.stopped && !watcher.hasTrainingStarted())
        throw runtimeFailure("interrupted while starting; nothing was trained");
    if (summary.stopped)
        throw runtimeFailure(
            "interrupted at step " + std::to_string(summary.steps) +
            (summary.checkpointDir.empty() ? "" : "; resume with --resume (checkpoint " + summary.checkpointDir + ")"));
}

} // namespace

void addTrainCommand(CLI::App &app, CliContext &ctx) {
    struct Args {
        std::string config;
        std::vector<std::string> overrides;
        std::string resumeDir;
        std::string precision, budget;
        int64_t maxSteps = 0;
        int nproc = 0;
        bool overwrite = false;
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
                    "or fp16; sets training.bf16/fp16 and quantization.bnb_4bit_compute_dtype")
        ->check(CLI::IsMember({"auto", "fp32", "bf16", "fp16"}));
    cmd->add_option("--nproc", args.nproc,
                    "data-parallel worker processes on this machine (one per GPU, or CPU workers with Gloo); "
                    "workers started by torchrun or Slurm read RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT instead")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--budget", args.budget,
                    "memory budget: a GPU preset (t4, ...) or a size (6GiB); a step past it runs out of memory as on "
                    "that card (sets training.memory_budget)");
    cmd->add_flag("--overwrite", args.overwrite,
                  "start afresh in an output_dir that holds an earlier run, which is moved aside to "
                  "<output_dir>.old-<time>, never deleted (sets training.overwrite_output_dir)");
    cmd->callback([&ctx, resume] {
        if (args.overwrite && resume->count() > 0)
            throw invalidInput("--overwrite and --resume: --resume continues the run in output_dir, --overwrite moves "
                               "it aside to start afresh; give one of them");
        auto config = loadTrainConfig(args.config, args.overrides, ctx);
        if (args.overwrite)
            config.training.overwriteOutputDir = true;
        if (args.maxSteps > 0)
            config.training.maxSteps = args.maxSteps;
        if (!args.budget.empty())
            config.training.memoryBudget = args.budget;
        if (!args.precision.empty()) {
            std::string reason;
            const Precision chosen = args.precision == "auto" ? autoPrecision(resolveDevice(config.device), &reason)
                                                              : parseChoice<Precision>(args.precision, "--precision");
            config.setPrecision(chosen);
            if (!reason.empty())
                std::fprintf(stderr, "precision %s: %s\n", choiceName(chosen), reason.c_str());
        }
        config.validate(args.config);

        // A process that finds WORLD_SIZE set is a worker (of --nproc, torchrun or Slurm).
        const auto env = DistributedEnv::fromEnvironment();
        if (env && args.nproc > 0 && args.nproc != env->worldSize)
            throw invalidInput("--nproc " + std::to_string(args.nproc) + " but the environment says WORLD_SIZE=" +
                               std::to_string(env->worldSize) + " (drop --nproc under torchrun or Slurm)");
        // --nproc 1 also goes through a launcher and a process group (a smoke test of the backend);
        // without one for the device it simply trains here.
        const bool cuda = resolveDevice(config.device).is_cuda();
        if (!env && (args.nproc > 1 || (args.nproc == 1 && processGroupSupported(cuda)))) {
            if (!processGroupSupported(cuda))
                throw invalidInput(multiProcessUnsupported("--nproc " + std::to_string(args.nproc), cuda));
            if (cuda && args.nproc > cudaDeviceCount())
                throw invalidInput("--nproc " + std::to_string(args.nproc) +
                                   ": one process per GPU, and this machine has " + std::to_string(cudaDeviceCount()) +
                                   " CUDA devices (use --nproc " + std::to_string(cudaDeviceCount()) +
                                   ", or --device cpu for CPU workers)");
            // Time for the others to hit their own timeout and say so before they are terminated.
            const int grace = int(std::min<int64_t>(config.training.ddpTimeout + 5, 60));
            const auto launched = launchLocalWorkers(args.nproc, grace);
            if (launched.exitCode == 0)
                return;
            const std::string message = launched.failure +
                                        "; the run ended (--resume continues from the latest "
                                        "complete checkpoint in " +
                                        config.training.outputDir + ", if one was written)";
            throw launched.exitCode == 2 ? invalidInput(message) : runtimeFailure(message);
        }
        ResumeRequest request;
        request.resume = resume->count() > 0;
        request.checkpointDir = args.resumeDir;
        try {
            trainInThisProcess(config, cuda, env, request, ctx);
        } catch (const PeerLost &e) {
            if (!std::getenv(kLocalWorkerVariable))
                throw;
            // The launcher reads this exit code as "not the cause" (the context is closed by now).
            std::fprintf(stderr, "error: %s\n", e.what());
            std::fflush(stderr);
            std::exit(kPeerLostExitCode);
        }
    });
}

} // namespace headroom::cli
