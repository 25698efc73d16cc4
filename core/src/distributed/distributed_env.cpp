// The launcher variables (torchrun's names) and the split of a step's examples over the ranks.
#include "headroom/distributed.h"

#include <cstdlib>

#include "headroom/error.h"

namespace headroom {

namespace {

// The integer value of `name`, or `fallback` when unset; invalidInput when it is not an integer
// in [minimum, maximum].
int intVariable(const char *name, int fallback, int minimum, int maximum) {
    const char *text = std::getenv(name);
    if (!text)
        return fallback;
    char *end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || value < minimum || value > maximum)
        throw invalidInput("environment variable " + std::string(name) + "='" + text + "': expected an integer from " +
                           std::to_string(minimum) + " to " + std::to_string(maximum));
    return int(value);
}

} // namespace

std::optional<DistributedEnv> DistributedEnv::fromEnvironment() {
    if (!std::getenv("WORLD_SIZE"))
        return std::nullopt;
    DistributedEnv env;
    env.worldSize = intVariable("WORLD_SIZE", 1, 1, 1 << 20);
    env.rank = intVariable("RANK", 0, 0, env.worldSize - 1);
    env.localRank = intVariable("LOCAL_RANK", env.rank, 0, env.worldSize - 1);
    env.masterPort = intVariable("MASTER_PORT", env.masterPort, 1, 65535);
    if (const char *addr = std::getenv("MASTER_ADDR"); addr && *addr)
        env.masterAddr = addr;
    else if (env.worldSize > 1)
        throw invalidInput("environment variable MASTER_ADDR is not set (WORLD_SIZE is " +
                           std::to_string(env.worldSize) + "): set it to rank 0's host");
    return env;
}

StepShard stepShard(int64_t stepRows, int rank, int worldSize) {
    const int64_t share = stepRows / worldSize;
    return {share * rank, share * (rank + 1)};
}

} // namespace headroom
