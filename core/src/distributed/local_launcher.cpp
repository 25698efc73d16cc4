// `--nproc N`: N worker processes of this executable on this machine, with torchrun's variables.
#include "headroom/distributed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <csignal>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <thread>

#include "headroom/error.h"

namespace headroom {

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> ownCommandLine() {
    std::ifstream in("/proc/self/cmdline", std::ios::binary);
    const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> args;
    for (size_t start = 0; start < all.size();) {
        const size_t end = all.find('\0', start);
        args.push_back(all.substr(start, end - start));
        start = end == std::string::npos ? all.size() : end + 1;
    }
    if (args.empty())
        throw runtimeFailure("/proc/self/cmdline: cannot read this process's command line");
    return args;
}

// One worker's command line and environment, built before fork(): between fork and exec the child
// may only make async-signal-safe calls (the launcher may have threads), so no allocation there.
struct WorkerExec {
    std::vector<std::string> strings; // the arguments, then the environment as NAME=VALUE
    std::vector<char *> argv, envp;

    WorkerExec(const std::vector<std::string> &args, const std::map<std::string, std::string> &env) {
        strings = args;
        for (char **e = environ; *e; ++e) {
            const std::string entry = *e;
            if (!env.count(entry.substr(0, entry.find('='))))
                strings.push_back(entry);
        }
        for (const auto &[name, value] : env)
            strings.push_back(name + "=" + value);
        for (size_t i = 0; i < strings.size(); ++i)
            (i < args.size() ? argv : envp).push_back(strings[i].data());
        argv.push_back(nullptr);
        envp.push_back(nullptr);
    }
};

[[noreturn]] void execWorker(WorkerExec &worker, pid_t launcher) {
    // Its own process group: a terminal's Ctrl-C reaches the launcher only, which forwards one SIGINT.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM); // a launcher that is killed stops its workers (SIGTERM = stop)
    if (::getppid() != launcher) // it died before prctl: nobody would stop this worker
        ::_exit(1);
    struct sigaction defaults {};
    defaults.sa_handler = SIG_DFL;
    ::sigaction(SIGINT, &defaults, nullptr);
    ::sigaction(SIGTERM, &defaults, nullptr);
    ::execve("/proc/self/exe", worker.argv.data(), worker.envp.data());
    const char message[] = "error: cannot start a worker (/proc/self/exe)\n";
    [[maybe_unused]] const auto written = ::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(127);
}

volatile std::sig_atomic_t g_stopSignals = 0; // SIGINT/SIGTERM received by the launcher
void onStopSignal(int) { g_stopSignals = g_stopSignals + 1; }

// Installs onStopSignal for SIGINT and SIGTERM while it lives.
class StopSignalForwarding {
public:
    StopSignalForwarding() {
        g_stopSignals = 0;
        struct sigaction action {};
        action.sa_handler = onStopSignal;
        ::sigemptyset(&action.sa_mask);
        ::sigaction(SIGINT, &action, &m_previousInt);
        ::sigaction(SIGTERM, &action, &m_previousTerm);
    }
    ~StopSignalForwarding() {
        ::sigaction(SIGINT, &m_previousInt, nullptr);
        ::sigaction(SIGTERM, &m_previousTerm, nullptr);
    }

private:
    struct sigaction m_previousInt {
    }, m_previousTerm{};
};

struct WorkerEnd {
    int rank = 0;
    pid_t pid = 0;
    int status = 0;
    bool afterStopRequest = false; // the launcher had forwarded a stop request
    bool terminatedByLauncher = false; // it outlived the grace period

    bool stoppedOnRequest() const {
        return afterStopRequest &&
               ((WIFEXITED(status) && WEXITSTATUS(status) == 1) || (WIFSIGNALED(status) && WTERMSIG(status) == SIGINT));
    }
    // How likely this end is the run's root cause: lower is likelier.
    int causeOrder() const {
        if (terminatedByLauncher)
            return 5;
        if (stoppedOnRequest())
            return 3;
        if (WIFSIGNALED(status))
            return 0;
        if (WEXITSTATUS(status) == 2)
            return 1;
        return WEXITSTATUS(status) == kPeerLostExitCode ? 4 : 2;
    }
    std::string describe() const {
        const std::string who = "rank " + std::to_string(rank) + " (pid " + std::to_string(pid) + ")";
        if (stoppedOnRequest())
            return who + " stopped on request";
        if (WIFSIGNALED(status))
            return who + " was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
                   strsignal(WTERMSIG(status)) + ")";
        if (WEXITSTATUS(status) == kPeerLostExitCode)
            return who + " lost its peers (exit code " + std::to_string(kPeerLostExitCode) + ")";
        return who + " exited with code " + std::to_string(WEXITSTATUS(status));
    }
};

} // namespace

int freeLocalPort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof addr;
    const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0 &&
                    ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &length) == 0;
    if (fd >= 0)
        ::close(fd);
    if (!ok)
        throw runtimeFailure(std::string("cannot find a free local port for the rendezvous: ") + std::strerror(errno));
    return ntohs(addr.sin_port);
}

LaunchResult launchLocalWorkers(int nproc, int graceSeconds) {
    if (nproc < 1)
        throw invalidInput("--nproc: expected at least 1, got " + std::to_string(nproc));
    const auto args = ownCommandLine();
    const int port = freeLocalPort();
    const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
    const bool threadsSet = std::getenv("OMP_NUM_THREADS") != nullptr;
    std::vector<WorkerExec> workers;
    workers.reserve(size_t(nproc)); // their argv/envp point into their own strings
    for (int rank = 0; rank < nproc; ++rank) {
        std::map<std::string, std::string> env = {
            {"MASTER_ADDR", "127.0.0.1"},         {"MASTER_PORT", std::to_string(port)}, {"RANK", std::to_string(rank)},
            {"LOCAL_RANK", std::to_string(rank)}, {"WORLD_SIZE", std::to_string(nproc)}, {kLocalWorkerVariable, "1"}};
        if (!threadsSet)
            env["OMP_NUM_THREADS"] = std::to_string(std::max(1, cores / nproc));
        workers.emplace_back(args, env);
    }

    const StopSignalForwarding forwarding;
    const pid_t launcher = ::getpid();
    std::map<pid_t, int> running; // pid -> rank
    for (int rank = 0; rank < nproc; ++rank) {
        const pid_t pid = ::fork();
        if (pid == 0)
            execWorker(workers[size_t(rank)], launcher);
        if (pid < 0) {
            const std::string reason = std::strerror(errno);
            for (const auto &[other, r] : running) {
                ::kill(other, SIGKILL);
                ::waitpid(other, nullptr, 0);
            }
            throw runtimeFailure("cannot start worker processes: " + reason);
        }
        running[pid] = rank;
        std::fprintf(stderr, "rank %d of %d started (pid %d)\n", rank, nproc, int(pid));
    }

    std::vector<WorkerEnd> failures;
    std::set<pid_t> terminated;
    int forwarded = 0;
    const auto never = Clock::time_point::max();
    Clock::time_point terminateAt = never, killAt = never;
    while (!running.empty()) {
        for (; forwarded < g_stopSignals; ++forwarded) {
            std::fprintf(stderr, "stop requested: asking the %zu running ranks to stop\n", running.size());
            for (const auto &[pid, rank] : running)
                ::kill(pid, SIGINT);
        }
        // Every worker that has ended by now; the root cause is chosen when all have ended.
        int status = 0;
        for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
            const auto it = running.find(pid);
            if (it == running.end())
                continue;
            const WorkerEnd end{it->second, pid, status, forwarded > 0, terminated.count(pid) > 0};
            running.erase(it);
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                continue;
            failures.push_back(end);
            std::fprintf(stderr, "%s\n", end.describe().c_str());
            if (failures.size() == 1 && !running.empty()) {
                terminateAt = Clock::now() + std::chrono::seconds(graceSeconds);
                std::fprintf(stderr, "waiting up to %d s for the other ranks to end\n", graceSeconds);
            }
        }
        if (Clock::now() >= terminateAt) {
            for (const auto &[pid, rank] : running) {
                ::kill(pid, SIGTERM);
                terminated.insert(pid);
            }
            terminateAt = never;
            killAt = Clock::now() + std::chrono::seconds(5);
        }
        if (Clock::now() >= killAt) {
            for (const auto &[pid, rank] : running)
                ::kill(pid, SIGKILL);
            killAt = never;
        }
        if (!running.empty())
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }

    LaunchResult result;
    const auto cause = std::min_element(failures.begin(), failures.end(), [](const WorkerEnd &a, const WorkerEnd &b) {
        return a.causeOrder() < b.causeOrder();
    });
    if (cause != failures.end()) {
        result.failure = cause->describe();
        result.exitCode = WIFEXITED(cause->status) && WEXITSTATUS(cause->status) == 2 ? 2 : 1;
    }
    return result;
}

} // namespace headroom
