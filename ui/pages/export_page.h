// ExportPage turns a run into something to deploy — the adapter in PEFT's layout, a merged HF
// model, or a GGUF LoRA for llama.cpp / Ollama (core's export.h) — and has a playground that
// generates from the base model and from base + adapter side by side for the same prompt. The run
// folder defaults to the session's output folder; all work runs in a worker thread.
#pragma once

#include <QWidget>

class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class StudioSession;

class ExportPage : public QWidget {
    Q_OBJECT

public:
    explicit ExportPage(StudioSession *session, QWidget *parent = nullptr);

    // Exports the run folder's adapter to `destination` in the chosen format (see exportFormat).
    void exportTo(const QString &destination);
    void generate();

signals:
    void exportDone(bool ok, const QString &message);
    void generationDone(bool ok);

private:
    void chooseDestination();

    StudioSession *m_session;
    QLineEdit *m_run;
    QComboBox *m_format;
    QPushButton *m_export;
    QLabel *m_exportStatus;
    QPlainTextEdit *m_prompt;
    QSpinBox *m_maxTokens;
    QPushButton *m_generate;
    QPlainTextEdit *m_baseOutput, *m_adapterOutput;
    QLabel *m_playgroundStatus;
};
