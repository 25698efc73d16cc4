#include "training_controller.h"

#include "headroom/trainer.h"
#include "headroom/training_events.h"

#include "models/memory_categories.h"

namespace {

// The adapter: trainer events to the controller's signals, called on the worker thread.
class SignalObserver : public headroom::TrainingObserver {
public:
    explicit SignalObserver(TrainingController *controller) : m_controller(controller) {}

    void onRunStart(const headroom::RunStartEvent &event) override {
        emit m_controller->started(event.totalSteps, event.startStep, QString::fromStdString(event.outputDir),
                                   QString::fromStdString(event.device));
    }
    void onStep(const headroom::StepEvent &event) override {
        if (!event.timeline.empty())
            emit m_controller->memoryTimeline(timelineOf(event));
        emit m_controller->stepDone(event);
    }
    void onEval(const headroom::EvalEvent &event) override { emit m_controller->evaluated(event.step, event.evalLoss); }
    void onCheckpoint(int64_t step, const std::string &path) override {
        emit m_controller->checkpointSaved(step, QString::fromStdString(path));
    }
    void onWarning(const std::string &message) override { emit m_controller->warning(QString::fromStdString(message)); }
    void onOutOfMemory(const headroom::OutOfMemoryEvent &event) override {
        emit m_controller->outOfMemory({QString::fromStdString(event.describe()),
                                        QString::fromStdString(event.overrides.dump()), event.applied,
                                        event.needsRestart});
    }
    // onFinish and onError: runTraining's return and exception say the same, in one place below.

private:
    // The same fields the trainer writes to memory_timeline.json.
    static MemoryTimelineData timelineOf(const headroom::StepEvent &event) {
        MemoryTimelineData timeline;
        timeline.step = event.step;
        const headroom::MemoryBreakdown &m = event.memory;
        timeline.fixed = {m.weights, m.adapters, m.gradients, m.optimizer};
        timeline.peakBytes = m.peak;
        const headroom::TimelinePeak peak = headroom::timelinePeak(event.timeline);
        timeline.peakAfter = QString::fromStdString(peak.after);
        timeline.peakReachedBy = QString::fromStdString(peak.reachedBy);
        for (const headroom::MemoryTimelinePoint &point : event.timeline)
            timeline.points.push_back({QString::fromStdString(point.event), point.allocated, point.peak});
        return timeline;
    }

    TrainingController *m_controller;
};

} // namespace

TrainingController::TrainingController(StudioSession *session, QObject *parent)
    : QObject(parent), m_job(session, tr("a training")) {
    qRegisterMetaType<headroom::StepEvent>();
    qRegisterMetaType<OutOfMemoryAdvice>();
    qRegisterMetaType<MemoryTimelineData>();
    connect(&m_job, &MeasurementJob::ended, this, &TrainingController::reportOutcome);
}

TrainingController::~TrainingController() = default;

bool TrainingController::start(const headroom::TrainConfig &config, bool resume) {
    if (isRunning())
        return false;
    m_control = std::make_unique<headroom::TrainingControl>();
    m_outcome = {};
    headroom::TrainingControl *control = m_control.get();
    Outcome *outcome = &m_outcome;
    const auto run = [this, config, resume, control, outcome] {
        SignalObserver observer(this);
        headroom::ResumeRequest request;
        request.resume = resume;
        try {
            const headroom::TrainSummary summary = headroom::runTraining(config, observer, control, request);
            outcome->stopped = summary.stopped;
            outcome->steps = summary.steps;
            outcome->adapterDir = QString::fromStdString(summary.adapterDir);
            outcome->checkpointDir = QString::fromStdString(summary.checkpointDir);
        } catch (const std::exception &error) {
            outcome->failed = true;
            outcome->message = QString::fromStdString(error.what());
        }
    };
    return m_job.start(run, [control] { control->requestStop(); });
}

// On the GUI thread once the job has ended: after every event of the run, with the claim released.
void TrainingController::reportOutcome() {
    if (m_outcome.failed)
        emit failed(m_outcome.message);
    else
        emit finished(m_outcome.stopped, m_outcome.steps, m_outcome.adapterDir, m_outcome.checkpointDir);
}

void TrainingController::pause() {
    if (!isRunning() || m_control->paused())
        return;
    m_control->requestPause();
    emit pausedChanged(true);
}

void TrainingController::resume() {
    if (!isRunning() || !m_control->paused())
        return;
    m_control->requestResume();
    emit pausedChanged(false);
}

void TrainingController::stop() { m_job.cancel(); }

bool TrainingController::isRunning() const { return m_job.isRunning(); }

bool TrainingController::isPaused() const { return isRunning() && m_control->paused(); }
