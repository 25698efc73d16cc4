#include "cli_context.h"

#include <fstream>

#include "headroom/error.h"
#include "headroom/random_model.h"

namespace headroom::cli {

void addMakeModelCommand(CLI::App &app, CliContext &ctx) {
    struct Args {
        std::string config, dir;
        RandomModelOptions options;
    };
    static Args args;
    auto *cmd =
        app.add_subcommand("make-model", "Write an HF model folder with random weights for a config.json "
                                         "(benchmarks and labs: a model shaped like one you have not downloaded)");
    cmd->add_option("CONFIG", args.config, "an HF config.json")->required();
    cmd->add_option("DIR", args.dir, "folder to write config.json and model.safetensors into")->required();
    cmd->add_option("--dtype", args.options.dtype, "storage dtype: float32, bfloat16, float16")->capture_default_str();
    cmd->add_option("--seed", args.options.seed, "random seed")->capture_default_str();
    cmd->callback([&ctx] {
        ctx.startRuntime();
        std::ifstream in(args.config);
        if (!in)
            throw invalidInput(args.config + ": cannot read");
        nlohmann::json json;
        try {
            json = nlohmann::json::parse(in);
        } catch (const nlohmann::json::parse_error &e) {
            throw invalidInput(args.config + ": not valid JSON (" + std::string(e.what()) + ")");
        }
        writeRandomModel(json, args.dir, args.options);
        if (ctx.json)
            ctx.printJson({{"model_dir", args.dir}});
        else
            ctx.human() << "wrote a random " << args.options.dtype << " model to " << args.dir << "\n";
    });
}

} // namespace headroom::cli
