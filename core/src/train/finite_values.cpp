#include "train/finite_values.h"

#include "headroom/safetensors.h"

namespace headroom {

namespace {

// Values that are all finite exactly when `tensor`'s are (float64, on its device).
torch::Tensor finiteProbe(const torch::Tensor &tensor) {
    if (tensor.numel() == 0)
        return torch::zeros({1}, tensor.options().dtype(torch::kFloat64));
    if (tensor.scalar_type() == torch::kHalf)
        return tensor.sum(torch::kFloat32).to(torch::kFloat64).view({1});
    const auto [low, high] = torch::aminmax(tensor);
    return torch::stack({low, high}).to(torch::kFloat64);
}

} // namespace

bool allFinite(const torch::Tensor &tensor) { return allFinite(std::vector<torch::Tensor>{tensor}); }

bool allFinite(const std::vector<torch::Tensor> &tensors) {
    if (tensors.empty())
        return true;
    torch::NoGradGuard noGrad;
    std::vector<torch::Tensor> probes;
    for (const auto &t : tensors)
        probes.push_back(finiteProbe(t.detach()));
    return torch::isfinite(torch::cat(probes)).all().item<bool>();
}

std::string describeNonFinite(const torch::Tensor &tensor) {
    torch::NoGradGuard noGrad;
    const auto flat = tensor.detach().flatten();
    const auto bad = torch::logical_not(torch::isfinite(flat));
    const int64_t nans = torch::isnan(flat).sum().item<int64_t>();
    const int64_t count = bad.sum().item<int64_t>();
    if (count == 0)
        return "no NaN or infinite values";
    int64_t first = bad.nonzero()[0][0].item<int64_t>();
    std::vector<int64_t> index(size_t(tensor.dim()));
    for (int64_t d = tensor.dim() - 1; d >= 0; --d) {
        index[size_t(d)] = first % tensor.size(d);
        first /= tensor.size(d);
    }
    return std::to_string(nans) + " NaN and " + std::to_string(count - nans) + " infinite values, the first at " +
           formatShape(index);
}

} // namespace headroom
