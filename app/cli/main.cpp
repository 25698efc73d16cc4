// headroom-cli: parses the command line and maps every failure to interfaces.md's exit codes
// (2 invalid input, 1 runtime failure) with one "error: " line on stderr.
#include <iostream>

#include "cli_context.h"
#include "headroom/error.h"

int main(int argc, char **argv) {
    using namespace headroom;
    CLI::App app{"Headroom: fine-tune language models on your own workstation (engine CLI)", "headroom-cli"};
    app.require_subcommand(1);
    app.fallthrough();
    cli::CliContext ctx;
    app.add_option("--device", ctx.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
    app.add_option("--threads", ctx.threads, "LibTorch threads (0 = all cores)")->capture_default_str();
    app.add_flag("--json", ctx.json, "machine-readable result on stdout, human text on stderr");
    cli::addInspectCommand(app, ctx);
    cli::addTokenizeCommands(app, ctx);
    cli::addForwardCommand(app, ctx);
    cli::addGenerateCommand(app, ctx);
    cli::addMakeDemoCommand(app, ctx);
    cli::addTrainCommand(app, ctx);
    cli::addMakeModelCommand(app, ctx);
    cli::addBenchCommand(app, ctx);
    cli::addEstimateCommand(app, ctx);
    cli::addExportCommand(app, ctx);
    cli::addFindBatchCommand(app, ctx);
    try {
        app.parse(argc, argv);
        return 0;
    } catch (const CLI::CallForHelp &e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp &e) {
        return app.exit(e);
    } catch (const CLI::RequiredError &e) {
        // CLI11 reports a missing subcommand before an unknown one; name the unknown word instead.
        if (argc > 1 && argv[1][0] != '-' && !app.get_subcommands().size()) {
            std::cerr << "error: unknown subcommand '" << argv[1] << "' (see --help for the list)" << std::endl;
            return 2;
        }
        std::cerr << "error: " << e.what() << " (see --help)" << std::endl;
        return 2;
    } catch (const CLI::ParseError &e) {
        std::cerr << "error: " << e.what() << " (see --help)" << std::endl;
        return 2;
    } catch (const Error &e) {
        std::cerr << "error: " << e.what() << std::endl;
        return e.exitCode();
    } catch (const std::bad_alloc &) {
        std::cerr << "error: out of memory" << std::endl;
        return 1;
    } catch (const c10::Error &e) {
        std::cerr << "error: " << e.what_without_backtrace() << std::endl;
        return 1;
    } catch (const std::exception &e) {
        std::cerr << "error: " << e.what() << std::endl;
        return 1;
    }
}
