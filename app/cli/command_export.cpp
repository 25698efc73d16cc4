#include "cli_context.h"

#include "headroom/memory.h"
#include "headroom/causal_lm.h"
#include "headroom/error.h"
#include "headroom/export.h"

namespace headroom::cli {

namespace {

void report(const CliContext &ctx, const ExportResult &result, const std::string &what) {
    if (ctx.json)
        ctx.printJson({{"path", result.path}, {"bytes", result.bytes}});
    else
        ctx.human() << "wrote " << what << " to " << result.path << " (" << formatBytes(int64_t(result.bytes)) << ")\n"
                    << "from " << result.source.adapterDir << ": " << result.source.chosen << "\n";
}

Dtype mergedDtype(const std::string &name) {
    switch (parseComputeDtype(name, "--dtype")) {
    case torch::kBFloat16: return Dtype::BF16;
    case torch::kFloat16: return Dtype::F16;
    default: return Dtype::F32;
    }
}

} // namespace

void addExportCommand(CLI::App &app, CliContext &ctx) {
    struct Args {
        std::string source, out, base, dtype = "bfloat16", maxShard = "5GB", onto = "original", outtype = "f32",
                                       ollamaFrom;
    };
    static Args args;
    auto *cmd = app.add_subcommand("export", "Export a fine-tune: PEFT adapter, merged HF model, GGUF LoRA");
    cmd->require_subcommand(1);
    const char *sourceHelp =
        "a run's output folder (its adapter/ or newest checkpoint), a checkpoint-N folder or an adapter folder";

    auto *adapter = cmd->add_subcommand("adapter", "The adapter as a PEFT folder (adapter_config.json, "
                                                   "adapter_model.safetensors, README.md)");
    adapter->add_option("SOURCE", args.source, sourceHelp)->required();
    adapter->add_option("OUT_DIR", args.out, "folder to write")->required();
    adapter->callback([&ctx] { report(ctx, exportAdapter(args.source, args.out), "the adapter"); });

    auto *merged = cmd->add_subcommand("merged", "Base + adapter folded into one HF model folder");
    merged->add_option("SOURCE", args.source, sourceHelp)->required();
    merged->add_option("OUT_DIR", args.out, "folder to write")->required();
    merged->add_option("--base", args.base,
                       "base model folder (default: adapter_config.json's base_model_name_or_path)");
    merged->add_option("--dtype", args.dtype, "bfloat16, float16 or float32")->capture_default_str();
    merged->add_option("--max-shard-size", args.maxShard, "split the weights into shards of at most this size")
        ->capture_default_str();
    merged
        ->add_option("--onto", args.onto,
                     "original: the base's stored weights; dequantized: the 4-bit weights a "
                     "QLoRA run trained against")
        ->capture_default_str()
        ->check(CLI::IsMember({"original", "dequantized"}));
    merged->callback([&ctx] {
        ctx.startRuntime(); // --threads for the matmuls
        MergedExportOptions options;
        options.baseDir = args.base;
        options.dtype = mergedDtype(args.dtype);
        const int64_t shard = parseByteSize(args.maxShard, "--max-shard-size");
        if (shard <= 0)
            throw invalidInput("--max-shard-size: must be positive");
        options.maxShardBytes = uint64_t(shard);
        options.onto = args.onto == "dequantized" ? MergeOnto::Dequantized : MergeOnto::Original;
        report(ctx, exportMerged(args.source, args.out, options), "the merged model");
    });

    auto *gguf =
        cmd->add_subcommand("gguf-lora", "The adapter as a GGUF LoRA for llama.cpp, plus an Ollama NAME.Modelfile");
    gguf->add_option("SOURCE", args.source, sourceHelp)->required();
    gguf->add_option("OUT_GGUF", args.out, "the .gguf file to write (NAME.Modelfile goes beside it)")->required();
    gguf->add_option("--base", args.base, "base model folder, for its config.json (default: base_model_name_or_path)");
    gguf->add_option("--outtype", args.outtype, "tensor data: f32 or f16")
        ->capture_default_str()
        ->check(CLI::IsMember({"f32", "f16"}));
    gguf->add_option("--ollama-from", args.ollamaFrom, "the Modelfile's FROM (default: the base model's name)");
    gguf->callback([&ctx] {
        GgufLoraOptions options;
        options.baseDir = args.base;
        options.f16 = args.outtype == "f16";
        options.ollamaFrom = args.ollamaFrom;
        report(ctx, exportGgufLora(args.source, args.out, options), "the GGUF LoRA");
    });
}

} // namespace headroom::cli
