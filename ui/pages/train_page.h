// TrainPage runs the session's configuration (TrainingController: a worker thread) and shows it
// live: start, pause/resume, stop (with a checkpoint), resume a previous run from its output
// folder; a progress bar with ETA and tokens/s; plots of the loss per optimizer step (raw and
// smoothed), the learning rate, the loss scale, and memory by category over the steps with the
// estimate for the same settings drawn beside as dashed lines. The run's events go into a
// TrainingHistory, which the plots draw from. An out-of-memory stop shows the suggested change and
// a button that applies it and continues. Plots are redrawn on a timer, not on every event. A "Memory timeline" tab shows the bytes in use through one chosen step (the
// "Record memory of step" box sets training.memory_timeline_step) or a finished run's file.
#pragma once

#include <QWidget>

#include <array>

class QCustomPlot;
class MemoryTimelineView;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTabWidget;
class QTimer;
class StudioSession;
class TrainingController;
namespace headroom {
struct StepEvent;
}
class TrainingHistory;
struct OutOfMemoryAdvice;

class TrainPage : public QWidget {
    Q_OBJECT

public:
    explicit TrainPage(StudioSession *session, QWidget *parent = nullptr);
    ~TrainPage() override;

    bool isTraining() const;
    TrainingController *controller() const { return m_controller; }
    TrainingHistory *history() const { return m_history; }
    void startTraining();
    // Continues the run whose output folder is `outputDir` from its latest checkpoint.
    void resumeRun(const QString &outputDir);
    void stopTraining();

signals:
    void runEnded();

private:
    QCustomPlot *createPlot(const QString &objectName, const QString &title, const QString &yLabel);
    void start(bool resume);
    void onStarted(qint64 totalSteps, qint64 startStep, const QString &outputDir, const QString &device);
    void onStep(const headroom::StepEvent &step);
    void onOutOfMemory(const OutOfMemoryAdvice &advice);
    void onFinished(bool stopped, qint64 steps, const QString &adapterDir, const QString &checkpointDir);
    void onFailed(const QString &message);
    void applyOomChange();
    void chooseRunToResume();
    void estimateFor(const QString &device);
    void drawHistory();
    void replot();
    void updateButtons();
    void setTimelineStep(int step);

    StudioSession *m_session;
    TrainingController *m_controller;
    TrainingHistory *m_history;
    bool m_historyChanged = false; // since drawHistory()
    QPushButton *m_start, *m_pause, *m_stop, *m_resumeRun, *m_applyOom;
    QProgressBar *m_progress;
    QLabel *m_speed, *m_status, *m_oom;
    QCustomPlot *m_lossPlot, *m_lrPlot, *m_scalePlot, *m_memoryPlot;
    std::array<QCustomPlot *, 4> m_plots{};
    QSpinBox *m_timelineStep;
    QTabWidget *m_tabs;
    MemoryTimelineView *m_timeline;
    QTimer *m_replotTimer;
    bool m_resuming = false;
    QString m_oomOverrides;
    bool m_oomNeedsRestart = false;
};
