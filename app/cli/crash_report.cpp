#include "crash_report.h"

#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>

namespace headroom::cli {
namespace {

// Written at start-up, only read in the handler, which may call async-signal-safe functions alone
// (write, backtrace_symbols_fd, raise): no allocation, no stdio.
char g_command[160];

void writeText(const char *text) {
    const size_t size = std::strlen(text);
    for (size_t done = 0; done < size;) {
        const ssize_t n = ::write(STDERR_FILENO, text + done, size - done);
        if (n <= 0)
            return;
        done += size_t(n);
    }
}

const char *signalName(int signal) {
    switch (signal) {
    case SIGSEGV: return "segmentation fault";
    case SIGBUS: return "bus error";
    case SIGFPE: return "arithmetic exception";
    case SIGILL: return "illegal instruction";
    default: return "fatal signal";
    }
}

void onFatalSignal(int signal) {
    const char number[3] = {char('0' + signal / 10 % 10), char('0' + signal % 10), '\0'};
    writeText("error: ");
    writeText(g_command);
    writeText(" crashed: ");
    writeText(signalName(signal));
    writeText(" (signal ");
    writeText(signal >= 10 ? number : number + 1);
    writeText("; backtrace follows)\n");
    void *frames[64];
    backtrace_symbols_fd(frames, backtrace(frames, 64), STDERR_FILENO);
    ::raise(signal); // SA_RESETHAND restored the default action: the process ends by the signal
}

} // namespace

void installCrashReport(int argc, char **argv) {
    // The program and its subcommand, e.g. "headroom-cli train" (the first word that is neither an
    // option nor the value of --device/--threads).
    std::strncpy(g_command, "headroom-cli", sizeof g_command - 1);
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--device") == 0 || std::strcmp(argv[i], "--threads") == 0) {
            ++i;
            continue;
        }
        if (argv[i][0] != '-') {
            std::strncat(g_command, " ", sizeof g_command - std::strlen(g_command) - 1);
            std::strncat(g_command, argv[i], sizeof g_command - std::strlen(g_command) - 1);
            break;
        }
    }
    // backtrace() loads libgcc on its first call, which is not safe inside a signal handler.
    void *frame;
    backtrace(&frame, 1);
    struct sigaction action {};
    action.sa_handler = onFatalSignal;
    action.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    for (int signal : {SIGSEGV, SIGBUS, SIGFPE, SIGILL})
        sigaction(signal, &action, nullptr);
}

} // namespace headroom::cli
