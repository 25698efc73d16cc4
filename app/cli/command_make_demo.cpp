#include "cli_context.h"

#include "headroom/demo.h"

namespace headroom::cli {

void addMakeDemoCommand(CLI::App &app, CliContext &ctx) {
    static std::string dir;
    auto *cmd = app.add_subcommand("make-demo", "Write the bundled demo model and dataset into DIR");
    cmd->add_option("DIR", dir, "folder to create (an existing demo there is replaced)")->required();
    cmd->callback([&ctx] {
        ctx.startRuntime();
        const auto paths = makeDemo(dir);
        if (ctx.json)
            ctx.printJson({{"model_dir", paths.modelDir}, {"dataset", paths.dataset}, {"held_out", paths.heldOut}});
        else
            ctx.human() << "demo model:   " << paths.modelDir << "\n"
                        << "demo dataset: " << paths.dataset << "\n"
                        << "held out:     " << paths.heldOut << "\n";
    });
}

} // namespace headroom::cli
