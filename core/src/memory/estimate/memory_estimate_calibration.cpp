// The calibration cache of the memory estimator: measured/estimated activation ratios per model
// architecture and device, in a small JSON file written atomically (temporary file + rename).
#include "headroom/memory_estimate.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "headroom/error.h"

#include "io/atomic_file.h"

namespace headroom {

namespace fs = std::filesystem;

namespace {

constexpr int kCacheVersion = 1;

nlohmann::json readCache(const std::string &path) {
    std::ifstream in(path);
    if (!in)
        return nlohmann::json::object();
    const auto json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    // A damaged or foreign file is treated as empty (and replaced on the next calibration).
    if (!json.is_object() || json.value("version", 0) != kCacheVersion || !json.contains("entries") ||
        !json.at("entries").is_object())
        return nlohmann::json::object();
    return json;
}

} // namespace

std::string defaultCalibrationPath() {
    if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
        return (fs::path(xdg) / "headroom" / "calibration.json").string();
    const char *home = std::getenv("HOME");
    return (fs::path(home && *home ? home : ".") / ".cache" / "headroom" / "calibration.json").string();
}

std::string calibrationKey(const ModelConfig &c, const std::string &device, Attention attention) {
    std::ostringstream key;
    key << c.architecture << " h" << c.hiddenSize << " i" << c.intermediateSize << " l" << c.numLayers << " a"
        << c.numHeads << " kv" << c.numKvHeads << " d" << c.headDim << " v" << c.vocabSize << "|" << device << "|"
        << choiceName(attention);
    return key.str();
}

double calibrateActivations(const std::string &cachePath, const std::string &key, int64_t measuredActivations,
                            int64_t estimatedActivations) {
    if (measuredActivations <= 0 || estimatedActivations <= 0)
        throw invalidInput("calibration: measured and estimated activations must be positive (got " +
                           std::to_string(measuredActivations) + " and " + std::to_string(estimatedActivations) + ")");
    const double ratio = double(measuredActivations) / double(estimatedActivations);
    auto cache = readCache(cachePath);
    cache["version"] = kCacheVersion;
    cache["entries"][key] = {{"ratio", ratio}, {"measured", measuredActivations}, {"estimated", estimatedActivations}};
    detail::writeFileAtomically(cachePath, cache.dump(2) + "\n");
    return ratio;
}

std::optional<double> calibrationRatio(const std::string &cachePath, const std::string &key) {
    const auto cache = readCache(cachePath);
    if (!cache.contains("entries") || !cache.at("entries").contains(key))
        return std::nullopt;
    const auto &entry = cache.at("entries").at(key);
    if (!entry.is_object() || !entry.contains("ratio") || !entry.at("ratio").is_number() ||
        entry.at("ratio").get<double>() <= 0)
        return std::nullopt;
    return entry.at("ratio").get<double>();
}

} // namespace headroom
