// headroom-cli find-batch: the largest micro-batch that fits, by real out-of-memory errors (CUDA or
// the simulated --budget / --gpu budget), and the accumulation that reaches the target effective
// batch.
#include "cli_context.h"

#include "headroom/error.h"
#include "headroom/find_batch.h"
#include "headroom/gpu_presets.h"
#include "headroom/memory.h"

namespace headroom::cli {

void addFindBatchCommand(CLI::App &app, CliContext &ctx) {
    struct Args {
        std::string config, budget, gpu;
        std::vector<std::string> overrides;
        FindBatchOptions options;
    };
    static Args args;
    auto *cmd = app.add_subcommand("find-batch", "Find the largest micro-batch that fits: real OOM on CUDA, or a "
                                                 "simulated --budget / --gpu anywhere");
    cmd->add_option("CONFIG", args.config, "training configuration (JSON)")->required();
    cmd->add_option("--set", args.overrides, "override a field: dotted.path=value (repeatable)");
    auto *budget =
        cmd->add_option("--budget", args.budget, "memory budget (e.g. 6GiB): a try past it runs out of memory");
    cmd->add_option("--gpu", args.gpu, "plan for this card's memory: " + gpuPresetNameList())->excludes(budget);
    cmd->add_option("--target-effective-batch", args.options.targetEffectiveBatch,
                    "effective batch to reach: micro-batch x accumulation x GPUs")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->add_option("--gpus", args.options.gpus, "data-parallel GPUs in the effective batch")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->add_option("--max", args.options.maxMicroBatch, "largest micro-batch to try")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->add_option("--steps", args.options.steps, "optimizer steps per try")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->callback([&ctx] {
        auto config = loadTrainConfig(args.config, args.overrides, ctx);
        args.options.budgetBytes = parseBudgetFlags(args.budget, args.gpu);
        ctx.startRuntime();
        auto &out = ctx.human();
        args.options.onTry = [&out](const FindBatchTry &t) {
            out << "micro-batch " << t.microBatch << ": "
                << (t.fits ? "fits, peak " + formatBytes(t.peakBytes) : "out of memory") << std::endl;
        };
        const auto result = findMaxMicroBatch(config, args.options);
        if (ctx.json)
            ctx.printJson(result.toJson());
        if (result.maxMicroBatch == 0)
            throw runtimeFailure("find-batch: micro-batch 1 does not fit at max_seq_length " +
                                 std::to_string(config.dataset.maxSeqLength) +
                                 "; try `headroom-cli estimate --config " + args.config +
                                 "` for what would (shorter rows, checkpointing, 4-bit weights)");
        out << "largest micro-batch " << result.maxMicroBatch << " (the estimate suggested " << result.startMicroBatch
            << "); with gradient accumulation " << result.gradientAccumulationSteps << " on " << args.options.gpus
            << " GPU(s) the effective batch is " << result.effectiveBatch << " (target "
            << args.options.targetEffectiveBatch << ")" << std::endl;
    });
}

} // namespace headroom::cli
