#include "train/optimizer.h"

#include <cmath>

#include "cuda/cuda_kernels.h"
#include "headroom/error.h"
#include "headroom/quantization.h"

namespace headroom {

namespace {

torch::Tensor requireState(const std::map<std::string, torch::Tensor> &tensors, const std::string &key) {
    auto it = tensors.find(key);
    if (it == tensors.end())
        throw invalidInput("optimizer state: tensor '" + key + "' missing from the checkpoint");
    return it->second;
}

// The multi-tensor update below allocates sqrt(v) for all its tensors at once. Tensors are grouped
// up to this many elements (32 MiB of float32; a larger tensor is a group of its own), so that
// temporary stays small beside the step's peak, which the memory estimate counts without it, while
// a LoRA adapter's tensors still take one group.
constexpr int64_t kMaxGroupElements = int64_t(8) << 20;

// torch.optim.AdamW's update of parameters `p` from gradients `g` with float32 moments m and v (step
// `step`): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps).
// LibTorch's multi-tensor (_foreach) operations, as torch.optim.AdamW's default foreach path (the
// same formula; torch forms m with a lerp, equal to rounding): on CUDA a few kernels per group of
// tensors instead of eight per tensor (the launches are what a LoRA update of many small adapters
// costs, docs/performance.md), the same operations in the same order as one tensor at a time.
void adamwGroupUpdate(const std::vector<torch::Tensor> &p, const std::vector<torch::Tensor> &g,
                      const std::vector<torch::Tensor> &m, const std::vector<torch::Tensor> &v, double lr, int64_t step,
                      const OptimizerSettings &s) {
    const double bc1 = 1.0 - std::pow(s.beta1, double(step));
    const double bc2 = 1.0 - std::pow(s.beta2, double(step));
    if (s.weightDecay != 0.0)
        at::_foreach_mul_(p, 1.0 - lr * s.weightDecay);
    at::_foreach_mul_(m, s.beta1);
    at::_foreach_add_(m, g, 1.0 - s.beta1);
    at::_foreach_mul_(v, s.beta2);
    at::_foreach_addcmul_(v, g, g, 1.0 - s.beta2);
    auto denom = at::_foreach_sqrt(v);
    at::_foreach_div_(denom, std::sqrt(bc2));
    at::_foreach_add_(denom, s.epsilon);
    at::_foreach_addcdiv_(p, m, denom, -lr / bc1);
}

void adamwUpdate(const std::vector<torch::Tensor> &p, const std::vector<torch::Tensor> &g,
                 const std::vector<torch::Tensor> &m, const std::vector<torch::Tensor> &v, double lr, int64_t step,
                 const OptimizerSettings &s) {
    size_t begin = 0;
    while (begin < p.size()) {
        size_t end = begin + 1;
        int64_t elements = p[begin].numel();
        while (end < p.size() && elements + p[end].numel() <= kMaxGroupElements)
            elements += p[end++].numel();
        const auto part = [&](const std::vector<torch::Tensor> &all) {
            return std::vector<torch::Tensor>(all.begin() + long(begin), all.begin() + long(end));
        };
        adamwGroupUpdate(part(p), part(g), part(m), part(v), lr, step, s);
        begin = end;
    }
}

class AdamW final : public Optimizer {
public:
    AdamW(std::vector<NamedTensor> params, const OptimizerSettings &s)
        : Optimizer("adamw_torch", std::move(params), s) {
        for (const auto &p : m_parameters) {
            m_expAvg.push_back(torch::zeros_like(p.tensor, torch::kFloat32));
            m_expAvgSq.push_back(torch::zeros_like(p.tensor, torch::kFloat32));
        }
    }

    void step(double lr) override {
        torch::NoGradGuard noGrad;
        ++m_steps;
        std::vector<torch::Tensor> p, g, m, v;
        for (size_t i = 0; i < m_parameters.size(); ++i) {
            const auto grad = m_parameters[i].tensor.grad();
            if (!grad.defined())
                continue;
            p.push_back(m_parameters[i].tensor);
            g.push_back(grad);
            m.push_back(m_expAvg[i]);
            v.push_back(m_expAvgSq[i]);
        }
        adamwUpdate(p, g, m, v, lr, m_steps, m_settings);
    }

    int64_t stateBytes() const override {
        int64_t bytes = 0;
        for (size_t i = 0; i < m_expAvg.size(); ++i)
            bytes += (m_expAvg[i].numel() + m_expAvgSq[i].numel()) * 4;
        return bytes;
    }

    std::vector<std::pair<std::string, torch::Tensor>> stateTensors() const override {
        std::vector<std::pair<std::string, torch::Tensor>> out;
        for (size_t i = 0; i < m_parameters.size(); ++i) {
            out.emplace_back(m_parameters[i].name + ".exp_avg", m_expAvg[i]);
            out.emplace_back(m_parameters[i].name + ".exp_avg_sq", m_expAvgSq[i]);
        }
        return out;
    }

    void loadStateTensors(const std::map<std::string, torch::Tensor> &tensors) override {
        torch::NoGradGuard noGrad;
        for (size_t i = 0; i < m_parameters.size(); ++i) {
            m_expAvg[i].copy_(requireState(tensors, m_parameters[i].name + ".exp_avg"));
            m_expAvgSq[i].copy_(requireState(tensors, m_parameters[i].name + ".exp_avg_sq"));
        }
    }

private:
    std::vector<torch::Tensor> m_expAvg, m_expAvgSq;
};

// bitsandbytes' 8-bit AdamW, blockwise: each step dequantizes a tensor's moments, applies the
// float32 AdamW update, and re-quantizes them with fresh block scales (on CUDA, where the kernels
// are built, one fused kernel does all three). Paged: on CUDA the states of large tensors live in
// managed memory the driver can move to the host under pressure, prefetched before each step.
class AdamW8bit final : public Optimizer {
public:
    static constexpr int64_t kMinQuantizedElements = 4096; // bitsandbytes' min_8bit_size
    static constexpr int64_t kMinPagedElements = 100000; // bitsandbytes pages tensors above 1e5
    static constexpr int64_t kBlocksize = 256;

    AdamW8bit(std::string name, std::vector<NamedTensor> params, const OptimizerSettings &s, bool paged)
        : Optimizer(std::move(name), std::move(params), s) {
        for (const auto &p : m_parameters) {
            State st;
            st.quantized = p.tensor.numel() >= kMinQuantizedElements;
            auto zeros = torch::zeros({p.tensor.numel()}, p.tensor.options().dtype(torch::kFloat32));
            if (!st.quantized) {
                st.m = zeros.clone();
                st.v = zeros.clone();
            } else if (!(paged && p.tensor.numel() >= kMinPagedElements && pagedStates(p.tensor, st))) {
                st.m8 = quantizeBlockwise8(zeros, true, kBlocksize);
                st.v8 = quantizeBlockwise8(zeros, false, kBlocksize);
            }
            m_states.push_back(std::move(st));
        }
    }

    void step(double lr) override {
        torch::NoGradGuard noGrad;
        ++m_steps;
        for (size_t i = 0; i < m_parameters.size(); ++i) {
            auto p = m_parameters[i].tensor;
            const auto g = p.grad();
            if (!g.defined())
                continue;
            auto &st = m_states[i];
            if (st.paged)
                for (const auto *t : {&st.m8.codes, &st.m8.absmax, &st.v8.codes, &st.v8.absmax})
                    cuda::prefetchToDevice(*t);
            if (st.quantized && cuda::adamw8bitStep(p, g, st.m8, st.v8, lr, m_steps, m_settings))
                continue;
            auto m = st.quantized ? dequantizeBlockwise8(st.m8) : st.m;
            auto v = st.quantized ? dequantizeBlockwise8(st.v8) : st.v;
            adamwUpdate({p.view({-1})}, {g.reshape({-1}).to(torch::kFloat32)}, {m}, {v}, lr, m_steps, m_settings);
            if (st.quantized) {
                quantizeBlockwise8Into(m, st.m8);
                quantizeBlockwise8Into(v, st.v8);
            }
        }
    }

    int64_t stateBytes() const override {
        int64_t bytes = 0;
        for (const auto &st : m_states)
            bytes += bytesOf(st);
        return bytes;
    }

    int64_t pagedStateBytes() const override {
        int64_t bytes = 0;
        for (const auto &st : m_states)
            if (st.paged)
                bytes += bytesOf(st);
        return bytes;
    }

    std::vector<std::pair<std::string, torch::Tensor>> stateTensors() const override {
        std::vector<std::pair<std::string, torch::Tensor>> out;
        for (size_t i = 0; i < m_parameters.size(); ++i) {
            const auto &name = m_parameters[i].name;
            const auto &st = m_states[i];
            if (st.quantized) {
                out.emplace_back(name + ".exp_avg.codes", st.m8.codes);
                out.emplace_back(name + ".exp_avg.absmax", st.m8.absmax);
                out.emplace_back(name + ".exp_avg_sq.codes", st.v8.codes);
                out.emplace_back(name + ".exp_avg_sq.absmax", st.v8.absmax);
            } else {
                out.emplace_back(name + ".exp_avg", st.m);
                out.emplace_back(name + ".exp_avg_sq", st.v);
            }
        }
        return out;
    }

    void loadStateTensors(const std::map<std::string, torch::Tensor> &tensors) override {
        for (size_t i = 0; i < m_parameters.size(); ++i) {
            const auto &name = m_parameters[i].name;
            auto &st = m_states[i];
            if (st.quantized) {
                st.m8.codes.copy_(requireState(tensors, name + ".exp_avg.codes"));
                st.m8.absmax.copy_(requireState(tensors, name + ".exp_avg.absmax"));
                st.v8.codes.copy_(requireState(tensors, name + ".exp_avg_sq.codes"));
                st.v8.absmax.copy_(requireState(tensors, name + ".exp_avg_sq.absmax"));
            } else {
                st.m.copy_(requireState(tensors, name + ".exp_avg"));
                st.v.copy_(requireState(tensors, name + ".exp_avg_sq"));
            }
        }
    }

private:
    struct State {
        bool quantized = false;
        bool paged = false; // m8 and v8 in managed memory
        Blockwise8 m8, v8; // quantized moments
        torch::Tensor m, v; // float32 moments of small tensors
    };

    // Zeroed states in managed memory for a CUDA parameter. False, leaving st as it is, off CUDA,
    // without the CUDA kernels (not built, or switched off: cuda_kernels.h), or when the card has less free memory than they need (they
    // are then allocated as usual, where the caching allocator's reserve may still hold them).
    static bool pagedStates(const torch::Tensor &p, State &st) {
        if (!p.is_cuda())
            return false;
        auto m = cuda::pagedBlockwise8(p.numel(), true, kBlocksize, p.device());
        auto v = m ? cuda::pagedBlockwise8(p.numel(), false, kBlocksize, p.device()) : std::nullopt;
        if (!m || !v)
            return false;
        st.m8 = std::move(*m);
        st.v8 = std::move(*v);
        st.paged = true;
        return true;
    }

    // Both moments: uint8 codes with a float32 scale per block, or float32 values.
    static int64_t bytesOf(const State &st) {
        return st.quantized ? 2 * (st.m8.codes.numel() + st.m8.absmax.numel() * 4) : 2 * st.m.numel() * 4;
    }

    std::vector<State> m_states;
};

class Sgd final : public Optimizer {
public:
    Sgd(std::vector<NamedTensor> params, const OptimizerSettings &s) : Optimizer("sgd", std::move(params), s) {}

    void step(double lr) override {
        torch::NoGradGuard noGrad;
        ++m_steps;
        for (auto &p : m_parameters) {
            if (!p.tensor.grad().defined())
                continue;
            if (m_settings.weightDecay != 0.0)
                p.tensor.mul_(1.0 - lr * m_settings.weightDecay);
            p.tensor.add_(p.tensor.grad(), -lr);
        }
    }
    int64_t stateBytes() const override { return 0; }
    std::vector<std::pair<std::string, torch::Tensor>> stateTensors() const override { return {}; }
    void loadStateTensors(const std::map<std::string, torch::Tensor> &) override {}
};

} // namespace

std::unique_ptr<Optimizer> Optimizer::create(OptimizerKind kind, std::vector<NamedTensor> parameters,
                                             const OptimizerSettings &settings, std::string *notice) {
    const std::string name = choiceName(kind);
    switch (kind) {
    case OptimizerKind::AdamWTorch: return std::make_unique<AdamW>(std::move(parameters), settings);
    case OptimizerKind::AdamW8bit: return std::make_unique<AdamW8bit>(name, std::move(parameters), settings, false);
    case OptimizerKind::PagedAdamW8bit: {
        const bool onCuda = !parameters.empty() && parameters.front().tensor.is_cuda();
        if (notice && !onCuda)
            *notice = "paged_adamw_8bit: states are paged only on CUDA; running it as adamw_8bit";
        else if (notice && !cuda::kernelsEnabled())
            *notice = "paged_adamw_8bit: paging states to host memory needs Headroom's CUDA kernels (not built, or "
                      "HEADROOM_CUDA_KERNELS=0); running it as adamw_8bit";
        return std::make_unique<AdamW8bit>(name, std::move(parameters), settings, true);
    }
    case OptimizerKind::Sgd: break;
    }
    return std::make_unique<Sgd>(std::move(parameters), settings);
}

nlohmann::json Optimizer::stateHeader() const { return {{"name", m_name}, {"steps", m_steps}}; }

void Optimizer::loadStateHeader(const nlohmann::json &header) {
    if (header.value("name", std::string()) != m_name)
        throw invalidInput("optimizer state: the checkpoint was written by '" + header.value("name", std::string()) +
                           "', this run uses '" + m_name + "'");
    m_steps = header.at("steps").get<int64_t>();
}

void Optimizer::zeroGrad() {
    for (auto &p : m_parameters)
        if (p.tensor.grad().defined())
            p.tensor.mutable_grad().zero_();
}

} // namespace headroom
