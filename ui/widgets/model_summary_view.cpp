#include "model_summary_view.h"

#include "headroom/model_summary.h"

#include <QDir>
#include <QFormLayout>
#include <QLabel>
#include <QLocale>
#include <QVBoxLayout>

namespace {

// The user's locale, with thousands separators even where it omits them by default (the C locale).
QLocale numberLocale() {
    QLocale locale;
    locale.setNumberOptions(QLocale::DefaultNumberOptions);
    return locale;
}

QString formatCount(int64_t count) { return numberLocale().toString(qlonglong(count)); }

// "4,498,432 (4.5 M)", "6,738,415,616 (6.74 B)"
QString formatParameters(int64_t count) {
    const QLocale locale = numberLocale();
    const QString scaled = count >= 1'000'000'000 ? locale.toString(count / 1e9, 'f', 2) + " B"
                                                  : locale.toString(count / 1e6, 'f', 1) + " M";
    return QStringLiteral("%1 (%2)").arg(formatCount(count), scaled);
}

} // namespace

ModelSummaryView::ModelSummaryView(QWidget *parent)
    : QWidget(parent), m_form(new QFormLayout), m_title(new QLabel), m_folder(new QLabel) {
    QFont titleFont = m_title->font();
    titleFont.setPointSizeF(titleFont.pointSizeF() * 1.6);
    titleFont.setBold(true);
    m_title->setFont(titleFont);
    m_title->setObjectName("titleLabel");
    m_folder->setObjectName("folderValue");
    m_folder->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_folder->setWordWrap(true);
    m_folder->setForegroundRole(QPalette::PlaceholderText);

    m_form->setLabelAlignment(Qt::AlignRight);
    m_form->setHorizontalSpacing(16);
    m_architecture = addRow(tr("Architecture"), "architectureValue");
    m_modelType = addRow(tr("Model type"), "modelTypeValue");
    m_parameters = addRow(tr("Parameters"), "parametersValue");
    m_layers = addRow(tr("Layers"), "layersValue");
    m_hiddenSize = addRow(tr("Hidden size"), "hiddenSizeValue");
    m_heads = addRow(tr("Attention heads"), "headsValue");
    m_intermediateSize = addRow(tr("Intermediate size"), "intermediateSizeValue");
    m_vocabSize = addRow(tr("Vocabulary size"), "vocabSizeValue");
    m_dtype = addRow(tr("Weights dtype"), "dtypeValue");
    m_tokenizer = addRow(tr("Tokenizer"), "tokenizerValue");
    m_chatTemplate = addRow(tr("Chat template"), "chatTemplateValue");
    m_checkpointSize = addRow(tr("Checkpoint size"), "checkpointSizeValue");
    m_features = addRow(tr("Beyond the Llama block"), "featuresValue");
    m_features->setWordWrap(true);
    m_unused = addRow(tr("Not loaded"), "unusedValue");
    m_unused->setWordWrap(true);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_title);
    layout->addWidget(m_folder);
    layout->addSpacing(16);
    layout->addLayout(m_form);
    layout->addStretch();
}

void ModelSummaryView::setSummary(const QString &title, const QString &modelDir,
                                  const headroom::ModelSummary &summary) {
    const headroom::ModelConfig &config = summary.config;
    m_title->setText(title);
    m_folder->setText(QDir::toNativeSeparators(QDir(modelDir).absolutePath()));
    m_architecture->setText(QString::fromStdString(config.architecture));
    m_modelType->setText(QString::fromStdString(config.modelType));
    m_parameters->setText(formatParameters(summary.parameters));
    m_layers->setText(formatCount(config.numLayers));
    m_hiddenSize->setText(formatCount(config.hiddenSize));
    m_heads->setText(
        tr("%1 query, %2 key/value, head_dim %3").arg(config.numHeads).arg(config.numKvHeads).arg(config.headDim));
    m_intermediateSize->setText(formatCount(config.intermediateSize));
    m_vocabSize->setText(formatCount(config.vocabSize));
    m_dtype->setText(QString::fromStdString(summary.dtype));
    m_tokenizer->setText(QString::fromStdString(summary.tokenizer));
    m_chatTemplate->setText(QString::fromStdString(summary.chatTemplate));
    m_checkpointSize->setText(
        numberLocale().formattedDataSize(qint64(summary.checkpointBytes), 1, QLocale::DataSizeIecFormat));
    QStringList features;
    for (const auto &feature : config.features())
        features << QString::fromStdString(feature);
    m_features->setText(features.isEmpty() ? tr("nothing: the plain Llama block") : features.join('\n'));
    m_unused->setText(summary.unusedTensors.empty()
                          ? tr("nothing")
                          : QString::fromStdString(headroom::describeTensorNames(summary.unusedTensors)));
}

QLabel *ModelSummaryView::addRow(const QString &name, const QString &objectName) {
    auto *value = new QLabel;
    value->setObjectName(objectName);
    value->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_form->addRow(name + ':', value);
    return value;
}
