// Which training rows make each optimizer step. The rows are one endless sequence: epoch 0's order,
// then epoch 1's, ... (TrainingDataset::epochOrder from training.seed), and optimizer step N takes
// its positions N x rowsPerStep to (N + 1) x rowsPerStep - 1 (rowsPerStep = micro-batch x
// accumulation x processes). A step's rows depend only on (seed, step, rowsPerStep), so a resumed
// run trains on the rows the uninterrupted run would have, and every rank agrees on them.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "headroom/dataset.h"

namespace headroom {

class DataOrder {
public:
    DataOrder() = default;
    // `data` must outlive this object. `packedLength` is dataset.max_seq_length when rows are
    // packed (every row is then padded to it), 0 when not.
    DataOrder(const TrainingDataset &data, uint64_t seed, int64_t rowsPerStep, int64_t packedLength);

    int64_t rowsPerStep() const { return m_perStep; }
    // The global data position at which step `step` starts (what a checkpoint records).
    int64_t position(int64_t step) const { return step * m_perStep; }
    // How many steps make `epochs` passes over the training rows (at least 1).
    int64_t stepsFor(double epochs) const;

    // The examples of step `step`, in the order its micro-batches take them.
    std::vector<const TokenizedExample *> stepRows(int64_t step);
    // Tokens in the longest row of step `step` (what its micro-batches are padded to at most).
    int64_t longestRow(int64_t step);
    // Epochs completed at the end of step `step` - 1 (the start of `step`), as a fraction.
    double epochAt(int64_t step) const;
    // Whether step `step` takes the last row of an epoch (it ends an epoch, or spans into the next).
    bool crossesEpoch(int64_t step) const;

private:
    int64_t rowCount() const { return int64_t(m_data->train().size()); }

    const TrainingDataset *m_data = nullptr;
    uint64_t m_seed = 0;
    int64_t m_perStep = 1;
    int64_t m_packedLength = 0;
    std::map<int64_t, std::vector<size_t>> m_orders; // epoch -> its order; only the latest is kept
};

} // namespace headroom
