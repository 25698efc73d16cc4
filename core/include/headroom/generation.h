// Text generation with a KV cache: greedy, temperature and top-p sampling, stopping on EOS.
//
// Usage:
//   GenerationOptions opts; opts.maxNewTokens = 64; opts.temperature = 0;   // 0 = greedy
//   auto result = generate(*model, promptIds, opts, [&](int32_t id) { /* stream */ return true; });
// The callback sees each new token as it is produced and may return false to stop early.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace headroom {

class CausalLM;

struct GenerationOptions {
    int maxNewTokens = 128;
    double temperature = 0.0; // 0 = greedy (argmax)
    double topP = 1.0; // nucleus sampling threshold, used when temperature > 0
    uint64_t seed = 42;
    std::vector<int32_t> stopIds; // generation ends after emitting one of these
};

struct GenerationResult {
    std::vector<int32_t> tokens; // the new tokens only (including a final stop token, if hit)
    bool stoppedOnEos = false;
    double seconds = 0; // time of the decoding loop (prompt prefill included)
    double tokensPerSecond = 0; // new tokens / seconds
};

using TokenCallback = std::function<bool(int32_t token)>;

GenerationResult generate(const CausalLM &model, const std::vector<int32_t> &promptIds,
                          const GenerationOptions &options, const TokenCallback &onToken = {});

} // namespace headroom
