#include "cli_context.h"

#include "headroom/chat_template.h"
#include "headroom/error.h"
#include "headroom/model_summary.h"

namespace headroom::cli {

namespace {

// The family and what renders conversations: the folder's own template (and the file it is in), or
// the built-in plain format; a template the interpreter refuses says why.
std::string chatTemplateLine(const std::string &modelDir, const std::string &family) {
    if (family == "none")
        return "none (conversations are rendered in the built-in plain format)";
    try {
        return ChatTemplate::forModel(modelDir).description();
    } catch (const Error &e) {
        return family + " (its Jinja template cannot be used: " + e.what() + ")";
    }
}

} // namespace

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
            << "chat template     " << chatTemplateLine(modelDir, summary.chatTemplate) << "\n";
        for (const auto &feature : c.features())
            out << "feature           " << feature << "\n";
        if (!summary.unusedTensors.empty())
            out << "not loaded        " << describeTensorNames(summary.unusedTensors) << "\n";
    });
}

} // namespace headroom::cli
