#include "lab_page.h"

#include "jobs/bench_sweep.h"
#include "models/memory_categories.h"
#include "models/studio_session.h"

#include "headroom/error.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSaveFile>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>
#include <qcustomplot.h>

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// What this page claims in StudioSession::claimMeasurement, and names when another job waits.
QString sweepJob() { return LabPage::tr("a bench sweep"); }
enum Column { kSetting, kTokensPerSecond, kStepSeconds, kPeak, kError, kColumns };

QString csvField(QString text) {
    if (text.contains(',') || text.contains('"') || text.contains('\n'))
        return '"' + text.replace('"', "\"\"") + '"';
    return text;
}

} // namespace

LabPage::LabPage(StudioSession *session, QWidget *parent)
    : QWidget(parent), m_session(session), m_sweep(new QComboBox), m_steps(new QSpinBox),
      m_run(new QPushButton(tr("Run sweep"))), m_status(new QLabel), m_table(new QTableWidget(0, kColumns)),
      m_plot(new QCustomPlot), m_worker(new BenchSweepWorker(this)), m_job(session, sweepJob()) {
    m_sweep->setObjectName("sweepCombo");
    const QList<BenchSweep> sweeps = BenchSweep::builtIn();
    for (const BenchSweep &sweep : sweeps)
        m_sweep->addItem(sweep.name);
    m_steps->setObjectName("benchSteps");
    m_steps->setRange(1, 100);
    m_steps->setValue(2);
    m_steps->setToolTip(tr("Timed optimizer steps per setting (one more runs first as warm-up)."));
    m_run->setObjectName("runSweepButton");
    m_run->setShortcut(QKeySequence(tr("Ctrl+R")));
    m_run->setToolTip(tr("Run the chosen sweep (Ctrl+R)."));
    m_status->setObjectName("labStatus");
    m_status->setWordWrap(true);
    m_table->setObjectName("benchTable");
    m_table->setHorizontalHeaderLabels({tr("setting"), tr("tokens/s"), tr("s/step"), tr("peak memory"), tr("error")});
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->verticalHeader()->hide();
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_plot->setObjectName("tradeoffPlot");
    m_plot->setMinimumSize(420, 300);
    m_plot->xAxis->setLabel(tr("peak memory (MiB)"));
    m_plot->yAxis->setLabel(tr("tokens/s"));
    m_plot->addGraph();
    m_plot->graph(0)->setLineStyle(QCPGraph::lsNone);
    m_plot->graph(0)->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, QColor(0x4c, 0x72, 0xb0), 9));

    auto *csv = new QPushButton(tr("Export CSV…"));
    csv->setObjectName("exportCsvButton");
    auto *image = new QPushButton(tr("Save plot…"));
    image->setObjectName("savePlotButton");
    const auto saveWith = [this](const QString &title, const QString &filter, auto write) {
        const QString path = QFileDialog::getSaveFileName(this, title, {}, filter);
        if (path.isEmpty())
            return;
        try {
            write(path);
            m_status->setText(tr("Saved %1").arg(QDir::toNativeSeparators(path)));
        } catch (const std::exception &error) {
            m_status->setText(QString::fromStdString(error.what()));
        }
    };
    connect(csv, &QPushButton::clicked, this, [this, saveWith] {
        saveWith(tr("Export table"), tr("CSV (*.csv)"), [this](const QString &path) { exportCsv(path); });
    });
    connect(image, &QPushButton::clicked, this, [this, saveWith] {
        saveWith(tr("Save plot"), tr("PNG image (*.png);;PDF (*.pdf)"),
                 [this](const QString &path) { savePlot(path); });
    });
    connect(m_run, &QPushButton::clicked, this, &LabPage::runSweep);

    auto *controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Sweep:")));
    controls->addWidget(m_sweep);
    controls->addWidget(new QLabel(tr("Steps:")));
    controls->addWidget(m_steps);
    controls->addWidget(m_run);
    controls->addStretch();
    controls->addWidget(csv);
    controls->addWidget(image);
    auto *body = new QHBoxLayout;
    body->addWidget(m_plot, 1);
    body->addWidget(m_table, 1);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(controls);
    layout->addWidget(m_status);
    layout->addLayout(body, 1);
    m_status->setText(tr("Each setting trains real steps of the Configure page's settings on random tokens of "
                         "max_seq_length: peak memory against speed."));

    connect(m_worker, &BenchSweepWorker::rowDone, this, &LabPage::addPoint);
    connect(m_worker, &BenchSweepWorker::finished, this, [this] { m_status->setText(tr("Sweep finished.")); });
    connect(m_worker, &BenchSweepWorker::failed, m_status, &QLabel::setText);
    connect(&m_job, &MeasurementJob::ended, this, &LabPage::sweepEnded);
}

void LabPage::runSweep() {
    if (m_job.isRunning()) {
        m_job.cancel();
        m_status->setText(tr("Cancelling after the setting under way…"));
        return;
    }
    const BenchSweep sweep = BenchSweep::builtIn().at(m_sweep->currentIndex());
    const headroom::TrainConfig config = m_session->config();
    const int steps = m_steps->value();
    BenchSweepWorker *worker = m_worker;
    if (!m_job.start([worker, config, sweep, steps] { worker->run(config, sweep, steps, 1); },
                     [worker] { worker->cancel(); })) {
        m_status->setText(m_session->measurementBusyText(tr("A sweep")));
        return;
    }
    // The worker's rows are queued to this thread: none arrives before the table is emptied.
    m_run->setText(tr("Cancel"));
    m_table->setRowCount(0);
    m_plot->graph(0)->data()->clear();
    m_plot->clearItems();
    m_plot->replot();
    m_status->setText(tr("Running: %1…").arg(sweep.name));
}

void LabPage::addPoint(const BenchPoint &point) {
    const int row = m_table->rowCount();
    m_table->insertRow(row);
    m_table->setItem(row, kSetting, new QTableWidgetItem(point.label));
    m_table->setItem(
        row, kTokensPerSecond,
        new QTableWidgetItem(point.error.isEmpty() ? QString::number(point.tokensPerSecond, 'f', 1) : "-"));
    m_table->setItem(row, kStepSeconds,
                     new QTableWidgetItem(point.error.isEmpty() ? QString::number(point.stepSeconds, 'f', 3) : "-"));
    m_table->setItem(row, kPeak, new QTableWidgetItem(point.error.isEmpty() ? formatBytes(point.peakBytes) : "-"));
    m_table->setItem(row, kError, new QTableWidgetItem(point.error));
    m_table->item(row, kPeak)->setData(Qt::UserRole, point.peakBytes);
    m_table->item(row, kTokensPerSecond)->setData(Qt::UserRole, point.tokensPerSecond);
    if (!point.error.isEmpty())
        return;
    const double x = point.peakBytes / kMiB;
    m_plot->graph(0)->addData(x, point.tokensPerSecond);
    auto *label = new QCPItemText(m_plot);
    label->position->setCoords(x, point.tokensPerSecond);
    label->setText(point.label);
    // Room around the points and their labels.
    m_plot->rescaleAxes();
    const QCPRange xs = m_plot->xAxis->range(), ys = m_plot->yAxis->range();
    const double dx = std::max(xs.size(), xs.upper * 0.2), dy = std::max(ys.size(), ys.upper * 0.2);
    m_plot->xAxis->setRange(std::max(0.0, xs.lower - 0.1 * dx), xs.upper + 0.1 * dx);
    m_plot->yAxis->setRange(std::max(0.0, ys.lower - 0.1 * dy), ys.upper + 0.15 * dy);
    // Labels of the right half point left so that none runs off the plot; alternate rows go
    // below their point, which keeps neighbours of similar speed apart.
    const double middle = m_plot->xAxis->range().center();
    for (int i = 0; i < m_plot->itemCount(); ++i) {
        auto *text = static_cast<QCPItemText *>(m_plot->item(i));
        const bool left = text->position->coords().x() > middle;
        const bool below = i % 2 == 1;
        text->setPositionAlignment((left ? Qt::AlignRight : Qt::AlignLeft) | (below ? Qt::AlignTop : Qt::AlignBottom));
        text->setPadding(QMargins(left ? 0 : 6, below ? 4 : 0, left ? 6 : 0, below ? 0 : 4));
    }
    m_plot->replot();
}

// After the worker's finished() or failed(): its thread has ended and the measurement is released.
void LabPage::sweepEnded() {
    m_run->setText(tr("Run sweep"));
    emit sweepFinished();
}

void LabPage::exportCsv(const QString &path) const {
    QSaveFile file(path); // written under a temporary name, renamed when complete
    if (!file.open(QIODevice::WriteOnly | QIODevice::Text))
        throw headroom::runtimeFailure(path.toStdString() + ": " + file.errorString().toStdString());
    file.write("setting,tokens_per_s,step_s,peak_bytes,error\n");
    for (int row = 0; row < m_table->rowCount(); ++row) {
        const QStringList fields = {
            csvField(m_table->item(row, kSetting)->text()),
            QString::number(m_table->item(row, kTokensPerSecond)->data(Qt::UserRole).toDouble(), 'f', 3),
            m_table->item(row, kStepSeconds)->text(),
            QString::number(m_table->item(row, kPeak)->data(Qt::UserRole).toLongLong()),
            csvField(m_table->item(row, kError)->text())};
        file.write((fields.join(',') + '\n').toUtf8());
    }
    if (!file.commit())
        throw headroom::runtimeFailure(path.toStdString() + ": " + file.errorString().toStdString());
}

void LabPage::savePlot(const QString &path) const {
    const bool pdf = QFileInfo(path).suffix().compare("pdf", Qt::CaseInsensitive) == 0;
    // Under a temporary name, renamed when complete: a failure leaves no plot that looks whole.
    const QString partial = path + ".part";
    const bool saved = pdf ? m_plot->savePdf(partial) : m_plot->savePng(partial, 0, 0, 1.0, -1, 96, QCP::ruDotsPerInch);
    QFile::remove(path);
    if (!saved || !QFile::rename(partial, path)) {
        QFile::remove(partial);
        throw headroom::runtimeFailure(path.toStdString() + ": could not write the plot");
    }
}
