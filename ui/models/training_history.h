// TrainingHistory is one run's history, apart from any widget, as the Train page's plots draw it:
// per optimizer step the learning rate, the loss scale and the bytes of each memory category; the
// loss of every step that was not skipped and its exponential moving average; the evaluation
// losses; and the memory estimate for the run's settings. The TrainingController's events feed it
// (addStep, addEvaluation); the Train page clears it when a run starts (a resumed run too) and
// sets the estimate once the run says its device. Every change emits changed(). Steps and values are
// doubles, as plots take them; memory stays in bytes.
#pragma once

#include <QMetaType>
#include <QObject>
#include <QVector>

#include <array>
#include <cstdint>
#include <optional>

#include "headroom/training_events.h"

// One optimizer step as the trainer reports it (plain C++, no LibTorch), queued as a signal payload.
Q_DECLARE_METATYPE(headroom::StepEvent)

class TrainingHistory : public QObject {
    Q_OBJECT

public:
    using Bytes = std::array<int64_t, 6>; // memoryCategories() order

    using QObject::QObject;

    void clear();
    void addStep(const headroom::StepEvent &step);
    void addEvaluation(qint64 step, double evalLoss);
    void setEstimate(const Bytes &bytes);

    // Every step in the order it came: the x values of learningRates(), lossScales() and memory().
    const QVector<double> &steps() const { return m_steps; }
    const QVector<double> &learningRates() const { return m_learningRates; }
    const QVector<double> &lossScales() const { return m_lossScales; }
    // The bytes of memoryCategories()[category] at each step.
    const QVector<double> &memory(size_t category) const { return m_memory[category]; }
    // The steps that were not skipped: their loss, and its moving average (0.9 on the past).
    const QVector<double> &lossSteps() const { return m_lossSteps; }
    const QVector<double> &losses() const { return m_losses; }
    const QVector<double> &smoothedLosses() const { return m_smoothedLosses; }
    const QVector<double> &evaluationSteps() const { return m_evaluationSteps; }
    const QVector<double> &evaluationLosses() const { return m_evaluationLosses; }
    // The estimate for the run's settings; nullopt until set (or when it could not be made).
    const std::optional<Bytes> &estimate() const { return m_estimate; }

signals:
    void changed();

private:
    QVector<double> m_steps, m_learningRates, m_lossScales;
    std::array<QVector<double>, 6> m_memory;
    QVector<double> m_lossSteps, m_losses, m_smoothedLosses;
    QVector<double> m_evaluationSteps, m_evaluationLosses;
    std::optional<Bytes> m_estimate;
};
