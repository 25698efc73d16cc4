// What every subcommand of headroom-cli shares: the global options and how results are printed.
// With --json the machine-readable result goes to stdout and human text to stderr (docs/contracts.md).
#pragma once

#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "headroom/train_config.h"

namespace headroom::cli {

struct CliContext {
    std::string device = "auto";
    int threads = 0;
    bool json = false;

    // Applies --threads and resolves --device; called at the start of each command that computes.
    torch::Device startRuntime() const;
    // Human text: stdout normally, stderr under --json so stdout stays machine-readable.
    std::ostream &human() const { return json ? std::cerr : std::cout; }
    void printJson(const nlohmann::json &result) const { std::cout << result.dump() << std::endl; }
};

void addInspectCommand(CLI::App &app, CliContext &ctx);
void addTokenizeCommands(CLI::App &app, CliContext &ctx);
void addForwardCommand(CLI::App &app, CliContext &ctx);
void addGenerateCommand(CLI::App &app, CliContext &ctx);
void addMakeDemoCommand(CLI::App &app, CliContext &ctx);
void addTrainCommand(CLI::App &app, CliContext &ctx);
void addMakeModelCommand(CLI::App &app, CliContext &ctx);
void addBenchCommand(CLI::App &app, CliContext &ctx);
void addEstimateCommand(CLI::App &app, CliContext &ctx);
void addExportCommand(CLI::App &app, CliContext &ctx);
void addFindBatchCommand(CLI::App &app, CliContext &ctx);

// A training configuration as a command gets it: the file, then `--set` overrides, then the global
// --device/--threads (not validated yet: the command may still change it).
TrainConfig loadTrainConfig(const std::string &path, const std::vector<std::string> &overrides, const CliContext &ctx);

// "a,b,,c" -> {"a", "b", "c"}; any of `separators` splits.
std::vector<std::string> splitList(const std::string &text, const std::string &separators = ",");
// The flags estimate, bench and find-batch share name a setting the same way: --targets takes
// modules separated by commas (or "+"), and an on/off setting is --NAME / --no-NAME.
constexpr const char *kTargetSeparators = ",+";
// "1,2,3" -> ids; throws invalidInput naming the flag.
std::vector<int64_t> parseIdList(const std::string &text, const std::string &flag);
// The bytes of a --gpu preset or a --budget size (at most one is given); 0 for neither. Throws
// invalidInput naming the flag.
int64_t parseBudgetFlags(const std::string &budget, const std::string &gpu);

} // namespace headroom::cli
