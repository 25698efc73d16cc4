#include "train_page.h"

#include "jobs/training_controller.h"
#include "models/machine_gpus.h"
#include "models/memory_categories.h"
#include "models/studio_session.h"
#include "models/training_history.h"
#include "widgets/memory_timeline_view.h"

#include "headroom/memory_estimate.h"
#include "headroom/train_config.h"

#include <QDir>
#include <QFileDialog>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QTabWidget>
#include <QTimer>
#include <QVBoxLayout>
#include <qcustomplot.h>

namespace {

constexpr int kReplotIntervalMs = 250;
constexpr double kMiB = 1024.0 * 1024.0;

QString formatDuration(double seconds) {
    const qint64 s = qint64(seconds + 0.5);
    return s >= 3600 ? QStringLiteral("%1:%2:%3")
                           .arg(s / 3600)
                           .arg(s / 60 % 60, 2, 10, QChar('0'))
                           .arg(s % 60, 2, 10, QChar('0'))
                     : QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QChar('0'));
}

QVector<double> inMiB(QVector<double> bytes) {
    for (double &value : bytes)
        value /= kMiB;
    return bytes;
}

} // namespace

TrainPage::TrainPage(StudioSession *session, QWidget *parent)
    : QWidget(parent), m_session(session), m_controller(new TrainingController(session, this)),
      m_history(new TrainingHistory(this)), m_start(new QPushButton(tr("Start"))),
      m_pause(new QPushButton(tr("Pause"))), m_stop(new QPushButton(tr("Stop"))),
      m_resumeRun(new QPushButton(tr("Resume a run…"))), m_applyOom(new QPushButton(tr("Apply and continue"))),
      m_progress(new QProgressBar), m_speed(new QLabel), m_status(new QLabel), m_oom(new QLabel),
      m_timelineStep(new QSpinBox), m_tabs(new QTabWidget), m_timeline(new MemoryTimelineView),
      m_replotTimer(new QTimer(this)) {
    m_start->setObjectName("startButton");
    m_pause->setObjectName("pauseButton");
    m_stop->setObjectName("stopButton");
    m_resumeRun->setObjectName("resumeRunButton");
    m_applyOom->setObjectName("applyOomButton");
    m_progress->setObjectName("trainProgress");
    m_speed->setObjectName("speedLabel");
    m_status->setObjectName("trainStatus");
    m_oom->setObjectName("oomLabel");
    m_timelineStep->setObjectName("timelineStepSpin");
    m_tabs->setObjectName("trainTabs");
    m_timeline->setObjectName("memoryTimelineView");
    m_timelineStep->setRange(0, 1'000'000);
    m_timelineStep->setSpecialValueText(tr("off"));
    m_timelineStep->setValue(int(m_session->config().training.memoryTimelineStep));
    m_timelineStep->setToolTip(
        tr("Record the bytes in use through this optimizer step (training.memory_timeline_step);\n"
           "the Memory timeline tab shows it. A resumed run records it when the step is still ahead."));
    m_start->setShortcut(QKeySequence(tr("Ctrl+R")));
    m_start->setToolTip(tr("Train the configuration of the Configure page (Ctrl+R)."));
    m_pause->setToolTip(tr("Hold the run between micro-batches; Resume continues it."));
    m_stop->setToolTip(tr("End the run after writing a checkpoint; Resume a run continues it later."));
    m_resumeRun->setToolTip(tr("Continue a run from the latest checkpoint in its output folder."));
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_oom->setWordWrap(true);
    m_oom->setStyleSheet("color: #a3201a;");
    m_progress->setFormat(tr("step %v / %m"));
    m_progress->setValue(0);

    connect(m_start, &QPushButton::clicked, this, &TrainPage::startTraining);
    connect(m_pause, &QPushButton::clicked, this, [this] {
        if (m_controller->isPaused())
            m_controller->resume();
        else
            m_controller->pause();
    });
    connect(m_stop, &QPushButton::clicked, this, &TrainPage::stopTraining);
    connect(m_resumeRun, &QPushButton::clicked, this, &TrainPage::chooseRunToResume);
    connect(m_applyOom, &QPushButton::clicked, this, &TrainPage::applyOomChange);
    connect(m_timelineStep, qOverload<int>(&QSpinBox::valueChanged), this, &TrainPage::setTimelineStep);
    connect(m_session, &StudioSession::configChanged, this, [this] {
        const QSignalBlocker blocker(m_timelineStep);
        m_timelineStep->setValue(int(m_session->config().training.memoryTimelineStep));
    });

    auto *buttons = new QHBoxLayout;
    for (QPushButton *button : {m_start, m_pause, m_stop, m_resumeRun})
        buttons->addWidget(button);
    auto *timelineLabel = new QLabel(tr("Record memory of step"));
    timelineLabel->setBuddy(m_timelineStep);
    buttons->addWidget(timelineLabel);
    buttons->addWidget(m_timelineStep);
    buttons->addWidget(m_progress, 1);
    buttons->addWidget(m_speed);

    m_lossPlot = createPlot("lossPlot", tr("Loss per optimizer step"), tr("loss"));
    m_lossPlot->addGraph()->setName(tr("raw"));
    m_lossPlot->graph(0)->setPen(QPen(QColor(0x4c, 0x72, 0xb0, 110)));
    m_lossPlot->addGraph()->setName(tr("smoothed"));
    m_lossPlot->graph(1)->setPen(QPen(QColor(0x4c, 0x72, 0xb0), 2));
    m_lossPlot->legend->setVisible(true);
    m_lrPlot = createPlot("lrPlot", tr("Learning rate"), tr("lr"));
    m_lrPlot->addGraph()->setPen(QPen(QColor(0xdd, 0x84, 0x52), 2));
    m_scalePlot = createPlot("lossScalePlot", tr("Loss scale (fp16; 1 otherwise)"), tr("scale"));
    m_scalePlot->addGraph()->setPen(QPen(QColor(0x55, 0xa8, 0x68), 2));
    m_memoryPlot = createPlot("memoryTimePlot", tr("Memory by category (solid: measured, dashed: estimate)"),
                              tr("MiB (log scale)"));
    for (const MemoryCategory &category : memoryCategories())
        m_memoryPlot->addGraph()->setName(category.name);
    for (int i = 0; i < int(memoryCategories().size()); ++i)
        m_memoryPlot->graph(i)->setPen(QPen(memoryCategories()[size_t(i)].color, 2));
    // Categories span KiB (adapters of a small model) to GiB (weights): a log axis shows them all.
    m_memoryPlot->yAxis->setScaleType(QCPAxis::stLogarithmic);
    m_memoryPlot->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
    m_memoryPlot->yAxis->setNumberFormat("gb");
    // The legend beside the axes, where it hides no line.
    m_memoryPlot->legend->setVisible(true);
    m_memoryPlot->legend->setFont(font());
    m_memoryPlot->axisRect()->insetLayout()->take(m_memoryPlot->legend);
    m_memoryPlot->plotLayout()->addElement(1, 1, m_memoryPlot->legend);
    m_memoryPlot->plotLayout()->setColumnStretchFactor(1, 0.001);
    m_plots = {m_lossPlot, m_lrPlot, m_scalePlot, m_memoryPlot};

    auto *curves = new QWidget;
    auto *grid = new QGridLayout(curves);
    grid->setContentsMargins(0, 0, 0, 0);
    grid->addWidget(m_lossPlot, 0, 0);
    grid->addWidget(m_lrPlot, 0, 1);
    grid->addWidget(m_scalePlot, 1, 0);
    grid->addWidget(m_memoryPlot, 1, 1);

    auto *oomRow = new QHBoxLayout;
    oomRow->addWidget(m_oom, 1);
    oomRow->addWidget(m_applyOom);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(buttons);
    layout->addWidget(m_status);
    layout->addLayout(oomRow);
    m_tabs->addTab(curves, tr("Curves"));
    m_tabs->addTab(m_timeline, tr("Memory timeline"));
    layout->addWidget(m_tabs, 1);
    m_oom->hide();
    m_applyOom->hide();

    connect(m_controller, &TrainingController::started, this, &TrainPage::onStarted);
    connect(m_controller, &TrainingController::stepDone, this, &TrainPage::onStep);
    connect(m_controller, &TrainingController::stepDone, m_history, &TrainingHistory::addStep);
    connect(m_controller, &TrainingController::evaluated, m_history, &TrainingHistory::addEvaluation);
    connect(m_history, &TrainingHistory::changed, this, [this] { m_historyChanged = true; });
    connect(m_controller, &TrainingController::memoryTimeline, m_timeline, &MemoryTimelineView::showTimeline);
    connect(m_controller, &TrainingController::outOfMemory, this, &TrainPage::onOutOfMemory);
    connect(m_controller, &TrainingController::finished, this, &TrainPage::onFinished);
    connect(m_controller, &TrainingController::failed, this, &TrainPage::onFailed);
    connect(m_controller, &TrainingController::pausedChanged, this, [this](bool paused) {
        m_status->setText(paused ? tr("Paused (the current micro-batch finishes first).") : tr("Training…"));
        updateButtons();
    });
    connect(m_controller, &TrainingController::checkpointSaved, this, [this](qint64 step, const QString &path) {
        m_status->setText(tr("Checkpoint of step %1 written to %2").arg(step).arg(QDir::toNativeSeparators(path)));
    });
    connect(m_controller, &TrainingController::warning, this,
            [this](const QString &message) { m_status->setText(tr("Warning: %1").arg(message)); });

    m_replotTimer->setInterval(kReplotIntervalMs);
    connect(m_replotTimer, &QTimer::timeout, this, &TrainPage::replot);
    m_status->setText(tr("Press Start to train the configuration of the Configure page."));
    updateButtons();
}

TrainPage::~TrainPage() = default;

QCustomPlot *TrainPage::createPlot(const QString &objectName, const QString &title, const QString &yLabel) {
    auto *plot = new QCustomPlot;
    plot->setObjectName(objectName);
    plot->setMinimumSize(320, 200);
    plot->plotLayout()->insertRow(0);
    plot->plotLayout()->addElement(
        0, 0, new QCPTextElement(plot, title, QFont(font().family(), font().pointSize(), QFont::Bold)));
    plot->xAxis->setLabel(tr("step"));
    plot->yAxis->setLabel(yLabel);
    return plot;
}

bool TrainPage::isTraining() const { return m_controller->isRunning(); }

void TrainPage::startTraining() { start(false); }

void TrainPage::resumeRun(const QString &outputDir) {
    try {
        headroom::TrainConfig config = headroom::TrainConfig::fromFile((outputDir + "/config.json").toStdString());
        config.training.outputDir = outputDir.toStdString();
        config.training.memoryTimelineStep = m_timelineStep->value(); // the box, not the run's file, decides
        m_session->setConfig(config);
    } catch (const std::exception &error) {
        onFailed(QString::fromStdString(error.what()));
        return;
    }
    start(true);
}

void TrainPage::setTimelineStep(int step) {
    headroom::TrainConfig config = m_session->config();
    config.training.memoryTimelineStep = step;
    m_session->setConfig(config);
}

void TrainPage::chooseRunToResume() {
    const QString dir = QFileDialog::getExistingDirectory(
        this, tr("Resume the run in folder"), QString::fromStdString(m_session->config().training.outputDir));
    if (!dir.isEmpty())
        resumeRun(dir);
}

void TrainPage::stopTraining() {
    if (!isTraining())
        return;
    m_status->setText(tr("Stopping: writing a checkpoint…"));
    m_controller->stop();
}

void TrainPage::start(bool resume) {
    if (isTraining())
        return;
    if (!m_controller->start(m_session->config(), resume)) {
        m_status->setText(m_session->measurementBusyText(tr("Training")));
        return;
    }
    // The run's events are queued to this thread: none arrives before these lines are done.
    m_resuming = resume;
    m_oom->hide();
    m_applyOom->hide();
    m_history->clear();
    m_timeline->clear();
    m_status->setText(resume ? tr("Resuming…") : tr("Starting: reading the data and loading the model…"));
    updateButtons();
    m_replotTimer->start();
}

void TrainPage::onStarted(qint64 totalSteps, qint64 startStep, const QString &outputDir, const QString &device) {
    m_progress->setRange(0, int(totalSteps));
    m_progress->setValue(int(startStep));
    m_status->setText(tr("Training on %1 into %2").arg(device, QDir::toNativeSeparators(outputDir)));
    estimateFor(device);
    updateButtons();
}

// The estimate for the settings being trained, which the memory plot draws as dashed lines.
void TrainPage::estimateFor(const QString &device) {
    const auto &model = m_session->modelConfig();
    if (!model)
        return;
    try {
        auto settings = headroom::EstimateSettings::fromTrainConfig(m_session->config(),
                                                                    device.startsWith("cuda") ? "cuda" : "cpu");
        if (device.startsWith("cuda")) // the card the run is on (flash attention, cuBLAS workspace)
            settings.cudaCapability = machineGpus().cudaCapability;
        m_history->setEstimate(categoryBytes(headroom::estimateMemory(*model, settings)));
    } catch (const std::exception &error) {
        m_status->setText(tr("No estimate: %1").arg(QString::fromStdString(error.what())));
    }
}

void TrainPage::onStep(const headroom::StepEvent &step) {
    m_progress->setValue(int(step.step));
    m_speed->setText(
        tr("ETA %1 · %2 tokens/s").arg(formatDuration(step.etaSeconds)).arg(step.tokensPerSecond, 0, 'f', 0));
}

void TrainPage::onOutOfMemory(const OutOfMemoryAdvice &advice) {
    m_oom->setText(tr("Out of memory: %1").arg(advice.description));
    m_oom->show();
    m_oomOverrides = advice.overridesJson;
    m_oomNeedsRestart = advice.needsRestart;
    m_applyOom->setVisible(!advice.applied && advice.overridesJson != "{}");
}

// Puts the out-of-memory change into the configuration and trains on: from the checkpoint the
// stop wrote, or afresh when the change needs that (quantization, shorter rows).
void TrainPage::applyOomChange() {
    headroom::TrainConfig config = m_session->config();
    try {
        config.applyOverrides(nlohmann::json::parse(m_oomOverrides.toStdString()));
    } catch (const std::exception &error) {
        onFailed(QString::fromStdString(error.what()));
        return;
    }
    m_session->setConfig(config);
    start(!m_oomNeedsRestart);
}

void TrainPage::onFinished(bool stopped, qint64 steps, const QString &adapterDir, const QString &checkpointDir) {
    m_replotTimer->stop();
    replot();
    if (stopped)
        m_status->setText(tr("Stopped after step %1; checkpoint in %2 (Resume a run continues from it).")
                              .arg(steps)
                              .arg(QDir::toNativeSeparators(checkpointDir)));
    else
        m_status->setText(tr("Finished %1 steps; adapter in %2").arg(steps).arg(QDir::toNativeSeparators(adapterDir)));
    m_status->setProperty("adapterDir", adapterDir);
    updateButtons();
    emit runEnded();
}

// Puts the history into the plots, when it changed since the last time: its series as the graphs'
// data, the estimate as a dashed line per category across the memory plot.
void TrainPage::drawHistory() {
    if (!m_historyChanged)
        return;
    m_historyChanged = false;
    const TrainingHistory &history = *m_history;
    m_lossPlot->graph(0)->setData(history.lossSteps(), history.losses(), true);
    m_lossPlot->graph(1)->setData(history.lossSteps(), history.smoothedLosses(), true);
    m_lrPlot->graph(0)->setData(history.steps(), history.learningRates(), true);
    m_scalePlot->graph(0)->setData(history.steps(), history.lossScales(), true);
    for (size_t i = 0; i < memoryCategories().size(); ++i)
        m_memoryPlot->graph(int(i))->setData(history.steps(), inMiB(history.memory(i)), true);
    m_memoryPlot->clearItems();
    if (!history.estimate())
        return;
    for (size_t i = 0; i < history.estimate()->size(); ++i) {
        const double mib = (*history.estimate())[i] / kMiB;
        auto *line = new QCPItemStraightLine(m_memoryPlot);
        line->setPen(QPen(memoryCategories()[i].color, 1, Qt::DashLine));
        line->point1->setCoords(0, mib);
        line->point2->setCoords(1, mib);
    }
}

// Fits every plot to its data; the memory plot also to the estimate's dashed lines.
void TrainPage::replot() {
    drawHistory();
    for (QCustomPlot *plot : m_plots)
        plot->rescaleAxes();
    QCPRange memory = m_memoryPlot->yAxis->range();
    if (const auto &estimate = m_history->estimate()) {
        for (const int64_t bytes : *estimate) {
            if (bytes > 0)
                memory.expand(bytes / kMiB);
        }
    }
    m_memoryPlot->yAxis->setRange(memory.lower / 1.5, memory.upper * 1.5);
    for (QCustomPlot *plot : m_plots)
        plot->replot(QCustomPlot::rpQueuedReplot);
}

void TrainPage::onFailed(const QString &message) {
    m_replotTimer->stop();
    drawHistory(); // the plots hold what the run reached, redrawn when next asked
    m_status->setText(tr("Training failed: %1").arg(message));
    updateButtons();
    emit runEnded();
}

void TrainPage::updateButtons() {
    const bool running = isTraining();
    m_start->setEnabled(!running);
    m_resumeRun->setEnabled(!running);
    m_timelineStep->setEnabled(!running);
    m_pause->setEnabled(running);
    m_stop->setEnabled(running);
    m_pause->setText(m_controller->isPaused() ? tr("Resume") : tr("Pause"));
}
