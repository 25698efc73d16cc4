// Packing examples into rows, the validation split and the per-epoch order. The random draws
// use std::mt19937_64's output (fixed by the standard) with our own Fisher-Yates shuffle, so an
// order is the same on every platform and standard library.
#include "headroom/dataset.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace headroom {

namespace {

// SplitMix64's finaliser: spreads nearby seeds (seed, seed + 1, ...) over unrelated streams.
uint64_t mix(uint64_t value) {
    value += 0x9e3779b97f4a7c15ULL;
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
    return value ^ (value >> 31);
}

constexpr uint64_t kSplitStream = 0x73706c6974ULL; // "split"
constexpr uint64_t kEpochStream = 0x65706f6368ULL; // "epoch"

std::vector<size_t> shuffled(size_t count, uint64_t seed) {
    std::vector<size_t> order(count);
    std::iota(order.begin(), order.end(), size_t(0));
    std::mt19937_64 random(seed);
    for (size_t i = count; i > 1; --i)
        std::swap(order[i - 1], order[random() % i]);
    return order;
}

} // namespace

std::vector<TokenizedExample> packExamples(const std::vector<TokenizedExample> &examples, int64_t maxLength) {
    std::vector<TokenizedExample> rows;
    int32_t segment = 0;
    for (const TokenizedExample &example : examples) {
        if (rows.empty() || rows.back().ids.size() + example.ids.size() > static_cast<size_t>(maxLength)) {
            rows.emplace_back();
            segment = 0;
        }
        TokenizedExample &row = rows.back();
        row.ids.insert(row.ids.end(), example.ids.begin(), example.ids.end());
        row.labels.insert(row.labels.end(), example.labels.begin(), example.labels.end());
        for (size_t i = 0; i < example.ids.size(); ++i) {
            row.positions.push_back(static_cast<int32_t>(i));
            row.segments.push_back(segment);
        }
        ++segment;
    }
    return rows;
}

std::vector<size_t> validationIndices(size_t count, double split, uint64_t seed) {
    if (split <= 0 || count < 2)
        return {};
    const auto wanted = static_cast<size_t>(std::ceil(split * static_cast<double>(count)));
    const size_t held = std::clamp<size_t>(wanted, 1, count - 1);
    std::vector<size_t> order = shuffled(count, mix(seed ^ kSplitStream));
    order.resize(held);
    std::sort(order.begin(), order.end());
    return order;
}

std::vector<size_t> shuffledOrder(size_t count, uint64_t seed, int64_t epoch) {
    return shuffled(count, mix(mix(seed ^ kEpochStream) + static_cast<uint64_t>(epoch)));
}

} // namespace headroom
