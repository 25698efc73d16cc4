#include "train/micro_batch.h"

#include <algorithm>

namespace headroom {

int64_t targetTokens(const TokenizedExample &row) {
    return std::count_if(row.labels.begin() + std::min<size_t>(1, row.labels.size()), row.labels.end(),
                         [](int32_t l) { return l != kIgnoreLabel; });
}

MicroBatch collateMicroBatch(const std::vector<const TokenizedExample *> &rows, bool packed,
                             const torch::Device &device) {
    const int64_t b = int64_t(rows.size());
    int64_t length = 1;
    for (const auto *row : rows)
        length = std::max<int64_t>(length, int64_t(row->ids.size()));
    auto ids = torch::zeros({b, length}, torch::kLong);
    auto mask = torch::zeros({b, length}, torch::kLong);
    auto labels = torch::full({b, length}, int64_t(kIgnoreLabel), torch::kLong);
    auto positions = torch::zeros({b, length}, torch::kLong);
    auto segments = torch::full({b, length}, int64_t(-1), torch::kLong);
    auto idsA = ids.accessor<int64_t, 2>();
    auto maskA = mask.accessor<int64_t, 2>();
    auto labelsA = labels.accessor<int64_t, 2>();
    auto positionsA = positions.accessor<int64_t, 2>();
    auto segmentsA = segments.accessor<int64_t, 2>();
    MicroBatch batch;
    for (int64_t r = 0; r < b; ++r) {
        const auto &row = *rows[r];
        for (size_t t = 0; t < row.ids.size(); ++t) {
            idsA[r][t] = row.ids[t];
            maskA[r][t] = 1;
            labelsA[r][t] = row.labels[t];
            positionsA[r][t] = row.positions.empty() ? int64_t(t) : row.positions[t];
            segmentsA[r][t] = row.segments.empty() ? 0 : row.segments[t];
        }
        batch.tokens += int64_t(row.ids.size());
        batch.targetTokens += targetTokens(row);
    }
    batch.ids = ids.to(device);
    batch.mask = mask.to(device);
    batch.labels = labels.to(device);
    if (packed) {
        batch.positions = positions.to(device);
        batch.segments = segments.to(device);
    }
    return batch;
}

} // namespace headroom
