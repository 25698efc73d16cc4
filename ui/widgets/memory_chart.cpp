#include "memory_chart.h"

#include "models/memory_categories.h"

#include <QVBoxLayout>
#include <qcustomplot.h>

#include <numeric>

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr double kMiB = 1024.0 * 1024.0;
// A budget more than this many times the tallest bar is not drawn to scale.
constexpr double kBudgetScaleLimit = 4.0;

int64_t sum(const MemoryChart::Bytes &bytes) { return std::accumulate(bytes.begin(), bytes.end(), int64_t(0)); }

} // namespace

MemoryChart::MemoryChart(QWidget *parent) : QWidget(parent), m_plot(new QCustomPlot) {
    m_plot->setObjectName("memoryPlot");
    m_plot->setMinimumSize(360, 300);
    m_plot->legend->setVisible(true);
    m_plot->legend->setFont(font());
    m_plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    QCPBars *below = nullptr;
    for (const MemoryCategory &category : memoryCategories()) {
        auto *bars = new QCPBars(m_plot->xAxis, m_plot->yAxis);
        bars->setName(category.name);
        bars->setPen(QPen(category.color.darker(130)));
        bars->setBrush(category.color);
        bars->setWidth(0.5);
        if (below)
            bars->moveAbove(below);
        below = bars;
    }
    m_plot->xAxis->setTicker(QSharedPointer<QCPAxisTickerText>::create());
    m_plot->xAxis->setRange(0.4, 2.6);
    m_plot->xAxis->grid()->setVisible(false);
    auto *budget = new QCPItemStraightLine(m_plot);
    budget->setObjectName("budgetLine");
    budget->setPen(QPen(QColor(0xc0, 0x20, 0x20), 2, Qt::DashLine));
    budget->setVisible(false);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_plot);
}

void MemoryChart::setEstimate(const Bytes &current, const std::optional<Bytes> &suggested, int64_t budgetBytes,
                              const QString &budgetName) {
    const int64_t tallest = std::max(sum(current), suggested ? sum(*suggested) : 0);
    const bool budgetToScale = budgetBytes <= tallest * kBudgetScaleLimit;
    const int64_t top = budgetToScale ? std::max(tallest, budgetBytes) : tallest;
    const double unit = top >= kGiB ? kGiB : kMiB;
    for (int i = 0; i < m_plot->plottableCount(); ++i) {
        auto *bars = qobject_cast<QCPBars *>(m_plot->plottable(i));
        QVector<double> keys{1}, values{current[size_t(i)] / unit};
        if (suggested) {
            keys << 2;
            values << (*suggested)[size_t(i)] / unit;
        }
        bars->setData(keys, values, true);
    }
    auto ticker = qSharedPointerCast<QCPAxisTickerText>(m_plot->xAxis->ticker());
    ticker->clear();
    ticker->addTick(1, tr("your settings"));
    if (suggested)
        ticker->addTick(2, tr("suggested change"));
    auto *budget = static_cast<QCPItemStraightLine *>(m_plot->item(0));
    budget->point1->setCoords(0, budgetBytes / unit);
    budget->point2->setCoords(1, budgetBytes / unit);
    budget->setVisible(budgetToScale);
    const QString unitName = unit == kGiB ? "GiB" : "MiB";
    m_plot->yAxis->setLabel(
        budgetToScale ? tr("%1 (dashed: %2 budget %3)").arg(unitName, budgetName, formatBytes(budgetBytes))
                      : tr("%1 (%2 budget %3: far above)").arg(unitName, budgetName, formatBytes(budgetBytes)));
    m_plot->yAxis->setRange(0, top / unit * 1.15);
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void MemoryChart::clear() {
    for (int i = 0; i < m_plot->plottableCount(); ++i)
        qobject_cast<QCPBars *>(m_plot->plottable(i))->data()->clear();
    m_plot->item(0)->setVisible(false);
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}
