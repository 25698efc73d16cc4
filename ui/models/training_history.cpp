#include "training_history.h"

#include "models/memory_categories.h"

namespace {

constexpr double kSmoothing = 0.9; // exponential moving average of the loss

} // namespace

void TrainingHistory::clear() {
    for (QVector<double> *series : {&m_steps, &m_learningRates, &m_lossScales, &m_lossSteps, &m_losses,
                                    &m_smoothedLosses, &m_evaluationSteps, &m_evaluationLosses})
        series->clear();
    for (QVector<double> &series : m_memory)
        series.clear();
    m_estimate.reset();
    emit changed();
}

void TrainingHistory::addStep(const headroom::StepEvent &step) {
    const double x = double(step.step);
    if (!step.skipped) {
        m_smoothedLosses.append(
            m_losses.isEmpty() ? step.loss : kSmoothing * m_smoothedLosses.last() + (1 - kSmoothing) * step.loss);
        m_lossSteps.append(x);
        m_losses.append(step.loss);
    }
    m_steps.append(x);
    m_learningRates.append(step.learningRate);
    m_lossScales.append(step.lossScale);
    const auto bytes = categoryBytes(step.memory);
    for (size_t i = 0; i < m_memory.size(); ++i)
        m_memory[i].append(double(bytes[i]));
    emit changed();
}

void TrainingHistory::addEvaluation(qint64 step, double evalLoss) {
    m_evaluationSteps.append(double(step));
    m_evaluationLosses.append(evalLoss);
    emit changed();
}

void TrainingHistory::setEstimate(const Bytes &bytes) {
    m_estimate = bytes;
    emit changed();
}
