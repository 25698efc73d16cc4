#include "data_page.h"

#include "jobs/background_task.h"
#include "models/dataset_preview.h"
#include "models/studio_session.h"

#include "headroom/train_config.h"

#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include <algorithm>
#include <memory>

namespace {

constexpr int kExamplesShown = 4;
constexpr int kHistogramBins = 30;
const char *const kTrainedStyle = "background:#d4f0d8; color:#0f3d1a;";
const char *const kMaskedStyle = "color:#6b6b6b;";

QString renderExample(const QList<DatasetPreview::Run> &runs) {
    QString html;
    for (const DatasetPreview::Run &run : runs)
        html += QStringLiteral("<span style='%1'>%2</span>")
                    .arg(run.trained ? kTrainedStyle : kMaskedStyle, run.text.toHtmlEscaped().replace("\n", "<br>"));
    return html;
}

} // namespace

DataPage::DataPage(StudioSession *session, QWidget *parent)
    : QWidget(parent), m_session(session), m_path(new QLineEdit), m_summary(new QLabel), m_problems(new QPlainTextEdit),
      m_examples(new QTextBrowser), m_histogram(new QCustomPlot) {
    m_path->setObjectName("datasetPath");
    m_path->setToolTip(QString::fromStdString(headroom::TrainConfig::field("dataset.path")->help));
    m_summary->setObjectName("datasetSummary");
    m_summary->setWordWrap(true);
    m_problems->setObjectName("datasetProblems");
    m_problems->setReadOnly(true);
    m_problems->setMaximumHeight(90);
    m_problems->setPlaceholderText(tr("No problems found."));
    m_examples->setObjectName("datasetExamples");
    m_histogram->setObjectName("lengthHistogram");
    m_histogram->setMinimumSize(360, 240);
    m_histogram->xAxis->setLabel(tr("tokens per example (red: max_seq_length)"));
    m_histogram->yAxis->setLabel(tr("examples"));
    auto *bars = new QCPBars(m_histogram->xAxis, m_histogram->yAxis);
    bars->setBrush(QColor(0x4c, 0x72, 0xb0));
    bars->setPen(Qt::NoPen);
    auto *limit = new QCPItemStraightLine(m_histogram);
    limit->setPen(QPen(QColor(0xc0, 0x20, 0x20), 2, Qt::DashLine));

    auto *browse = new QPushButton(tr("Choose…"));
    browse->setObjectName("chooseDatasetButton");
    connect(browse, &QPushButton::clicked, this, &DataPage::chooseDataset);
    connect(m_path, &QLineEdit::editingFinished, this, [this] {
        headroom::TrainConfig config = m_session->config();
        config.dataset.path = m_path->text().toStdString();
        m_session->setConfig(config);
    });
    auto *pathRow = new QHBoxLayout;
    pathRow->addWidget(new QLabel(tr("Dataset:")));
    pathRow->addWidget(m_path, 1);
    pathRow->addWidget(browse);

    auto *examplesLabel = new QLabel(tr("First examples — <span style='%1'>&nbsp;trained&nbsp;</span> "
                                        "<span style='%2'>masked prompt</span>")
                                         .arg(kTrainedStyle, kMaskedStyle));
    auto *left = new QVBoxLayout;
    left->addWidget(examplesLabel);
    left->addWidget(m_examples, 1);
    auto *right = new QVBoxLayout;
    right->addWidget(m_histogram, 1);
    auto *body = new QHBoxLayout;
    body->addLayout(left, 3);
    body->addLayout(right, 2);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(pathRow);
    layout->addWidget(m_summary);
    layout->addWidget(m_problems);
    layout->addLayout(body, 1);

    connect(m_session, &StudioSession::configChanged, this, &DataPage::refresh);
}

void DataPage::chooseDataset() {
    const QString file = QFileDialog::getOpenFileName(this, tr("Choose a dataset"), QFileInfo(m_path->text()).path(),
                                                      tr("Datasets (*.jsonl *.json);;All files (*)"));
    if (file.isEmpty())
        return;
    headroom::TrainConfig config = m_session->config();
    config.dataset.path = file.toStdString();
    m_session->setConfig(config);
}

void DataPage::refresh() {
    const headroom::TrainConfig &config = m_session->config();
    m_path->setText(QString::fromStdString(config.dataset.path));
    if (config.dataset.path.empty() || config.model.empty()) {
        m_summary->setText(tr("Choose a model and a dataset."));
        return;
    }
    // Only what changes the preview starts a new one (the Configure page edits many other fields).
    const QString key = QStringList{QString::fromStdString(config.model),
                                    QString::fromStdString(config.dataset.path),
                                    QString::fromStdString(config.dataset.format),
                                    QString::number(config.dataset.maxSeqLength),
                                    QString::fromStdString(config.dataset.chatTemplate),
                                    QString::number(config.dataset.trainOnPrompt)}
                            .join('\n');
    if (key == m_shownKey)
        return;
    m_shownKey = key;
    m_summary->setText(tr("Reading and tokenizing %1…").arg(QFileInfo(m_path->text()).fileName()));
    const int generation = ++m_generation;
    const QString json = QString::fromStdString(config.toJson().dump());
    auto preview = std::make_shared<DatasetPreview>();
    runInBackground(
        this, [json, preview] { *preview = DatasetPreview::build(json, kExamplesShown); },
        [this, preview, generation](const QString &error) {
            if (generation != m_generation)
                return; // a newer request is under way
            if (error.isEmpty())
                showPreview(*preview);
            else
                showError(error);
            emit previewReady();
        });
}

void DataPage::showPreview(const DatasetPreview &preview) {
    const QList<qint64> &counts = preview.tokenCounts;
    const qint64 longest = counts.isEmpty() ? 0 : *std::max_element(counts.begin(), counts.end());
    m_summary->setText(tr("Format <b>%1</b>, chat template <b>%2</b>: %3 records (%4 skipped); longest %5 tokens, "
                          "%6 longer than max_seq_length %7 (cut).")
                           .arg(preview.format, preview.chatTemplate)
                           .arg(preview.records)
                           .arg(preview.skipped)
                           .arg(longest)
                           .arg(preview.longer)
                           .arg(preview.maxSeqLength));
    m_summary->setProperty("format", preview.format);
    m_problems->setPlainText(preview.problems.join('\n'));
    QString html;
    for (const auto &example : preview.examples)
        html += "<p style='margin-bottom:12px'>" + renderExample(example) + "</p><hr>";
    m_examples->setHtml(html);

    const double top = double(std::max(longest, preview.maxSeqLength)) * 1.05;
    const double width = std::max(1.0, top / kHistogramBins);
    QVector<double> keys(kHistogramBins), values(kHistogramBins, 0);
    for (int i = 0; i < kHistogramBins; ++i)
        keys[i] = (i + 0.5) * width;
    for (qint64 count : counts)
        values[std::min(kHistogramBins - 1, int(count / width))] += 1;
    auto *bars = qobject_cast<QCPBars *>(m_histogram->plottable(0));
    bars->setWidth(width * 0.9);
    bars->setData(keys, values, true);
    auto *limit = static_cast<QCPItemStraightLine *>(m_histogram->item(0));
    limit->point1->setCoords(double(preview.maxSeqLength), 0);
    limit->point2->setCoords(double(preview.maxSeqLength), 1);
    m_histogram->xAxis->setRange(0, top);
    m_histogram->yAxis->setRange(0, *std::max_element(values.begin(), values.end()) * 1.1 + 1);
    m_histogram->replot();
}

void DataPage::showError(const QString &message) {
    m_summary->setText(tr("<span style='color:#a3201a'>%1</span>").arg(message.toHtmlEscaped()));
    m_summary->setProperty("format", QString());
    m_problems->setPlainText(message);
    m_examples->clear();
    qobject_cast<QCPBars *>(m_histogram->plottable(0))->data()->clear();
    m_histogram->replot();
}
