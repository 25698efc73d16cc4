#include "train/data_order.h"

#include <algorithm>
#include <cmath>

namespace headroom {

DataOrder::DataOrder(const TrainingDataset &data, uint64_t seed, int64_t rowsPerStep, int64_t packedLength)
    : m_data(&data), m_seed(seed), m_perStep(rowsPerStep), m_packedLength(packedLength) {}

int64_t DataOrder::stepsFor(double epochs) const {
    return std::max<int64_t>(1, int64_t(std::ceil(epochs * double(rowCount()) / double(m_perStep))));
}

std::vector<const TokenizedExample *> DataOrder::stepRows(int64_t step) {
    const auto &train = m_data->train();
    const int64_t n = rowCount();
    std::vector<const TokenizedExample *> rows;
    for (int64_t g = position(step); g < position(step + 1); ++g) {
        const int64_t epoch = g / n;
        auto it = m_orders.find(epoch);
        if (it == m_orders.end()) {
            m_orders.clear(); // only the current epoch (and the next) are ever needed
            it = m_orders.emplace(epoch, m_data->epochOrder(m_seed, epoch)).first;
        }
        rows.push_back(&train[it->second[size_t(g % n)]]);
    }
    return rows;
}

int64_t DataOrder::longestRow(int64_t step) {
    if (m_packedLength > 0)
        return m_packedLength;
    size_t longest = 0;
    for (const auto *row : stepRows(step))
        longest = std::max(longest, row->ids.size());
    return int64_t(longest);
}

double DataOrder::epochAt(int64_t step) const { return double(position(step)) / double(rowCount()); }

bool DataOrder::crossesEpoch(int64_t step) const {
    const int64_t n = rowCount();
    return position(step + 1) / n > position(step) / n;
}

} // namespace headroom
