#include "cli_context.h"

#include "headroom/adapter_io.h"
#include "headroom/attention.h"
#include "headroom/causal_lm.h"
#include "headroom/error.h"
#include "headroom/safetensors.h"

namespace headroom::cli {

void addForwardCommand(CLI::App &app, CliContext &ctx) {
    struct Args {
        std::string modelDir, ids, out, dtype = "float32", adapter, quant = "none", attention = "sdpa";
        bool doubleQuant = true;
    };
    static Args args;
    auto *cmd = app.add_subcommand("forward", "One forward pass; writes the logits as safetensors");
    cmd->add_option("MODEL_DIR", args.modelDir, "HF model folder")->required();
    cmd->add_option("--ids", args.ids, "comma-separated input ids")->required();
    cmd->add_option("--out", args.out, "output .safetensors (tensor 'logits', float32, [T, vocab])")->required();
    cmd->add_option("--dtype", args.dtype, "compute dtype: float32, bfloat16, float16")->capture_default_str();
    cmd->add_option("--adapter", args.adapter, "LoRA adapter folder (PEFT layout) applied on top");
    cmd->add_option("--quant", args.quant, "4-bit base weights: none, nf4, fp4")
        ->capture_default_str()
        ->check(CLI::IsMember(choiceNames<WeightQuant>()));
    cmd->add_flag("--double-quant,!--no-double-quant", args.doubleQuant, "quantize the 4-bit block scales too")
        ->capture_default_str();
    cmd->add_option("--attn-implementation", args.attention, "attention: sdpa (fused) or eager")
        ->capture_default_str()
        ->check(CLI::IsMember(choiceNames<Attention>()));
    cmd->callback([&ctx] {
        const auto dtype = parseComputeDtype(args.dtype, "--dtype");
        const auto ids = parseIdList(args.ids, "--ids");
        const auto device = ctx.startRuntime();
        ModelLoadOptions options{dtype, device, {}, parseChoice<Attention>(args.attention, "--attn-implementation")};
        const auto quant = parseChoice<WeightQuant>(args.quant, "--quant");
        options.quantization.enabled = quant != WeightQuant::None;
        options.quantization.type = quant4TypeOf(quant);
        options.quantization.doubleQuant = args.doubleQuant;
        const auto model = CausalLM::load(args.modelDir, options);
        for (int64_t id : ids)
            if (id < 0 || id >= model->config().vocabSize)
                throw invalidInput("--ids: " + std::to_string(id) + " is outside the vocabulary [0, " +
                                   std::to_string(model->config().vocabSize) + ") of " + args.modelDir);
        if (!args.adapter.empty())
            loadAdapter(*model, args.adapter);
        torch::NoGradGuard noGrad;
        auto logits = model->forward(torch::tensor(ids, torch::kLong).view({1, -1}))[0]
                          .to(torch::kCPU, torch::kFloat32)
                          .contiguous();
        writeSafetensors(args.out, {{"logits", {Dtype::F32, logits.sizes().vec(), logits.data_ptr()}}});
        if (ctx.json)
            ctx.printJson({{"out", args.out}, {"shape", logits.sizes().vec()}});
        else
            ctx.human() << "wrote logits [" << logits.size(0) << ", " << logits.size(1) << "] to " << args.out << "\n";
    });
}

} // namespace headroom::cli
