// LabPage is the trade-off lab: it runs a bench sweep of the session's configuration (e.g.
// checkpointing on/off x micro-batch 1, 2, 4) in a MeasurementJob's thread and plots each setting's peak
// memory against its tokens/s, with the rows in a table that exports as CSV and the plot saved
// as PNG or PDF.
#pragma once

#include "jobs/measurement_job.h"

#include <QWidget>

class BenchSweepWorker;
class QComboBox;
class QCustomPlot;
class QLabel;
class QPushButton;
class QSpinBox;
class QTableWidget;
class StudioSession;
struct BenchPoint;

class LabPage : public QWidget {
    Q_OBJECT

public:
    explicit LabPage(StudioSession *session, QWidget *parent = nullptr);

    void runSweep();
    // Write the table / the plot; throw headroom::Error when the file cannot be written.
    void exportCsv(const QString &path) const;
    void savePlot(const QString &path) const; // .png or .pdf by suffix

signals:
    void sweepFinished();

private:
    void addPoint(const BenchPoint &point);
    void sweepEnded();

    StudioSession *m_session;
    QComboBox *m_sweep;
    QSpinBox *m_steps;
    QPushButton *m_run;
    QLabel *m_status;
    QTableWidget *m_table;
    QCustomPlot *m_plot;
    BenchSweepWorker *m_worker;
    MeasurementJob m_job; // after the worker: destroyed first, cancelling and waiting for it
};
