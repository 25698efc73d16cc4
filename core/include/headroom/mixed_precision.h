// Mixed precision: which compute dtype a device supports, and torch's GradScaler for fp16.
//
// The base computes in bf16 or fp16 while adapters and optimizer states stay float32 (and norm
// statistics, softmax and the loss are float32 inside the model). Automatic choice, as the lesson
// teaches: CUDA capability >= 8.0 -> bf16; older GPUs -> fp16 with dynamic loss scaling; CPU -> bf16
// where it has AVX512-BF16 or AMX, else fp32. An impossible choice (bf16 on a T4) is refused with
// the reason.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/torch.h>

#include "headroom/choices.h"

namespace headroom {

torch::ScalarType computeDtype(Precision precision);

bool cpuSupportsBf16(); // AVX512-BF16 or AMX-BF16 in /proc/cpuinfo
// Chosen from the device; `reason` says why in one sentence.
Precision autoPrecision(const torch::Device &device, std::string *reason = nullptr);
// Throws invalidInput naming `field` when the device cannot run `precision`: bf16 on a GPU before
// Ampere, fp16 on the CPU with a LibTorch that has no float16 matmul there (1.x).
void requirePrecisionSupported(Precision precision, const torch::Device &device, const std::string &field);

// torch.cuda.amp.GradScaler's dynamic loss scaling: scale starts at 2^16; a step whose gradients
// contain inf/NaN (the trainer sees it in their norm, grad_norm.h) is skipped and the scale halves;
// after 2000 clean steps in a row it doubles.
class LossScaler {
public:
    explicit LossScaler(bool enabled, double initialScale = 65536.0, double growthFactor = 2.0,
                        double backoffFactor = 0.5, int64_t growthInterval = 2000);
    bool enabled() const { return m_enabled; }
    double scale() const { return m_enabled ? m_scale : 1.0; }
    // Divides the gradients by the scale (one multi-tensor operation; nothing when disabled).
    void unscale(const std::vector<torch::Tensor> &grads) const;
    // After each optimizer step attempt: whether the gradients held an inf or NaN.
    void update(bool foundInf);
    int64_t skippedSteps() const { return m_skipped; }

    nlohmann::json state() const;
    void loadState(const nlohmann::json &state);

private:
    bool m_enabled;
    double m_scale, m_growthFactor, m_backoffFactor;
    int64_t m_growthInterval;
    int64_t m_cleanSteps = 0;
    int64_t m_skipped = 0;
};

} // namespace headroom
