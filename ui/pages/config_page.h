// ConfigPage edits the session's training configuration beside a live memory breakdown. Each
// setting is a FieldEditor (range and tooltip from TrainConfig's field table); quantization and
// precision are one choice each ("none / nf4 / fp4", "fp32 / bf16 / fp16") over their several
// fields. Every change re-estimates memory at once (estimateMemory is arithmetic, microseconds)
// for the chosen GPU preset's budget, shows the effective-batch formula with its numbers, whether
// the settings fit and, when not, suggestFit's change with a button to apply it. "Find max batch"
// runs findMaxMicroBatch in a MeasurementJob's thread. The numbers are labels with objectNames
// ("weightsValue", ..., "totalValue", "budgetValue", "effectiveBatchLabel", "fitLabel") whose
// "bytes" property holds the exact figure, so tests can read them. Where this machine has CUDA
// devices, "GPUs" (1..count, data-parallel) multiplies the effective batch and is the estimate's
// `gpus`, and "this machine's GPU" is a budget; without any, the box is disabled and says why.
#pragma once

#include "jobs/measurement_job.h"

#include <QWidget>

#include <vector>

class FieldEditor;
class FindBatchWorker;
class MemoryChart;
class QComboBox;
class QFormLayout;
class QLabel;
class QPushButton;
class QSpinBox;
class StudioSession;
namespace headroom {
struct GpuPreset;
}

class ConfigPage : public QWidget {
    Q_OBJECT

public:
    explicit ConfigPage(StudioSession *session, QWidget *parent = nullptr);

    // The chosen budget: a preset name from gpu_presets.h ("t4", ..., "cpu").
    QString gpuPreset() const;
    void setGpuPreset(const QString &name);
    int gpus() const;

private:
    QWidget *createForm();
    QWidget *createSummary();
    FieldEditor *addField(QFormLayout *form, const QString &label, const std::string &path);
    void loadFromSession();
    void storeToSession();
    QSpinBox *createGpusBox();
    // The chosen budget's preset (this machine's GPU included); nullptr when none.
    const headroom::GpuPreset *budgetPreset() const;
    void updateEstimate();
    void applySuggestion();
    void findMaxBatch();

    StudioSession *m_session;
    std::vector<FieldEditor *> m_editors;
    QComboBox *m_quantization;
    QComboBox *m_precision;
    QComboBox *m_gpuPreset;
    QSpinBox *m_gpus;
    MemoryChart *m_chart;
    std::vector<QLabel *> m_categoryValues;
    QLabel *m_totalValue;
    QLabel *m_budgetValue;
    QLabel *m_effectiveBatch;
    QLabel *m_fit;
    QLabel *m_problem;
    QPushButton *m_applySuggestion;
    QPushButton *m_findBatch;
    QLabel *m_findBatchStatus;
    FindBatchWorker *m_findBatchWorker;
    MeasurementJob m_findBatchJob; // after the worker: destroyed first, cancelling and waiting for it
};
