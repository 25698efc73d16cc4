#include "model/rotary.h"

#include <cmath>

namespace headroom {

namespace {

// transformers' _compute_llama3_parameters: wavelengths longer than the original context are
// stretched by `factor`, shorter than original/high_freq_factor are kept, and the band between is
// interpolated linearly in original_context / wavelength.
std::vector<double> llama3Scaled(const std::vector<double> &invFreq, const RopeScaling &s) {
    const double lowWavelen = double(s.originalMaxPositions) / s.lowFreqFactor;
    const double highWavelen = double(s.originalMaxPositions) / s.highFreqFactor;
    std::vector<double> out(invFreq.size());
    for (size_t i = 0; i < invFreq.size(); ++i) {
        const double wavelen = 2.0 * M_PI / invFreq[i];
        if (wavelen < highWavelen) {
            out[i] = invFreq[i];
        } else if (wavelen > lowWavelen) {
            out[i] = invFreq[i] / s.factor;
        } else {
            const double smooth =
                (double(s.originalMaxPositions) / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
            out[i] = (1.0 - smooth) * invFreq[i] / s.factor + smooth * invFreq[i];
        }
    }
    return out;
}

torch::Tensor toFloat32(const std::vector<double> &values) {
    return torch::tensor(values, torch::kFloat64).to(torch::kFloat32);
}

} // namespace

RotaryEmbedding::RotaryEmbedding(const ModelConfig &config)
    : RotaryEmbedding(config, config.ropeTheta, config.ropeScaling) {}

RotaryEmbedding::RotaryEmbedding(const ModelConfig &config, double theta, const RopeScaling &scaling) {
    const int64_t dim = config.rotaryDim();
    std::vector<double> invFreq(dim / 2);
    for (int64_t i = 0; i < dim / 2; ++i)
        invFreq[i] = 1.0 / std::pow(theta, double(2 * i) / double(dim));
    switch (scaling.type) {
    case RopeScaling::Type::None: break;
    case RopeScaling::Type::Linear:
        for (double &f : invFreq)
            f /= scaling.factor;
        break;
    case RopeScaling::Type::Llama3: invFreq = llama3Scaled(invFreq, scaling); break;
    case RopeScaling::Type::LongRope: {
        // transformers' _compute_longrope_parameters: inv_freq / ext_factor per frequency.
        std::vector<double> longFreq(invFreq.size());
        for (size_t i = 0; i < invFreq.size(); ++i) {
            longFreq[i] = invFreq[i] / scaling.longFactor[i];
            invFreq[i] /= scaling.shortFactor[i];
        }
        m_longInvFreq = toFloat32(longFreq);
        m_longFrom = scaling.originalMaxPositions;
        m_attentionFactor = scaling.attentionFactor;
        break;
    }
    }
    m_invFreq = toFloat32(invFreq);
}

std::pair<torch::Tensor, torch::Tensor> RotaryEmbedding::cosSin(const torch::Tensor &positions,
                                                                torch::ScalarType dtype) const {
    const bool useLong =
        m_longInvFreq.defined() && positions.numel() > 0 && positions.max().item<int64_t>() + 1 > m_longFrom;
    // Angles in float32 like transformers (autocast disabled there), then cast to the compute dtype.
    auto invFreq = (useLong ? m_longInvFreq : m_invFreq).to(positions.device());
    auto angles = positions.to(torch::kFloat32).unsqueeze(-1) * invFreq; // [B, T, D/2]
    auto emb = torch::cat({angles, angles}, -1).unsqueeze(1); // [B, 1, T, D]
    if (m_attentionFactor != 1.0)
        return {(emb.cos() * m_attentionFactor).to(dtype), (emb.sin() * m_attentionFactor).to(dtype)};
    return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

torch::Tensor applyRotary(const torch::Tensor &x, const torch::Tensor &cos, const torch::Tensor &sin) {
    const int64_t dim = cos.size(-1);
    if (dim < x.size(-1)) {
        auto turned = applyRotary(x.narrow(-1, 0, dim), cos, sin);
        return torch::cat({turned, x.narrow(-1, dim, x.size(-1) - dim)}, -1);
    }
    const int64_t half = x.size(-1) / 2;
    auto x1 = x.narrow(-1, 0, half);
    auto x2 = x.narrow(-1, half, half);
    return x * cos + torch::cat({-x2, x1}, -1) * sin;
}

} // namespace headroom
