#include "headroom/grad_norm.h"

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

} // namespace headroom
