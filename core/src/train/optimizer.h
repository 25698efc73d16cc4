// Optimizers for the trainable (LoRA) parameters, with decoupled weight decay (AdamW's rule,
// p <- p - lr * wd * p, applied to every optimizer including sgd).
//
//   adamw_torch       torch.optim.AdamW: float32 first and second moments (8 bytes / parameter)
//   adamw_8bit        bitsandbytes' 8-bit AdamW: moments quantized blockwise (256) with the signed
//                     (first) and unsigned (second) dynamic maps; tensors under 4096 elements keep
//                     float32 states, as bitsandbytes does (~2.03 bytes / parameter otherwise)
//   paged_adamw_8bit  adamw_8bit whose states of tensors over 1e5 elements live, on CUDA, in managed
//                     memory the driver pages to the host under pressure (bitsandbytes' paged
//                     optimizer); elsewhere, or without the CUDA kernels, it runs as adamw_8bit
//                     (create() says so through `notice`)
//   sgd               plain gradient descent
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "headroom/causal_lm.h"

namespace headroom {

struct OptimizerSettings {
    double weightDecay = 0.0;
    double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
};

class Optimizer {
public:
    virtual ~Optimizer() = default;
    // `notice` receives a one-line remark when the optimizer runs differently than named
    // (paged_adamw_8bit without CUDA).
    static std::unique_ptr<Optimizer> create(OptimizerKind kind, std::vector<NamedTensor> parameters,
                                             const OptimizerSettings &settings, std::string *notice = nullptr);

    // One update from the parameters' .grad() with learning rate `lr`.
    virtual void step(double lr) = 0;
    virtual int64_t stateBytes() const = 0;
    // The part of stateBytes() in paged (CUDA managed) memory, which the device allocator's
    // statistics do not see (paged_adamw_8bit on CUDA).
    virtual int64_t pagedStateBytes() const { return 0; }
    int64_t steps() const { return m_steps; }

    // State for checkpoints: tensors under "<parameter name>.<state>" plus a JSON header.
    virtual std::vector<std::pair<std::string, torch::Tensor>> stateTensors() const = 0;
    virtual void loadStateTensors(const std::map<std::string, torch::Tensor> &tensors) = 0;
    nlohmann::json stateHeader() const;
    void loadStateHeader(const nlohmann::json &header);

    void zeroGrad();
    const std::vector<NamedTensor> &parameters() const { return m_parameters; }

protected:
    Optimizer(std::string name, std::vector<NamedTensor> parameters, const OptimizerSettings &settings)
        : m_name(std::move(name)), m_parameters(std::move(parameters)), m_settings(settings) {}
    std::string m_name;
    std::vector<NamedTensor> m_parameters;
    OptimizerSettings m_settings;
    int64_t m_steps = 0;
};

} // namespace headroom
