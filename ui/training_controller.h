// TrainingController runs headroom::runTraining in a worker thread for the Train page and turns the
// trainer's TrainingObserver events into Qt signals — the one place where that happens (an observer
// in training_controller.cpp emits these signals from the worker; Qt queues them to the receivers'
// thread, with value-type payloads). Pause, resume and stop go through the run's
// headroom::TrainingControl; a stop writes a checkpoint before finished() arrives. No widget here,
// and no LibTorch in this header.
#pragma once

#include "headroom/train_config.h"

#include "memory_timeline_data.h"

#include <QMetaType>
#include <QObject>
#include <QString>

#include <array>
#include <cstdint>
#include <memory>

namespace headroom {
class TrainingControl;
}
class QThread;

// One optimizer step, as the trainer reported it.
struct TrainingStep {
    qint64 step = 0, totalSteps = 0;
    double epoch = 0, loss = 0, learningRate = 0, gradNorm = 0, lossScale = 1;
    double tokensPerSecond = 0, elapsedSeconds = 0, etaSeconds = 0;
    bool skipped = false;
    std::array<int64_t, 6> memory{};   // memoryCategories() order
    qint64 peakBytes = 0;
};
Q_DECLARE_METATYPE(TrainingStep)

// What a run that ran out of memory proposes (headroom::OutOfMemoryEvent).
struct OutOfMemoryAdvice {
    QString description;       // one line for people
    QString overridesJson;     // {"training.per_device_train_batch_size": 2, ...}; "{}" when none
    bool applied = false;      // the run already goes on with the change
    bool needsRestart = false; // the change needs a fresh run (no resume)
};
Q_DECLARE_METATYPE(OutOfMemoryAdvice)

class TrainingController : public QObject
{
    Q_OBJECT

public:
    explicit TrainingController(QObject *parent = nullptr);
    ~TrainingController() override;   // stops a running run and waits for it

    // Starts a run of `config` (resuming from its output folder's latest checkpoint when
    // `resume`). Ignored while a run is going.
    void start(const headroom::TrainConfig &config, bool resume);
    void pause();
    void resume();
    void stop();                      // the run ends after writing a checkpoint
    bool isRunning() const;
    bool isPaused() const;
    // Blocks until the worker thread has ended (after stop()); true when it did within `ms`.
    bool wait(int ms);

signals:
    void started(qint64 totalSteps, qint64 startStep, const QString &outputDir, const QString &device);
    void stepDone(const TrainingStep &step);
    // The memory timeline of the step training.memory_timeline_step names, just before its stepDone.
    void memoryTimeline(const MemoryTimelineData &timeline);
    void evaluated(qint64 step, double evalLoss);
    void checkpointSaved(qint64 step, const QString &path);
    void warning(const QString &message);
    void outOfMemory(const OutOfMemoryAdvice &advice);
    void pausedChanged(bool paused);
    // `adapterDir` is empty when no step completed; `checkpointDir` is the one a stop wrote.
    void finished(bool stopped, qint64 steps, const QString &adapterDir, const QString &checkpointDir);
    void failed(const QString &message);

private:
    QThread *m_thread = nullptr;
    std::unique_ptr<headroom::TrainingControl> m_control;
};
