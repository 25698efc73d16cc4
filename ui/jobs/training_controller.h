// TrainingController runs headroom::runTraining for the Train page as a MeasurementJob (it takes the
// session's measurement turn, named "a training", on a thread of its own) and turns the trainer's
// TrainingObserver events into Qt signals — the one place where that happens (an observer in
// training_controller.cpp emits these signals from the run's thread; Qt queues them to the
// receivers' thread, with value-type payloads). Pause, resume and stop go through the run's
// headroom::TrainingControl; a stop writes a checkpoint before finished() arrives. No widget here,
// and no LibTorch in this header.
#pragma once

#include "headroom/train_config.h"

#include "jobs/measurement_job.h"
#include "models/memory_timeline_data.h"
#include "models/training_history.h" // headroom::StepEvent as a signal payload

#include <QMetaType>
#include <QObject>
#include <QString>

#include <memory>

namespace headroom {
class TrainingControl;
}
class StudioSession;

// What a run that ran out of memory proposes (headroom::OutOfMemoryEvent).
struct OutOfMemoryAdvice {
    QString description; // one line for people
    QString overridesJson; // {"training.per_device_train_batch_size": 2, ...}; "{}" when none
    bool applied = false; // the run already goes on with the change
    bool needsRestart = false; // the change needs a fresh run (no resume)
};
Q_DECLARE_METATYPE(OutOfMemoryAdvice)

class TrainingController : public QObject {
    Q_OBJECT

public:
    explicit TrainingController(StudioSession *session, QObject *parent = nullptr);
    ~TrainingController() override; // stops a running run and waits for it

    // Starts a run of `config` (resuming from its output folder's latest checkpoint when
    // `resume`). False, and nothing starts, while a run is going or another job holds the session's
    // measurement.
    bool start(const headroom::TrainConfig &config, bool resume);
    void pause();
    void resume();
    void stop(); // the run ends after writing a checkpoint
    bool isRunning() const; // from start() until finished() or failed()
    bool isPaused() const;

signals:
    void started(qint64 totalSteps, qint64 startStep, const QString &outputDir, const QString &device);
    void stepDone(const headroom::StepEvent &step);
    // The memory timeline of the step training.memory_timeline_step names, just before its stepDone.
    void memoryTimeline(const MemoryTimelineData &timeline);
    void evaluated(qint64 step, double evalLoss);
    void checkpointSaved(qint64 step, const QString &path);
    void warning(const QString &message);
    void outOfMemory(const OutOfMemoryAdvice &advice);
    void pausedChanged(bool paused);
    // finished() or failed() comes last, once the run's thread has ended and the measurement is
    // released (isRunning() is false by then). `adapterDir` is empty when no step completed;
    // `checkpointDir` is the one a stop wrote.
    void finished(bool stopped, qint64 steps, const QString &adapterDir, const QString &checkpointDir);
    void failed(const QString &message);

private:
    void reportOutcome();

    // How the run ended: written by its thread, read once the thread has ended.
    struct Outcome {
        bool failed = false;
        QString message; // failed: what went wrong
        bool stopped = false;
        qint64 steps = 0;
        QString adapterDir, checkpointDir;
    };

    std::unique_ptr<headroom::TrainingControl> m_control;
    Outcome m_outcome;
    MeasurementJob m_job; // last: destroyed first, stopping and waiting for the run that uses the above
};
