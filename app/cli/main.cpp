// headroom-cli: parses the command line and maps every failure to docs/contracts.md's exit codes
// (2 invalid input, 1 runtime failure) with one "error: " line on stderr.
#include <cstdio>
#include <string>

#include "cli_context.h"
#include "crash_report.h"
#include "headroom/error.h"

namespace {

// One write per line, so the lines of several worker processes (train --nproc) never interleave.
void printError(const std::string &message) {
    const std::string line = "error: " + message + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

} // namespace

int main(int argc, char **argv) {
    using namespace headroom;
    cli::installCrashReport(argc, argv);
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
            printError("unknown subcommand '" + std::string(argv[1]) + "' (see --help for the list)");
            return 2;
        }
        printError(std::string(e.what()) + " (see --help)");
        return 2;
    } catch (const CLI::ParseError &e) {
        printError(std::string(e.what()) + " (see --help)");
        return 2;
    } catch (const Error &e) {
        printError(std::string(e.what()));
        return e.exitCode();
    } catch (const std::bad_alloc &) {
        printError("out of memory");
        return 1;
    } catch (const c10::Error &e) {
        printError(std::string(e.what_without_backtrace()));
        return 1;
    } catch (const std::exception &e) {
        printError(std::string(e.what()));
        return 1;
    }
}
