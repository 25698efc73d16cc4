#include "memory_timeline_view.h"

#include "models/memory_categories.h"
#include "models/memory_timeline_data.h"

#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>
#include <qcustomplot.h>

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// The x of the point named `event` (the first one); -0.5, the left edge, for "" (the step's start).
double pointX(const MemoryTimelineData &timeline, const QString &event) {
    for (int i = 0; i < timeline.points.size(); ++i) {
        if (timeline.points[i].event == event)
            return i;
    }
    return -0.5;
}

} // namespace

MemoryTimelineView::MemoryTimelineView(QWidget *parent)
    : QWidget(parent), m_plot(new QCustomPlot), m_peak(new QLabel), m_open(new QPushButton(tr("Open timeline…"))) {
    m_plot->setObjectName("memoryTimelinePlot");
    m_peak->setObjectName("timelinePeakLabel");
    m_open->setObjectName("openTimelineButton");
    m_open->setToolTip(tr("Show the memory_timeline.json of a finished run."));
    m_peak->setWordWrap(true);
    m_peak->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_plot->setMinimumSize(320, 200);
    m_plot->yAxis->setLabel(tr("MiB in use"));
    m_plot->xAxis->setTickLabelRotation(60);
    m_plot->xAxis->grid()->setZeroLinePen(Qt::NoPen); // x = 0 is the first bar, not an origin
    auto *bars = new QCPBars(m_plot->xAxis, m_plot->yAxis);
    bars->setWidth(0.7);
    bars->setPen(Qt::NoPen);
    bars->setBrush(QColor(0x4c, 0x72, 0xb0, 170));
    connect(m_open, &QPushButton::clicked, this, &MemoryTimelineView::chooseFile);

    auto *row = new QHBoxLayout;
    row->addWidget(m_peak, 1);
    row->addWidget(m_open);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(row);
    layout->addWidget(m_plot, 1);
    clear();
}

void MemoryTimelineView::clear() {
    qobject_cast<QCPBars *>(m_plot->plottable(0))->data()->clear();
    m_plot->clearItems();
    m_plot->xAxis->setTicker(QSharedPointer<QCPAxisTickerText>::create());
    m_peak->setText(
        tr("No timeline yet: set \"Record memory of step\" before Start, or open a run's memory_timeline.json."));
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void MemoryTimelineView::showTimeline(const MemoryTimelineData &timeline) {
    clear();
    auto *bars = qobject_cast<QCPBars *>(m_plot->plottable(0));
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    double top = timeline.peakBytes / kMiB;
    for (int i = 0; i < timeline.points.size(); ++i) {
        const MemoryTimelinePointData &point = timeline.points[i];
        bars->addData(i, point.allocated / kMiB);
        ticker->addTick(i, point.event);
        top = std::max(top, point.allocated / kMiB);
    }
    m_plot->xAxis->setTicker(ticker);

    auto *baseline = new QCPItemStraightLine(m_plot);
    baseline->setPen(QPen(Qt::darkGray, 1, Qt::DashLine));
    baseline->point1->setCoords(0, timeline.fixedBytes() / kMiB);
    baseline->point2->setCoords(1, timeline.fixedBytes() / kMiB);
    baseline->setProperty("fixedBytes", timeline.fixedBytes());

    // The peak lies somewhere between two points: a line at its height spanning that interval.
    auto *peak = new QCPItemLine(m_plot);
    peak->setPen(QPen(QColor(0xa3, 0x20, 0x1a), 2));
    peak->start->setCoords(pointX(timeline, timeline.peakAfter), timeline.peakBytes / kMiB);
    peak->end->setCoords(pointX(timeline, timeline.peakReachedBy), timeline.peakBytes / kMiB);
    auto *peakText = new QCPItemText(m_plot);
    peakText->setText(tr("peak %1").arg(formatBytes(timeline.peakBytes)));
    peakText->setColor(peak->pen().color());
    peakText->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
    peakText->position->setCoords((peak->start->coords().x() + peak->end->coords().x()) / 2, timeline.peakBytes / kMiB);

    const QString after = timeline.peakAfter.isEmpty() ? tr("the step's start") : timeline.peakAfter;
    m_peak->setText(
        tr("Step %1: peak %2 between \"%3\" and \"%4\"; fixed (weights, adapters, gradients, optimizer) %5 "
           "(dashed).")
            .arg(timeline.step)
            .arg(formatBytes(timeline.peakBytes), after, timeline.peakReachedBy, formatBytes(timeline.fixedBytes())));
    m_plot->xAxis->setRange(-0.5, timeline.points.size() - 0.5);
    m_plot->yAxis->setRange(0, top * 1.1);
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void MemoryTimelineView::openFile(const QString &path) {
    try {
        showTimeline(MemoryTimelineData::fromFile(path));
    } catch (const std::exception &error) {
        clear();
        m_peak->setText(tr("Cannot show the timeline: %1").arg(QString::fromStdString(error.what())));
    }
}

void MemoryTimelineView::chooseFile() {
    const QString path = QFileDialog::getOpenFileName(this, tr("Open a memory timeline"), QString(),
                                                      tr("Memory timeline (memory_timeline.json);;JSON (*.json)"));
    if (!path.isEmpty())
        openFile(path);
}
