#include "headroom/mixed_precision.h"

#include <fstream>

#include "headroom/error.h"
#include "headroom/runtime.h"

namespace headroom {

torch::ScalarType computeDtype(Precision precision) {
    switch (precision) {
    case Precision::BF16: return torch::kBFloat16;
    case Precision::FP16: return torch::kFloat16;
    default: return torch::kFloat32;
    }
}

bool cpuSupportsBf16() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line))
        if (line.rfind("flags", 0) == 0)
            return line.find(" avx512_bf16") != std::string::npos || line.find(" amx_bf16") != std::string::npos;
    return false;
}

Precision autoPrecision(const torch::Device &device, std::string *reason) {
    auto say = [&](const std::string &text) {
        if (reason)
            *reason = text;
    };
    if (device.is_cuda()) {
        const int cap = cudaComputeCapability(device);
        if (cap >= 80) {
            say("this GPU (compute capability " + std::to_string(cap / 10) + "." + std::to_string(cap % 10) +
                ") computes bf16 natively");
            return Precision::BF16;
        }
        say("this GPU has no native bf16 (compute capability below 8.0): fp16 with dynamic loss scaling");
        return Precision::FP16;
    }
    if (cpuSupportsBf16()) {
        say("this CPU has AVX512-BF16/AMX: bf16 matmuls run about 3.5x faster than fp32");
        return Precision::BF16;
    }
    say("this CPU has no bf16 instructions: fp32");
    return Precision::FP32;
}

namespace {

// LibTorch 1.x has no float16 matrix multiply on the CPU ("addmm_impl_cpu_" not implemented for
// 'Half'); 2.x has one. Asked of the library itself, once, rather than of its version.
bool cpuHasFp16Matmul() {
    static const bool has = [] {
        try {
            const auto one = torch::ones({1, 1}, torch::kFloat16);
            torch::mm(one, one);
            return true;
        } catch (const c10::Error &) {
            return false;
        }
    }();
    return has;
}

} // namespace

void requirePrecisionSupported(Precision precision, const torch::Device &device, const std::string &field) {
    if (precision == Precision::FP16 && device.is_cpu() && !cpuHasFp16Matmul())
        throw invalidInput(field + ": this LibTorch has no float16 matrix multiply on the CPU: use bf16 or fp32 "
                                   "here (fp16 is for GPUs without bf16)");
    if (precision != Precision::BF16 || !device.is_cuda())
        return;
    const int cap = cudaComputeCapability(device);
    if (cap > 0 && cap < 80)
        throw invalidInput(field + ": bf16 needs a GPU of compute capability 8.0 or newer (Ampere); this one is " +
                           std::to_string(cap / 10) + "." + std::to_string(cap % 10) + ": use fp16 instead");
}

LossScaler::LossScaler(bool enabled, double initialScale, double growthFactor, double backoffFactor,
                       int64_t growthInterval)
    : m_enabled(enabled), m_scale(initialScale), m_growthFactor(growthFactor), m_backoffFactor(backoffFactor),
      m_growthInterval(growthInterval) {}

void LossScaler::unscale(const std::vector<torch::Tensor> &grads) const {
    if (!m_enabled || grads.empty())
        return;
    torch::NoGradGuard noGrad;
    at::_foreach_mul_(grads, 1.0 / m_scale);
}

void LossScaler::update(bool foundInf) {
    if (!m_enabled)
        return;
    if (foundInf) {
        m_scale *= m_backoffFactor;
        m_cleanSteps = 0;
        ++m_skipped;
        return;
    }
    if (++m_cleanSteps >= m_growthInterval) {
        m_scale *= m_growthFactor;
        m_cleanSteps = 0;
    }
}

nlohmann::json LossScaler::state() const {
    return {{"enabled", m_enabled}, {"scale", m_scale}, {"clean_steps", m_cleanSteps}, {"skipped", m_skipped}};
}

void LossScaler::loadState(const nlohmann::json &state) {
    m_enabled = state.at("enabled").get<bool>();
    m_scale = state.at("scale").get<double>();
    m_cleanSteps = state.at("clean_steps").get<int64_t>();
    m_skipped = state.at("skipped").get<int64_t>();
}

} // namespace headroom
