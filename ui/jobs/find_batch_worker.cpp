#include "find_batch_worker.h"

#include "headroom/find_batch.h"

#include <exception>

void FindBatchWorker::run(const headroom::TrainConfig &config, qint64 budgetBytes, qint64 targetEffectiveBatch) {
    m_cancelled = false;
    headroom::FindBatchOptions options;
    options.budgetBytes = budgetBytes;
    options.targetEffectiveBatch = targetEffectiveBatch;
    options.onTry = [this](const headroom::FindBatchTry &attempt) {
        emit tried(attempt.microBatch, attempt.fits, attempt.peakBytes);
    };
    options.cancelled = [this] { return m_cancelled.load(); };
    try {
        const headroom::FindBatchResult result = headroom::findMaxMicroBatch(config, options);
        emit finished(result.maxMicroBatch, result.gradientAccumulationSteps, result.effectiveBatch);
    } catch (const std::exception &error) {
        emit failed(QString::fromStdString(error.what()));
    }
}
