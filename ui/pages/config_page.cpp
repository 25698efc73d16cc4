#include "config_page.h"

#include "jobs/find_batch_worker.h"
#include "models/machine_gpus.h"
#include "models/memory_categories.h"
#include "models/studio_session.h"
#include "widgets/field_editor.h"
#include "widgets/memory_chart.h"

#include "headroom/gpu_presets.h"
#include "headroom/memory_estimate.h"
#include "headroom/train_config.h"

#include <QComboBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QVBoxLayout>

#include <algorithm>
#include <optional>

namespace {

// What this page claims in StudioSession::claimMeasurement, and names when another job waits.
QString findBatchJob() { return ConfigPage::tr("Find max batch"); }

const char *const kFitsStyle = "color: #1d6b2f; font-weight: bold;";
const char *const kDoesNotFitStyle = "color: #a3201a; font-weight: bold;";

QString tooltipOf(const std::string &path) { return QString::fromStdString(headroom::TrainConfig::field(path)->help); }

void setBytes(QLabel *label, int64_t bytes) {
    label->setText(formatBytes(bytes));
    label->setProperty("bytes", qint64(bytes));
}

// The configuration's estimate settings for a preset (its device decides the "other" figure) on
// `gpus` data-parallel devices.
headroom::EstimateSettings estimateSettings(const headroom::TrainConfig &config, const headroom::GpuPreset &preset,
                                            int gpus) {
    headroom::EstimateSettings settings =
        headroom::EstimateSettings::fromTrainConfig(config, preset.isCpu() ? "cpu" : "cuda");
    settings.gpus = gpus;
    settings.cudaCapability = preset.cudaCapability;
    return settings;
}

// The budget "this machine's GPU": the first CUDA device's memory, as LibTorch reports it, and its
// compute capability (bf16 from Ampere, 8.0, on; flash attention and the cuBLAS workspace follow it).
const headroom::GpuPreset &machineGpuPreset() {
    const int capability = machineGpus().cudaCapability;
    static const headroom::GpuPreset preset{"cuda:0", "", machineGpus().memoryBytes,
                                            capability == 0 || capability >= 80, capability};
    return preset;
}

QString machineGpuLabel() {
    return QObject::tr("This machine's GPU (cuda:0, %1)").arg(formatBytes(machineGpus().memoryBytes));
}

} // namespace

ConfigPage::ConfigPage(StudioSession *session, QWidget *parent)
    : QWidget(parent), m_session(session), m_quantization(new QComboBox), m_precision(new QComboBox),
      m_gpuPreset(new QComboBox), m_gpus(new QSpinBox), m_chart(new MemoryChart), m_totalValue(new QLabel),
      m_budgetValue(new QLabel), m_effectiveBatch(new QLabel), m_fit(new QLabel), m_problem(new QLabel),
      m_applySuggestion(new QPushButton(tr("Apply this change"))), m_findBatch(new QPushButton(tr("Find max batch"))),
      m_findBatchStatus(new QLabel), m_findBatchWorker(new FindBatchWorker(this)),
      m_findBatchJob(session, findBatchJob()) {
    auto *scroll = new QScrollArea;
    scroll->setWidget(createForm());
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setMinimumWidth(scroll->widget()->sizeHint().width() + 24);

    auto *layout = new QHBoxLayout(this);
    layout->addWidget(scroll, 0);
    layout->addWidget(createSummary(), 1);

    loadFromSession();
    connect(m_session, &StudioSession::configChanged, this, &ConfigPage::loadFromSession);
    connect(m_session, &StudioSession::modelChanged, this, &ConfigPage::updateEstimate);

    connect(m_findBatchWorker, &FindBatchWorker::tried, this, [this](qint64 microBatch, bool fits, qint64 peak) {
        m_findBatchStatus->setText(fits ? tr("micro-batch %1 fits (peak %2)…").arg(microBatch).arg(formatBytes(peak))
                                        : tr("micro-batch %1 runs out of memory…").arg(microBatch));
    });
    connect(m_findBatchWorker, &FindBatchWorker::finished, this,
            [this](qint64 micro, qint64 accumulation, qint64 effective) {
                if (micro == 0) {
                    m_findBatchStatus->setText(tr("Not even micro-batch 1 fits this budget."));
                    return;
                }
                m_findBatchStatus->setText(
                    tr("Largest micro-batch that fits: %1 (accumulation %2, effective batch %3) — applied.")
                        .arg(micro)
                        .arg(accumulation)
                        .arg(effective));
                headroom::TrainConfig config = m_session->config();
                config.training.perDeviceTrainBatchSize = micro;
                config.training.gradientAccumulationSteps = accumulation;
                m_session->setConfig(config);
            });
    connect(m_findBatchWorker, &FindBatchWorker::failed, m_findBatchStatus, &QLabel::setText);
    connect(&m_findBatchJob, &MeasurementJob::ended, this, [this] { m_findBatch->setText(tr("Find max batch")); });
}

FieldEditor *ConfigPage::addField(QFormLayout *form, const QString &label, const std::string &path) {
    auto *editor = new FieldEditor(path, this);
    connect(editor, &FieldEditor::edited, this, &ConfigPage::storeToSession);
    m_editors.push_back(editor);
    form->addRow(label, editor->widget());
    return editor;
}

QWidget *ConfigPage::createForm() {
    auto *form = new QWidget;
    auto *column = new QVBoxLayout(form);
    const auto group = [column](const QString &title) {
        auto *box = new QGroupBox(title);
        auto *rows = new QFormLayout(box);
        rows->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
        column->addWidget(box);
        return rows;
    };

    QFormLayout *lora = group(tr("LoRA adapter"));
    addField(lora, tr("Rank r"), "lora.r");
    addField(lora, tr("Alpha"), "lora.lora_alpha");
    addField(lora, tr("Dropout"), "lora.lora_dropout");
    addField(lora, tr("Target modules"), "lora.target_modules");

    QFormLayout *quant = group(tr("Base weights"));
    m_quantization->setObjectName("quantizationCombo");
    for (const std::string &name : headroom::choiceNames<headroom::WeightQuant>())
        m_quantization->addItem(QString::fromStdString(name));
    m_quantization->setToolTip(tooltipOf("quantization.load_in_4bit") + "\n" +
                               tooltipOf("quantization.bnb_4bit_quant_type"));
    connect(m_quantization, &QComboBox::currentIndexChanged, this, &ConfigPage::storeToSession);
    quant->addRow(tr("Quantization"), m_quantization);
    addField(quant, tr("Double quantization"), "quantization.bnb_4bit_use_double_quant");

    QFormLayout *batch = group(tr("Batch and sequence"));
    addField(batch, tr("Micro-batch"), "training.per_device_train_batch_size");
    addField(batch, tr("Accumulation"), "training.gradient_accumulation_steps");
    batch->addRow(tr("GPUs"), createGpusBox());
    addField(batch, tr("Sequence length"), "dataset.max_seq_length");
    m_effectiveBatch->setObjectName("effectiveBatchLabel");
    m_effectiveBatch->setToolTip(tr("Sequences per optimizer step: micro-batch x accumulation x GPUs."));
    batch->addRow(tr("Effective batch"), m_effectiveBatch);

    QFormLayout *compute = group(tr("Precision and memory"));
    m_precision->setObjectName("precisionCombo");
    for (const std::string &name : headroom::choiceNames<headroom::Precision>())
        m_precision->addItem(QString::fromStdString(name));
    m_precision->setToolTip(tooltipOf("training.bf16") + "\n" + tooltipOf("training.fp16"));
    connect(m_precision, &QComboBox::currentIndexChanged, this, &ConfigPage::storeToSession);
    compute->addRow(tr("Precision"), m_precision);
    addField(compute, tr("Gradient checkpointing"), "training.gradient_checkpointing");
    addField(compute, tr("Attention"), "attn_implementation");
    addField(compute, tr("Optimizer"), "training.optim");

    QFormLayout *schedule = group(tr("Schedule"));
    addField(schedule, tr("Learning rate"), "training.learning_rate");
    addField(schedule, tr("Epochs"), "training.num_train_epochs");
    addField(schedule, tr("Max steps (-1: epochs)"), "training.max_steps");
    addField(schedule, tr("Warmup ratio"), "training.warmup_ratio");
    addField(schedule, tr("Scheduler"), "training.lr_scheduler_type");
    addField(schedule, tr("Output folder"), "training.output_dir");
    column->addStretch();
    return form;
}

QWidget *ConfigPage::createSummary() {
    auto *summary = new QWidget;
    auto *column = new QVBoxLayout(summary);

    m_gpuPreset->setObjectName("gpuPresetCombo");
    for (const headroom::GpuPreset &preset : headroom::gpuPresets())
        m_gpuPreset->addItem(QString::fromStdString(preset.label), QString::fromStdString(preset.name));
    if (machineGpus().count > 0)
        m_gpuPreset->insertItem(0, machineGpuLabel(), QString::fromStdString(machineGpuPreset().name));
    m_gpuPreset->setToolTip(tr("The memory budget to plan against: a GPU's memory, or this machine's RAM (cpu)."));
    connect(m_gpuPreset, &QComboBox::currentIndexChanged, this, &ConfigPage::updateEstimate);
    auto *presetRow = new QHBoxLayout;
    presetRow->addWidget(new QLabel(tr("Budget:")));
    presetRow->addWidget(m_gpuPreset, 1);
    column->addLayout(presetRow);

    column->addWidget(m_chart, 1);

    auto *numbers = new QFormLayout;
    for (const MemoryCategory &category : memoryCategories()) {
        auto *value = new QLabel;
        value->setObjectName(QString(category.name) + "Value");
        auto *name = new QLabel(
            QStringLiteral("<span style='color:%1'>&#9632;</span> %2").arg(category.color.name(), category.name));
        numbers->addRow(name, value);
        m_categoryValues.push_back(value);
    }
    m_totalValue->setObjectName("totalValue");
    m_budgetValue->setObjectName("budgetValue");
    numbers->addRow(tr("<b>total</b>"), m_totalValue);
    numbers->addRow(tr("budget"), m_budgetValue);
    column->addLayout(numbers);

    m_fit->setObjectName("fitLabel");
    m_fit->setWordWrap(true);
    m_problem->setObjectName("configProblemLabel");
    m_problem->setWordWrap(true);
    m_problem->setStyleSheet(kDoesNotFitStyle);
    m_applySuggestion->setObjectName("applySuggestionButton");
    connect(m_applySuggestion, &QPushButton::clicked, this, &ConfigPage::applySuggestion);
    column->addWidget(m_fit);
    column->addWidget(m_problem);
    column->addWidget(m_applySuggestion);

    m_findBatch->setObjectName("findBatchButton");
    m_findBatch->setToolTip(tr("Train a few real steps at growing micro-batches under the chosen budget and keep the "
                               "largest that fits, with the accumulation that keeps the effective batch."));
    connect(m_findBatch, &QPushButton::clicked, this, &ConfigPage::findMaxBatch);
    m_findBatchStatus->setObjectName("findBatchStatus");
    m_findBatchStatus->setWordWrap(true);
    auto *findRow = new QHBoxLayout;
    findRow->addWidget(m_findBatch);
    findRow->addWidget(m_findBatchStatus, 1);
    column->addLayout(findRow);
    return summary;
}

QSpinBox *ConfigPage::createGpusBox() {
    const MachineGpus &machine = machineGpus();
    m_gpus->setObjectName("gpusSpin");
    m_gpus->setRange(1, machine.multiGpu ? std::max(1, machine.count) : 1);
    m_gpus->setEnabled(m_gpus->maximum() > 1);
    if (machine.count == 0)
        m_gpus->setToolTip(
            tr("No CUDA device here (this LibTorch has no CUDA, or no GPU is visible): training runs on one "
               "device."));
    else if (machine.count == 1)
        m_gpus->setToolTip(tr("This machine has one CUDA device."));
    else if (!machine.multiGpu)
        m_gpus->setToolTip(tr("This build has no distributed training (c10d): one GPU of the %1.").arg(machine.count));
    else
        m_gpus->setToolTip(
            tr("Data-parallel GPUs (headroom train --nproc N): each holds the whole model and trains on its "
               "share of every step, so the effective batch grows with them; memory is per GPU."));
    connect(m_gpus, qOverload<int>(&QSpinBox::valueChanged), this, &ConfigPage::updateEstimate);
    return m_gpus;
}

int ConfigPage::gpus() const { return m_gpus->value(); }

const headroom::GpuPreset *ConfigPage::budgetPreset() const {
    const std::string name = gpuPreset().toStdString();
    if (machineGpus().count > 0 && name == machineGpuPreset().name)
        return &machineGpuPreset();
    return headroom::findGpuPreset(name);
}

QString ConfigPage::gpuPreset() const { return m_gpuPreset->currentData().toString(); }

void ConfigPage::setGpuPreset(const QString &name) {
    const int index = m_gpuPreset->findData(name);
    if (index >= 0)
        m_gpuPreset->setCurrentIndex(index);
}

void ConfigPage::loadFromSession() {
    const headroom::TrainConfig &config = m_session->config();
    for (FieldEditor *editor : m_editors)
        editor->load(config);
    const QSignalBlocker quantBlocker(m_quantization), precisionBlocker(m_precision);
    m_quantization->setCurrentText(headroom::choiceName(config.weightQuant()));
    m_precision->setCurrentText(headroom::choiceName(config.precision()));
    updateEstimate();
}

void ConfigPage::storeToSession() {
    headroom::TrainConfig config = m_session->config();
    try {
        for (FieldEditor *editor : m_editors)
            editor->store(config);
    } catch (const std::exception &error) {
        m_problem->setText(QString::fromStdString(error.what()));
        m_problem->show();
        return;
    }
    config.setWeightQuant(
        headroom::parseChoice<headroom::WeightQuant>(m_quantization->currentText().toStdString(), "quantization"));
    config.setPrecision(
        headroom::parseChoice<headroom::Precision>(m_precision->currentText().toStdString(), "precision"));
    m_session->setConfig(config);
}

void ConfigPage::updateEstimate() {
    const headroom::TrainConfig &config = m_session->config();
    const int gpuCount = gpus();
    m_effectiveBatch->setText(QStringLiteral("%1 x %2 x %3 %4 = %5")
                                  .arg(config.training.perDeviceTrainBatchSize)
                                  .arg(config.training.gradientAccumulationSteps)
                                  .arg(gpuCount)
                                  .arg(gpuCount == 1 ? "GPU" : "GPUs")
                                  .arg(config.effectiveBatch(gpuCount)));
    m_effectiveBatch->setProperty("value", qint64(config.effectiveBatch(gpuCount)));
    m_applySuggestion->hide();
    m_problem->hide();
    const headroom::GpuPreset *preset = budgetPreset();
    const auto &modelConfig = m_session->modelConfig();
    if (!modelConfig || !preset) {
        m_fit->setText(tr("Open a model on the Model page to see its memory."));
        m_fit->setStyleSheet({});
        m_chart->clear();
        return;
    }
    try {
        const headroom::EstimateSettings settings = estimateSettings(config, *preset, gpus());
        settings.validate();
        const headroom::MemoryEstimate estimate = headroom::estimateMemory(*modelConfig, settings);
        const auto bytes = categoryBytes(estimate);
        for (size_t i = 0; i < bytes.size(); ++i)
            setBytes(m_categoryValues[i], bytes[i]);
        setBytes(m_totalValue, estimate.total());
        setBytes(m_budgetValue, preset->memoryBytes);
        const QString budgetName = QString::fromStdString(preset->name);
        if (estimate.total() <= preset->memoryBytes) {
            m_fit->setText(tr("Fits the %1 budget: %2 of %3 (%4% free).")
                               .arg(budgetName, formatBytes(estimate.total()), formatBytes(preset->memoryBytes))
                               .arg(100.0 * (preset->memoryBytes - estimate.total()) / preset->memoryBytes, 0, 'f', 0));
            m_fit->setStyleSheet(kFitsStyle);
            m_chart->setEstimate(bytes, std::nullopt, preset->memoryBytes, budgetName);
            return;
        }
        m_fit->setStyleSheet(kDoesNotFitStyle);
        const auto suggestion = headroom::suggestFit(*modelConfig, settings, preset->memoryBytes);
        if (!suggestion) {
            m_fit->setText(tr("Does not fit the %1 budget (%2 over), and no single change makes it fit: "
                              "choose a larger budget or a smaller model.")
                               .arg(budgetName, formatBytes(estimate.total() - preset->memoryBytes)));
            m_chart->setEstimate(bytes, std::nullopt, preset->memoryBytes, budgetName);
            return;
        }
        m_fit->setText(tr("Does not fit the %1 budget (%2 over). Change this first: %3 (%4).")
                           .arg(budgetName, formatBytes(estimate.total() - preset->memoryBytes),
                                QString::fromStdString(suggestion->change), formatBytes(suggestion->estimate.total())));
        m_applySuggestion->show();
        m_chart->setEstimate(bytes, categoryBytes(suggestion->estimate), preset->memoryBytes, budgetName);
    } catch (const std::exception &error) {
        m_problem->setText(QString::fromStdString(error.what()));
        m_problem->show();
    }
}

// The suggestion is computed again: it depends only on the settings, and they have not changed.
void ConfigPage::applySuggestion() {
    const headroom::GpuPreset *preset = budgetPreset();
    const auto &modelConfig = m_session->modelConfig();
    if (!preset || !modelConfig)
        return;
    headroom::TrainConfig config = m_session->config();
    const auto current = estimateSettings(config, *preset, gpus());
    const auto suggestion = headroom::suggestFit(*modelConfig, current, preset->memoryBytes);
    if (!suggestion)
        return;
    config.applyOverrides(headroom::fitOverrides(current, suggestion->settings));
    m_session->setConfig(config);
}

void ConfigPage::findMaxBatch() {
    if (m_findBatchJob.isRunning()) {
        m_findBatchJob.cancel();
        return;
    }
    const headroom::GpuPreset *preset = budgetPreset();
    if (!preset || !m_session->modelConfig())
        return;
    const headroom::TrainConfig config = m_session->config();
    const qint64 budget = preset->memoryBytes;
    const qint64 target = config.effectiveBatch(1);
    FindBatchWorker *worker = m_findBatchWorker;
    if (!m_findBatchJob.start([worker, config, budget, target] { worker->run(config, budget, target); },
                              [worker] { worker->cancel(); })) {
        m_findBatchStatus->setText(m_session->measurementBusyText(tr("Find max batch")));
        return;
    }
    m_findBatch->setText(tr("Cancel"));
    m_findBatchStatus->setText(
        tr("Trying micro-batches under the %1 budget…").arg(QString::fromStdString(preset->name)));
}
