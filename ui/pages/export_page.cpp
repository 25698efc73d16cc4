#include "export_page.h"

#include "jobs/background_task.h"
#include "jobs/export_jobs.h"
#include "models/studio_session.h"

#include "headroom/train_config.h"

#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include <memory>

ExportPage::ExportPage(StudioSession *session, QWidget *parent)
    : QWidget(parent), m_session(session), m_run(new QLineEdit), m_format(new QComboBox),
      m_export(new QPushButton(tr("Export…"))), m_exportStatus(new QLabel), m_prompt(new QPlainTextEdit),
      m_maxTokens(new QSpinBox), m_generate(new QPushButton(tr("Generate"))), m_baseOutput(new QPlainTextEdit),
      m_adapterOutput(new QPlainTextEdit), m_playgroundStatus(new QLabel) {
    m_run->setObjectName("exportRunDir");
    m_run->setToolTip(tr("A run's output folder, one of its checkpoint-N folders, or an adapter folder."));
    m_format->setObjectName("exportFormat");
    m_format->addItem(tr("Adapter (PEFT folder)"), int(ExportKind::Adapter));
    m_format->addItem(tr("Merged model (HF folder, bf16)"), int(ExportKind::Merged));
    m_format->addItem(tr("GGUF LoRA (llama.cpp / Ollama)"), int(ExportKind::GgufLora));
    m_export->setObjectName("exportButton");
    m_exportStatus->setObjectName("exportStatus");
    m_exportStatus->setWordWrap(true);
    m_exportStatus->setTextInteractionFlags(Qt::TextSelectableByMouse);
    connect(m_export, &QPushButton::clicked, this, &ExportPage::chooseDestination);

    auto *exportBox = new QGroupBox(tr("Export"));
    auto *exportForm = new QFormLayout(exportBox);
    exportForm->addRow(tr("Run folder"), m_run);
    auto *formatRow = new QHBoxLayout;
    formatRow->addWidget(m_format, 1);
    formatRow->addWidget(m_export);
    exportForm->addRow(tr("Format"), formatRow);
    exportForm->addRow(m_exportStatus);

    m_prompt->setObjectName("playgroundPrompt");
    m_prompt->setPlaceholderText(tr("A prompt, sent as a user turn through the model's chat template"));
    m_prompt->setMaximumHeight(80);
    m_maxTokens->setObjectName("playgroundMaxTokens");
    m_maxTokens->setRange(1, 2048);
    m_maxTokens->setValue(32);
    m_generate->setObjectName("generateButton");
    m_generate->setShortcut(QKeySequence(tr("Ctrl+Return")));
    m_baseOutput->setObjectName("baseOutput");
    m_adapterOutput->setObjectName("adapterOutput");
    for (QPlainTextEdit *output : {m_baseOutput, m_adapterOutput})
        output->setReadOnly(true);
    m_playgroundStatus->setObjectName("playgroundStatus");
    m_playgroundStatus->setWordWrap(true);
    connect(m_generate, &QPushButton::clicked, this, &ExportPage::generate);

    auto *playBox = new QGroupBox(tr("Playground: base model vs. base + adapter (greedy)"));
    auto *play = new QVBoxLayout(playBox);
    auto *promptRow = new QHBoxLayout;
    promptRow->addWidget(m_prompt, 1);
    auto *promptSide = new QVBoxLayout;
    promptSide->addWidget(new QLabel(tr("New tokens:")));
    promptSide->addWidget(m_maxTokens);
    promptSide->addWidget(m_generate);
    promptRow->addLayout(promptSide);
    play->addLayout(promptRow);
    auto *outputs = new QHBoxLayout;
    for (auto [title, output] :
         {std::pair{tr("Base model"), m_baseOutput}, std::pair{tr("Base + adapter"), m_adapterOutput}}) {
        auto *column = new QVBoxLayout;
        column->addWidget(new QLabel("<b>" + title + "</b>"));
        column->addWidget(output, 1);
        outputs->addLayout(column, 1);
    }
    play->addLayout(outputs, 1);
    play->addWidget(m_playgroundStatus);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(exportBox);
    layout->addWidget(playBox, 1);

    connect(m_session, &StudioSession::configChanged, this,
            [this] { m_run->setText(QString::fromStdString(m_session->config().training.outputDir)); });
}

void ExportPage::chooseDestination() {
    const auto kind = ExportKind(m_format->currentData().toInt());
    const QString destination =
        kind == ExportKind::GgufLora
            ? QFileDialog::getSaveFileName(this, tr("Export GGUF LoRA"), {}, tr("GGUF (*.gguf)"))
            : QFileDialog::getSaveFileName(this, tr("Export into new folder"));
    if (!destination.isEmpty())
        exportTo(destination);
}

void ExportPage::exportTo(const QString &destination) {
    const auto kind = ExportKind(m_format->currentData().toInt());
    const QString source = m_run->text();
    const QString baseDir = m_session->modelDir();
    m_export->setEnabled(false);
    m_exportStatus->setText(tr("Exporting to %1…").arg(QDir::toNativeSeparators(destination)));
    auto written = std::make_shared<QString>();
    runInBackground(
        this,
        [kind, source, destination, baseDir, written] { *written = runExport(kind, source, destination, baseDir); },
        [this, written](const QString &error) {
            m_export->setEnabled(true);
            const QString message = error.isEmpty() ? *written : error;
            m_exportStatus->setText(message);
            emit exportDone(error.isEmpty(), message);
        });
}

void ExportPage::generate() {
    const QString json = QString::fromStdString(m_session->config().toJson().dump());
    const QString source = m_run->text(), prompt = m_prompt->toPlainText();
    const int maxTokens = m_maxTokens->value();
    auto reply = std::make_shared<PlaygroundReply>();
    m_generate->setEnabled(false);
    m_playgroundStatus->setText(tr("Loading the model and generating…"));
    runInBackground(
        this, [json, source, prompt, maxTokens, reply] { *reply = comparePrompt(json, source, prompt, maxTokens); },
        [this, reply](const QString &error) {
            m_generate->setEnabled(true);
            const bool ok = error.isEmpty();
            if (ok) {
                // A model that has learnt nothing may answer with blanks only: say so instead of showing none.
                const auto show = [this](QPlainTextEdit *output, const QString &text) {
                    output->setPlainText(text.trimmed().isEmpty() ? tr("(whitespace only)") : text);
                    output->moveCursor(QTextCursor::Start);
                };
                show(m_baseOutput, reply->baseText);
                show(m_adapterOutput, reply->adapterText);
                m_playgroundStatus->setText(tr("%1 tokens/s (base), %2 tokens/s (with adapter)")
                                                .arg(reply->baseTokensPerSecond, 0, 'f', 1)
                                                .arg(reply->adapterTokensPerSecond, 0, 'f', 1));
            } else {
                m_playgroundStatus->setText(error);
            }
            emit generationDone(ok);
        });
}
