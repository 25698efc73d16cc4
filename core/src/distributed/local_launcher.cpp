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

[[noreturn]] void execWorker(const std::vector<std::string> &args, const std::map<std::string, std::string> &env) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // a launcher that is killed takes its workers along
    std::signal(SIGINT, SIG_DFL);
    for (const auto &[name, value] : env)
        ::setenv(name.c_str(), value.c_str(), 1);
    std::vector<char *> argv;
    for (const auto &a : args)
        argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    ::execv("/proc/self/exe", argv.data());
    std::fprintf(stderr, "error: cannot start a worker (/proc/self/exe): %s\n", std::strerror(errno));
    ::_exit(127);
}

std::string describeEnd(int rank, pid_t pid, int status) {
    const std::string who = "rank " + std::to_string(rank) + " (pid " + std::to_string(pid) + ")";
    if (WIFSIGNALED(status))
        return who + " was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
    return who + " exited with code " + std::to_string(WEXITSTATUS(status));
}

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

    // Ctrl-C reaches the workers directly (same terminal process group); they stop together and
    // rank 0 writes the checkpoint, so the launcher itself only waits for them.
    const auto previousInterrupt = std::signal(SIGINT, SIG_IGN);
    std::map<pid_t, int> running;  // pid -> rank
    for (int rank = 0; rank < nproc; ++rank) {
        std::map<std::string, std::string> env = {{"MASTER_ADDR", "127.0.0.1"},
                                                  {"MASTER_PORT", std::to_string(port)},
                                                  {"RANK", std::to_string(rank)},
                                                  {"LOCAL_RANK", std::to_string(rank)},
                                                  {"WORLD_SIZE", std::to_string(nproc)}};
        if (!threadsSet)
            env["OMP_NUM_THREADS"] = std::to_string(std::max(1, cores / nproc));
        const pid_t pid = ::fork();
        if (pid == 0)
            execWorker(args, env);
        if (pid < 0) {
            for (const auto &[other, r] : running)
                ::kill(other, SIGTERM);
            throw runtimeFailure(std::string("cannot start worker processes: ") + std::strerror(errno));
        }
        running[pid] = rank;
        std::fprintf(stderr, "rank %d of %d started (pid %d)\n", rank, nproc, int(pid));
    }

    LaunchResult result;
    const auto never = Clock::time_point::max();
    Clock::time_point terminateAt = never, killAt = never;
    while (!running.empty()) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid > 0 && running.count(pid)) {
            const int rank = running[pid];
            running.erase(pid);
            const bool failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
            if (failed && result.failure.empty()) {
                result.failure = describeEnd(rank, pid, status);
                result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
                terminateAt = Clock::now() + std::chrono::seconds(graceSeconds);
                std::fprintf(stderr, "%s; waiting up to %d s for the other ranks to end\n", result.failure.c_str(),
                             graceSeconds);
            }
            continue;
        }
        if (Clock::now() >= terminateAt) {
            for (const auto &[other, rank] : running)
                ::kill(other, SIGTERM);
            terminateAt = never;
            killAt = Clock::now() + std::chrono::seconds(5);
        }
        if (Clock::now() >= killAt) {
            for (const auto &[other, rank] : running)
                ::kill(other, SIGKILL);
            killAt = never;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::signal(SIGINT, previousInterrupt);
    return result;
}

} // namespace headroom
