// DistributedContext on c10d: a TCPStore for the rendezvous and a Gloo (CPU) or NCCL (CUDA)
// process group for the collectives. Without either process group (their headers missing at build
// time) connect() refuses with an error saying so.
#include "headroom/distributed.h"

#include <torch/torch.h>

#include <cstdlib>

#include "headroom/error.h"

// CMake found c10d's headers, and gloo's and/or NCCL's (core/CMakeLists.txt). USE_C10D_GLOO comes
// from LibTorch's own definitions; USE_C10D_NCCL from LibTorch's or core/CMakeLists.txt.
#ifdef HEADROOM_WITH_DISTRIBUTED
#if defined(HEADROOM_WITH_GLOO) && defined(USE_C10D_GLOO)
#define HEADROOM_HAVE_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if defined(HEADROOM_WITH_NCCL) && defined(USE_C10D_NCCL)
#define HEADROOM_HAVE_NCCL 1
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#if defined(HEADROOM_HAVE_GLOO) || defined(HEADROOM_HAVE_NCCL)
#define HEADROOM_HAVE_C10D 1
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#endif

namespace headroom {

bool processGroupSupported(bool cuda) {
#ifdef HEADROOM_HAVE_NCCL
    if (cuda)
        return true;
#endif
#ifdef HEADROOM_HAVE_GLOO
    if (!cuda)
        return true;
#endif
    return false;
}

std::string multiProcessUnsupported(const std::string &what, bool cuda) {
    return what + (cuda ? ": this build has no multi-process training on CUDA (c10d's NCCL process group needs a CUDA "
                          "LibTorch and nccl.h at build time: -DHEADROOM_NCCL_INCLUDE=<pip's nvidia/nccl>/include)"
                        : ": this build has no multi-process training on the CPU (c10d's Gloo process group needs "
                          "gloo's headers at build time; on Debian install libgloo-dev and rebuild)");
}

int cudaDeviceCount() { return torch::cuda::is_available() ? int(torch::cuda::device_count()) : 0; }

#ifdef HEADROOM_HAVE_C10D

namespace {

// The two collectives the trainer uses, over either process group type (they share no base class
// across LibTorch 1.13 and 2.x: ProcessGroup there, Backend here).
class Collectives {
public:
    virtual ~Collectives() = default;
    virtual c10::intrusive_ptr<c10d::Work> allReduce(std::vector<at::Tensor> &tensors, c10d::ReduceOp op) = 0;
    virtual c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor> &tensors) = 0;
};

template <typename Group>
class GroupCollectives : public Collectives {
public:
    explicit GroupCollectives(c10::intrusive_ptr<Group> group) : m_group(std::move(group)) {}
    c10::intrusive_ptr<c10d::Work> allReduce(std::vector<at::Tensor> &tensors, c10d::ReduceOp op) override {
        c10d::AllreduceOptions options;
        options.reduceOp = op;
        return m_group->allreduce(tensors, options);
    }
    c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor> &tensors) override {
        c10d::BroadcastOptions options;
        options.rootRank = 0;
        return m_group->broadcast(tensors, options);
    }

private:
    c10::intrusive_ptr<Group> m_group;
};

bool isLoopback(const std::string &address) {
    return address == "localhost" || address.rfind("127.", 0) == 0 || address == "::1";
}

// torchrun may already serve a store at MASTER_PORT (its own agent's); workers then join it as
// clients under a per-attempt prefix, as torch.distributed does.
c10::intrusive_ptr<c10d::Store> rendezvousStore(const DistributedEnv &env, std::chrono::seconds timeout) {
    const char *agentStore = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
    const bool useAgentStore = agentStore && std::string(agentStore) == "True";
    c10d::TCPStoreOptions options;
    options.port = uint16_t(env.masterPort);
    options.isServer = env.rank == 0 && !useAgentStore;
    options.numWorkers = size_t(env.worldSize);
    options.waitWorkers = true;
    options.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(env.masterAddr, options);
    if (!useAgentStore)
        return store;
    const char *attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
    return c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::string(attempt ? attempt : "0"), store);
}

#ifdef HEADROOM_HAVE_GLOO
std::shared_ptr<gloo::transport::Device> glooDevice(const DistributedEnv &env) {
    if (const char *name = std::getenv("GLOO_SOCKET_IFNAME"); name && *name)
        return c10d::ProcessGroupGloo::createDeviceForInterface(name);
    if (isLoopback(env.masterAddr))
        return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
    return c10d::ProcessGroupGloo::createDefaultDevice();
}
#endif

} // namespace

struct DistributedContext::Impl {
    DistributedEnv env;
    std::chrono::seconds timeout{0};
    c10::intrusive_ptr<c10d::Store> store;
    std::unique_ptr<Collectives> group;
    const char *backend = "gloo";
    torch::Device device = torch::kCPU;

    // Who the failure most likely concerns: with two ranks it can only be the other one.
    std::string peer() const { return env.worldSize == 2 ? "rank " + std::to_string(1 - env.rank) : "another rank"; }

    void wait(const c10::intrusive_ptr<c10d::Work> &work, const char *what) const {
        try {
            work->wait();
        } catch (const std::exception &e) {
            const c10::Error *c10 = dynamic_cast<const c10::Error *>(&e);
            throw PeerLost("rank " + std::to_string(env.rank) + " of " + std::to_string(env.worldSize) + ": the " +
                           what + " failed: " + peer() + " ended or did not answer within training.ddp_timeout (" +
                           std::to_string(timeout.count()) + " s) [" + backend + ": " +
                           (c10 ? c10->what_without_backtrace() : e.what()) + "]");
        }
    }
};

std::unique_ptr<DistributedContext> DistributedContext::connect(const DistributedEnv &env, bool cuda,
                                                                std::chrono::seconds timeout) {
    // Before the rendezvous, which would first wait for every rank.
    if (!processGroupSupported(cuda))
        throw invalidInput(multiProcessUnsupported("WORLD_SIZE=" + std::to_string(env.worldSize), cuda));
    auto impl = std::make_unique<Impl>();
    impl->env = env;
    impl->timeout = timeout;
    const std::string where = env.masterAddr + ":" + std::to_string(env.masterPort);
    try {
        impl->store = rendezvousStore(env, timeout);
        if (cuda) {
#ifdef HEADROOM_HAVE_NCCL
            // LibTorch enforces nccl->timeout only in blocking-wait mode (1.13 reads
            // NCCL_BLOCKING_WAIT, 2.x TORCH_NCCL_BLOCKING_WAIT); without it a lost rank hangs the
            // others. A value the user set stays.
            ::setenv("NCCL_BLOCKING_WAIT", "1", 0);
            ::setenv("TORCH_NCCL_BLOCKING_WAIT", "1", 0);
            // NCCL's communicator and LibTorch's current-device guesses (barrier, streams) then use
            // this rank's GPU rather than all ranks' cuda:0.
            c10::cuda::set_device(c10::DeviceIndex(env.localRank));
            auto nccl = c10d::ProcessGroupNCCL::Options::create();
            nccl->timeout = timeout;
            impl->group = std::make_unique<GroupCollectives<c10d::ProcessGroupNCCL>>(
                c10::make_intrusive<c10d::ProcessGroupNCCL>(impl->store, env.rank, env.worldSize, nccl));
            impl->backend = "nccl";
            impl->device = torch::Device(torch::kCUDA, env.localRank);
#endif
        } else {
#ifdef HEADROOM_HAVE_GLOO
            auto gloo = c10d::ProcessGroupGloo::Options::create(timeout);
            gloo->devices.push_back(glooDevice(env));
            impl->group = std::make_unique<GroupCollectives<c10d::ProcessGroupGloo>>(
                c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, env.rank, env.worldSize, gloo));
#endif
        }
    } catch (const std::exception &e) {
        const c10::Error *c10 = dynamic_cast<const c10::Error *>(&e);
        throw PeerLost("rank " + std::to_string(env.rank) + " of " + std::to_string(env.worldSize) +
                       ": rendezvous at " + where + " failed within training.ddp_timeout (" +
                       std::to_string(timeout.count()) + " s): " + (c10 ? c10->what_without_backtrace() : e.what()));
    }
    return std::unique_ptr<DistributedContext>(new DistributedContext(std::move(impl)));
}

DistributedContext::DistributedContext(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
DistributedContext::~DistributedContext() = default;

int DistributedContext::rank() const { return m_impl->env.rank; }
int DistributedContext::worldSize() const { return m_impl->env.worldSize; }
const char *DistributedContext::backendName() const { return m_impl->backend; }

void DistributedContext::sumInPlace(std::vector<double> &values) {
    std::vector<at::Tensor> tensors = {torch::tensor(values, torch::kFloat64).to(m_impl->device)};
    m_impl->wait(m_impl->group->allReduce(tensors, c10d::ReduceOp::SUM), "all-reduce of the step's totals");
    const auto summed = tensors[0].cpu();
    for (size_t i = 0; i < values.size(); ++i)
        values[i] = summed[int64_t(i)].item<double>();
}

void DistributedContext::sumGradients(const std::vector<at::Tensor> &parameters) {
    torch::NoGradGuard noGrad;
    // Buckets of same-dtype gradients up to kBucketBytes, flattened, summed, copied back.
    std::vector<at::Tensor> bucket;
    int64_t bytes = 0;
    const auto flush = [&] {
        if (bucket.empty())
            return;
        std::vector<at::Tensor> flat = {torch::cat(bucket)};
        m_impl->wait(m_impl->group->allReduce(flat, c10d::ReduceOp::SUM), "gradient all-reduce");
        int64_t offset = 0;
        for (const auto &g : bucket) {
            g.copy_(flat[0].slice(0, offset, offset + g.numel()).view_as(g));
            offset += g.numel();
        }
        bucket.clear();
        bytes = 0;
    };
    for (const auto &p : parameters) {
        at::Tensor grad = p.mutable_grad();
        if (!grad.defined()) // a rank whose share left a parameter unused still takes part
            grad = p.mutable_grad() = torch::zeros_like(p);
        else if (!grad.is_contiguous())
            grad = p.mutable_grad() = grad.contiguous();
        if (!bucket.empty() && bucket.front().scalar_type() != grad.scalar_type())
            flush();
        bucket.push_back(grad.view(-1));
        bytes += grad.numel() * int64_t(grad.element_size());
        if (bytes >= kBucketBytes)
            flush();
    }
    flush();
}

void DistributedContext::broadcastFromMain(const std::vector<at::Tensor> &tensors) {
    torch::NoGradGuard noGrad;
    for (const auto &t : tensors) {
        std::vector<at::Tensor> one = {t.detach()};
        m_impl->wait(m_impl->group->broadcast(one), "broadcast of rank 0's adapter weights");
    }
}

bool DistributedContext::any(bool flag) {
    std::vector<double> values = {flag ? 1.0 : 0.0};
    sumInPlace(values);
    return values[0] > 0;
}

void DistributedContext::requireSame(int64_t value, const std::string &what) {
    std::vector<at::Tensor> extremes = {torch::tensor({value, -value}, torch::kInt64).to(m_impl->device)};
    m_impl->wait(m_impl->group->allReduce(extremes, c10d::ReduceOp::MAX), "consistency check");
    const auto cpu = extremes[0].cpu();
    const int64_t high = cpu[0].item<int64_t>(), low = -cpu[1].item<int64_t>();
    if (high != low)
        throw invalidInput("rank " + std::to_string(rank()) + ": " + what + " differs between ranks (" +
                           std::to_string(low) + " to " + std::to_string(high) +
                           "): every rank must read the same config, model and dataset");
}

#else // no process group in this build

struct DistributedContext::Impl {};

// connect() always throws here, so no context exists; the members only satisfy the linker.

std::unique_ptr<DistributedContext> DistributedContext::connect(const DistributedEnv &env, bool cuda,
                                                                std::chrono::seconds) {
    throw invalidInput(multiProcessUnsupported("WORLD_SIZE=" + std::to_string(env.worldSize), cuda));
}

DistributedContext::DistributedContext(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
DistributedContext::~DistributedContext() = default;
int DistributedContext::rank() const { return 0; }
int DistributedContext::worldSize() const { return 1; }
const char *DistributedContext::backendName() const { return "none"; }
void DistributedContext::sumInPlace(std::vector<double> &) {}
void DistributedContext::sumGradients(const std::vector<at::Tensor> &) {}
void DistributedContext::broadcastFromMain(const std::vector<at::Tensor> &) {}
bool DistributedContext::any(bool flag) { return flag; }
void DistributedContext::requireSame(int64_t, const std::string &) {}

#endif

} // namespace headroom
