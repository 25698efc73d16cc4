// MemoryChart draws a memory estimate as a stacked bar by category (memory_categories.h) against a
// budget line: the bar of the current settings and, when they do not fit, a second bar for the
// change suggestFit proposes. A budget far above the bar is written in the axis label instead of
// squeezing the bar to a sliver.
#pragma once

#include <QWidget>

#include <array>
#include <cstdint>
#include <optional>

class QCustomPlot;

class MemoryChart : public QWidget {
    Q_OBJECT

public:
    using Bytes = std::array<int64_t, 6>; // memoryCategories() order

    explicit MemoryChart(QWidget *parent = nullptr);

    void setEstimate(const Bytes &current, const std::optional<Bytes> &suggested, int64_t budgetBytes,
                     const QString &budgetName);
    void clear();
    QCustomPlot *plot() const { return m_plot; }

private:
    QCustomPlot *m_plot;
};
