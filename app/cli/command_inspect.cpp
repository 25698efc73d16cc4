#include "cli_context.h"

#include "headroom/model_summary.h"

namespace headroom::cli {

void addInspectCommand(CLI::App &app, CliContext &ctx) {
    auto *cmd = app.add_subcommand("inspect", "Describe an HF model folder (config, weights, tokenizer)");
    static std::string modelDir;
    cmd->add_option("MODEL_DIR", modelDir, "HF model folder")->required();
    cmd->callback([&ctx] {
        const auto summary = ModelSummary::inspect(modelDir);
        if (ctx.json) {
            ctx.printJson(summary.toJson());
            return;
        }
        const auto &c = summary.config;
        auto &out = ctx.human();
        out << "architecture      " << c.architecture << " (" << c.modelType << ")\n"
            << "parameters        " << summary.parameters << "\n"
            << "layers            " << c.numLayers << "\n"
            << "hidden size       " << c.hiddenSize << "\n"
            << "heads / kv heads  " << c.numHeads << " / " << c.numKvHeads << " (head_dim " << c.headDim << ")\n"
            << "intermediate size " << c.intermediateSize << "\n"
            << "vocab size        " << c.vocabSize << "\n"
            << "dtype             " << summary.dtype << "\n"
            << "tokenizer         " << summary.tokenizer << "\n"
            << "chat template     " << summary.chatTemplate << "\n";
        for (const auto &feature : c.features())
            out << "feature           " << feature << "\n";
        if (!summary.unusedTensors.empty())
            out << "not loaded        " << describeTensorNames(summary.unusedTensors) << "\n";
    });
}

} // namespace headroom::cli
