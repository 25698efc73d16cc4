// ModelSummaryView shows what headroom::ModelSummary reports about a model folder (architecture,
// parameter count, shapes, dtype, tokenizer, chat template, checkpoint size, what the family adds to
// the Llama block, tensors not loaded) as a read-only form.
// It only displays: the caller inspects the folder and handles errors. Each value label has an
// objectName ("architectureValue", "vocabSizeValue", ...) so tests can find it.
#pragma once

#include <QWidget>

class QFormLayout;
class QLabel;

namespace headroom {
struct ModelSummary;
}

class ModelSummaryView : public QWidget {
    Q_OBJECT

public:
    explicit ModelSummaryView(QWidget *parent = nullptr);

    // `title` heads the form, e.g. the model folder's name.
    void setSummary(const QString &title, const QString &modelDir, const headroom::ModelSummary &summary);

private:
    QLabel *addRow(const QString &name, const QString &objectName);

    QFormLayout *m_form;
    QLabel *m_title;
    QLabel *m_folder;
    QLabel *m_architecture;
    QLabel *m_modelType;
    QLabel *m_parameters;
    QLabel *m_layers;
    QLabel *m_hiddenSize;
    QLabel *m_heads;
    QLabel *m_intermediateSize;
    QLabel *m_vocabSize;
    QLabel *m_dtype;
    QLabel *m_tokenizer;
    QLabel *m_chatTemplate;
    QLabel *m_checkpointSize;
    QLabel *m_features; // ModelConfig::features(), one per line
    QLabel *m_unused; // checkpoint tensors the engine does not load (a vision tower)
};
