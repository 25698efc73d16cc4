// MemoryTimelineView shows the memory timeline of one training step (MemoryTimelineData): a bar
// per point (bytes in use, the point's event name as its tick label), the fixed categories
// (weights + adapters + gradients + optimizer) as a dashed baseline, the step's peak as a red
// line between the points it fell between, and a label "peak X between A and B". "Open
// timeline…" reads a finished run's memory_timeline.json.
#pragma once

#include <QWidget>

class QCustomPlot;
class QLabel;
class QPushButton;
struct MemoryTimelineData;

class MemoryTimelineView : public QWidget {
    Q_OBJECT

public:
    explicit MemoryTimelineView(QWidget *parent = nullptr);

    void showTimeline(const MemoryTimelineData &timeline);
    // Reads and shows `path`; a file that is not a timeline is named in the label instead.
    void openFile(const QString &path);
    void clear();

private:
    void chooseFile();

    QCustomPlot *m_plot;
    QLabel *m_peak;
    QPushButton *m_open;
};
