// The trade-off lab's sweeps: named lists of setting changes (checkpointing on/off x micro-batch
// 1, 2, 4; precision fp32 / bf16) and a worker that times each with headroom::benchTraining off the
// GUI thread. Each row's result arrives as a signal; an out-of-memory setting is a row with its
// error, not the end of the sweep. cancel() may be called from any thread; the sweep ends after the
// row under way.
#pragma once

#include "headroom/train_config.h"

#include <QList>
#include <QMetaType>
#include <QObject>
#include <QString>

#include <atomic>

struct BenchPoint {
    QString label; // "checkpointing on, micro-batch 2"
    QString settingsJson; // what varied, {"training.gradient_checkpointing": true, ...}
    double tokensPerSecond = 0, stepSeconds = 0;
    qint64 peakBytes = 0;
    QString error;
};
Q_DECLARE_METATYPE(BenchPoint)

struct BenchSweep {
    QString name;
    // Each entry: field path -> value (applied with TrainConfig::applyOverride), as JSON text.
    QList<QString> settings;

    static QList<BenchSweep> builtIn();
};

class BenchSweepWorker : public QObject {
    Q_OBJECT

public:
    explicit BenchSweepWorker(QObject *parent = nullptr);

    void run(const headroom::TrainConfig &config, const BenchSweep &sweep, int steps, int warmupSteps);
    void cancel() { m_cancelled = true; }

signals:
    void rowDone(const BenchPoint &point);
    void finished();
    void failed(const QString &message);

private:
    std::atomic<bool> m_cancelled{false};
};
