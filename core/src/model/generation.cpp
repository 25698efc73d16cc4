#include "headroom/generation.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>

#include "headroom/causal_lm.h"
#include "headroom/error.h"

namespace headroom {

namespace {

int32_t sampleToken(const torch::Tensor &lastLogits, const GenerationOptions &options, std::mt19937_64 &rng) {
    if (options.temperature <= 0.0)
        return int32_t(lastLogits.argmax().item<int64_t>());
    auto probs = (lastLogits.to(torch::kFloat32) / options.temperature).softmax(-1).to(torch::kCPU).contiguous();
    const float *p = probs.data_ptr<float>();
    const int64_t n = probs.numel();
    std::vector<int32_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
    // Nucleus: the smallest prefix of the sorted distribution whose mass reaches top_p.
    double mass = 0;
    size_t keep = 0;
    while (keep < order.size() && (keep == 0 || mass < options.topP))
        mass += p[order[keep++]];
    std::uniform_real_distribution<double> uniform(0.0, mass);
    double r = uniform(rng);
    for (size_t i = 0; i < keep; ++i) {
        r -= p[order[i]];
        if (r <= 0)
            return order[i];
    }
    return order[keep - 1];
}

} // namespace

GenerationResult generate(const CausalLM &model, const std::vector<int32_t> &promptIds,
                          const GenerationOptions &options, const TokenCallback &onToken) {
    if (promptIds.empty())
        throw invalidInput("generate: the prompt encodes to no tokens");
    if (options.topP <= 0.0 || options.topP > 1.0)
        throw invalidInput("generate: top-p must be in (0, 1]");
    const int64_t maxLength = int64_t(promptIds.size()) + options.maxNewTokens;
    if (maxLength > model.config().maxPositions)
        throw invalidInput("generate: prompt + new tokens (" + std::to_string(maxLength) +
                           ") exceed the model's max_position_embeddings (" +
                           std::to_string(model.config().maxPositions) + ")");
    torch::NoGradGuard noGrad;
    std::mt19937_64 rng(options.seed);
    KvCache cache(model.config(), 1, maxLength, model.dtype(), model.device());
    GenerationResult result;
    const auto start = std::chrono::steady_clock::now();

    std::vector<int64_t> prompt(promptIds.begin(), promptIds.end());
    auto input = torch::tensor(prompt, torch::kLong).view({1, -1});
    for (int step = 0; step < options.maxNewTokens; ++step) {
        auto logits = model.forward(input, {}, &cache);
        const int32_t next = sampleToken(logits[0][logits.size(1) - 1], options, rng);
        result.tokens.push_back(next);
        const bool stop = std::find(options.stopIds.begin(), options.stopIds.end(), next) != options.stopIds.end();
        if (onToken && !onToken(next))
            break;
        if (stop) {
            result.stoppedOnEos = true;
            break;
        }
        input = torch::tensor({int64_t(next)}, torch::kLong).view({1, 1});
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.tokensPerSecond = result.seconds > 0 ? double(result.tokens.size()) / result.seconds : 0.0;
    return result;
}

} // namespace headroom
