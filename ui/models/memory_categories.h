// The memory categories of docs/contracts.md (weights, adapters, gradients, optimizer, activations,
// other) as the studio draws them: the same words, order and colours on every chart, and byte counts
// in the units people read ("1.24 GiB").
#pragma once

#include <QColor>
#include <QString>

#include <array>
#include <cstdint>

struct MemoryCategory {
    const char *name; // docs/contracts.md's word, also the objectName stem of its labels
    QColor color;
};

// Bottom to top of a stacked bar.
const std::array<MemoryCategory, 6> &memoryCategories();

// The six figures in memoryCategories() order, from anything with those members.
template <typename Breakdown>
std::array<int64_t, 6> categoryBytes(const Breakdown &b) {
    return {b.weights, b.adapters, b.gradients, b.optimizer, b.activations, b.other};
}

QString formatBytes(int64_t bytes); // "812 B", "3.4 MiB", "1.24 GiB"
