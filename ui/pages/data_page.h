// DataPage shows the session's dataset as the model will see it: a file picker, the detected format
// and chat template, malformed records by line, the first examples with the trained tokens
// highlighted against the masked prompt, and a histogram of token lengths against max_seq_length.
// The dataset is read and tokenized in a worker thread (DatasetPreview); the page shows the result
// or the error.
#pragma once

#include <QWidget>

class QCustomPlot;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QTextBrowser;
class StudioSession;
struct DatasetPreview;

class DataPage : public QWidget {
    Q_OBJECT

public:
    explicit DataPage(StudioSession *session, QWidget *parent = nullptr);

    // Reads the session's dataset again (done when the dataset path, model or length change).
    void refresh();

signals:
    void previewReady();

private:
    void chooseDataset();
    void showPreview(const DatasetPreview &preview);
    void showError(const QString &message);

    StudioSession *m_session;
    QLineEdit *m_path;
    QLabel *m_summary;
    QPlainTextEdit *m_problems;
    QTextBrowser *m_examples;
    QCustomPlot *m_histogram;
    QString m_shownKey; // what the preview on show was made from
    int m_generation = 0; // a newer request outdates an older one still running
};
