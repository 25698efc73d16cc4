#include "train/grad_norm.h"

#include <cmath>

namespace headroom {

double globalGradNorm(const std::vector<torch::Tensor> &grads) {
    if (grads.empty())
        return 0;
    torch::NoGradGuard noGrad;
    const auto norms = torch::stack(at::_foreach_norm(grads, 2)).to(torch::kFloat64);
    return norms.pow(2).sum().sqrt().item<double>();
}

void clipGradients(const std::vector<torch::Tensor> &grads, double norm, double maxNorm) {
    if (maxNorm <= 0 || !(norm > maxNorm) || grads.empty())
        return;
    torch::NoGradGuard noGrad;
    at::_foreach_mul_(grads, maxNorm / (norm + 1e-6));
}

bool prepareGradients(const std::vector<torch::Tensor> &grads, const LossScaler &scaler, double maxNorm, double &norm) {
    scaler.unscale(grads);
    norm = globalGradNorm(grads);
    if (!std::isfinite(norm))
        return false;
    clipGradients(grads, norm, maxNorm);
    return true;
}

} // namespace headroom
