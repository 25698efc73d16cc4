// Data-parallel training over several processes, on PyTorch's own distributed engine (c10d):
// rendezvous through a TCPStore (rank 0 serves it), collectives through Gloo on CPU and NCCL on
// CUDA where the LibTorch build has them.
//
//   // a launcher (torchrun, Slurm, `headroom-cli train --nproc N`) set RANK, WORLD_SIZE, ...
//   if (auto env = DistributedEnv::fromEnvironment()) {
//       auto context = DistributedContext::connect(*env, /*cuda=*/false, std::chrono::seconds(1800));
//       runTraining(config, observer, &control, resume, context.get());
//   }
//
// Every rank holds the whole model and adapters and trains on its own share of each optimizer
// step's examples (stepShard); the trainer sums the gradients of the trainable parameters over the
// ranks, so N ranks x accumulation A compute the same step as 1 rank x accumulation N*A. A
// collective that waits longer than the timeout (a rank died or hangs) throws PeerLost.
// launchLocalWorkers() is the `--nproc` launcher: it re-executes this program N times with those
// variables set and reports which rank failed first, and why.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "headroom/error.h"

namespace at {
class Tensor;
}

namespace headroom {

// True when this build has c10d's process group for that kind of device: Gloo on the CPU (needs
// gloo's headers at build time), NCCL on CUDA (a CUDA LibTorch and nccl.h). Without it, a world
// size above 1 on that device is refused with an error saying so (multiProcessUnsupported()).
bool processGroupSupported(bool cuda);
// That error's text, for `what` (e.g. "--nproc 2").
std::string multiProcessUnsupported(const std::string &what, bool cuda);
// CUDA devices visible to this process (0 without CUDA): what "GPUs: N" can offer.
int cudaDeviceCount();

// A collective or the rendezvous failed because another rank ended, hung or never arrived: a
// runtime failure of this rank that another rank caused. A worker of launchLocalWorkers() exits
// with kPeerLostExitCode for it, so the launcher never names such a rank as the cause.
class PeerLost : public Error {
public:
    explicit PeerLost(const std::string &message) : Error(ErrorKind::RuntimeFailure, message) {}
};
constexpr int kPeerLostExitCode = 3;
// Set (to "1") in the environment of launchLocalWorkers()' workers; under other launchers a worker
// keeps the CLI's exit codes (1 for PeerLost).
constexpr const char *kLocalWorkerVariable = "HEADROOM_LOCAL_WORKER";

// The standard launcher variables (the names torchrun and torch.distributed use).
struct DistributedEnv {
    int rank = 0, worldSize = 1, localRank = 0;
    std::string masterAddr = "127.0.0.1";
    int masterPort = 29500;

    // The variables of this process: nullopt when WORLD_SIZE is not set. Throws invalidInput naming
    // the variable when one is malformed or out of range (e.g. RANK >= WORLD_SIZE).
    static std::optional<DistributedEnv> fromEnvironment();
};

// The rows [begin, end) of one optimizer step's `stepRows` examples that `rank` trains on:
// contiguous, equal blocks (stepRows is micro-batch x accumulation x world size).
struct StepShard {
    int64_t begin = 0, end = 0;
};
StepShard stepShard(int64_t stepRows, int rank, int worldSize);

// One process's membership of the process group. Every call is a collective: all ranks must make
// the same calls in the same order.
class DistributedContext {
public:
    // Rendezvous (rank 0 starts the TCPStore on masterAddr:masterPort) and the process group: NCCL
    // when `cuda` and this build has it, else Gloo. `timeout` bounds the rendezvous and every
    // collective. Throws PeerLost when the other ranks do not arrive in time. On CUDA it first makes
    // cuda:LOCAL_RANK this process's current device and turns on LibTorch's NCCL blocking wait
    // (without it LibTorch 1.13 does not enforce the timeout on NCCL collectives).
    static std::unique_ptr<DistributedContext> connect(const DistributedEnv &env, bool cuda,
                                                       std::chrono::seconds timeout);
    ~DistributedContext();

    int rank() const;
    int worldSize() const;
    bool isMain() const { return rank() == 0; }
    const char *backendName() const; // "gloo" or "nccl"

    // Element-wise sums over all ranks, in place. Gradients go through flat buckets of
    // kBucketBytes, one all-reduce each, like DistributedDataParallel's default bucket size.
    static constexpr int64_t kBucketBytes = 25 << 20;
    void sumInPlace(std::vector<double> &values);
    void sumGradients(const std::vector<at::Tensor> &parameters);
    // Copies rank 0's values of `tensors` into every rank's.
    void broadcastFromMain(const std::vector<at::Tensor> &tensors);
    // True on every rank when `flag` is true on any rank (stop requests agree this way).
    bool any(bool flag);
    // Throws invalidInput naming `what` when `value` differs between ranks.
    void requireSame(int64_t value, const std::string &what);

private:
    struct Impl;
    explicit DistributedContext(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

// `headroom-cli train --nproc N`: runs this process's own command line (/proc/self/exe with the
// arguments of /proc/self/cmdline) in N child processes with MASTER_ADDR=127.0.0.1, a free
// MASTER_PORT, RANK, LOCAL_RANK and WORLD_SIZE set (a process that finds WORLD_SIZE set is a
// worker, not a launcher), and OMP_NUM_THREADS = cores / N unless already set. Each worker runs in
// its own process group; SIGINT or SIGTERM to the launcher becomes one SIGINT to every worker
// (which stop after a checkpoint; a second one quits them at once). Returns when all have ended.
// When one fails, the others get `graceSeconds` to end on their own (they see the failure in their
// next collective) and are then terminated.
struct LaunchResult {
    // The root cause, chosen among all the ranks that failed: a rank killed by a signal, else one
    // that refused its input (exit 2), else another failure; a rank that only lost its peers
    // (kPeerLostExitCode) or that the launcher terminated comes last.
    int exitCode = 0; // its exit code (1 for a signal or a lost peer); 0 when all succeeded
    std::string failure; // e.g. "rank 1 (pid 123) was killed by signal 9 (Killed)"; empty on success
};
LaunchResult launchLocalWorkers(int nproc, int graceSeconds);
// A TCP port on 127.0.0.1 that nobody listens on now (the kernel's pick), for MASTER_PORT.
int freeLocalPort();

} // namespace headroom
