// FindBatchWorker runs headroom::findMaxMicroBatch (real training steps at growing micro-batches
// until one runs out of memory) off the GUI thread for the Configure page's "Find max batch". A
// worker object: its page calls run() on a MeasurementJob's thread; each try and the outcome come
// back as signals, which Qt queues to the page. cancel() may be called from any thread.
#pragma once

#include "headroom/train_config.h"

#include <QObject>
#include <QString>

#include <atomic>

class FindBatchWorker : public QObject {
    Q_OBJECT

public:
    using QObject::QObject;

    // `budgetBytes` is the simulated memory budget (0: the device's own memory).
    void run(const headroom::TrainConfig &config, qint64 budgetBytes, qint64 targetEffectiveBatch);
    void cancel() { m_cancelled = true; }

signals:
    void tried(qint64 microBatch, bool fits, qint64 peakBytes);
    void finished(qint64 maxMicroBatch, qint64 accumulation, qint64 effectiveBatch);
    void failed(const QString &message);

private:
    std::atomic<bool> m_cancelled{false};
};
