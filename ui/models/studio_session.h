// StudioSession is what the studio's pages share: the open model (its folder and architecture) and
// the one training configuration (headroom::TrainConfig) that the Configure page edits, the Train
// page runs and File > Save writes. Pages read it and change it through its setters; each change
// is announced once, so every page stays in step without knowing the others.
#pragma once

#include "headroom/model_config.h"
#include "headroom/train_config.h"

#include <QObject>
#include <QString>

#include <optional>

class StudioSession : public QObject {
    Q_OBJECT

public:
    using QObject::QObject;

    const headroom::TrainConfig &config() const { return m_config; }
    // The open model's architecture; nullopt until a model is open.
    const std::optional<headroom::ModelConfig> &modelConfig() const { return m_modelConfig; }
    QString modelDir() const { return QString::fromStdString(m_config.model); }

    // A new configuration (opened from a file, or edited): configChanged().
    void setConfig(const headroom::TrainConfig &config);
    // The model folder whose summary was read: sets config().model, then modelChanged() and
    // configChanged().
    void setModel(const QString &modelDir, const headroom::ModelConfig &modelConfig);

    // A training, a bench sweep and Find max batch measure memory with the one process-wide CPU
    // allocator (and set its budget) and time steps on the same cores: run side by side, each would
    // count the other's tensors, run out of the other's budget and time the other's work. So they
    // take turns: claimMeasurement(what) is false, and claims nothing, while another job holds it
    // (measurementOwner() names it); releaseMeasurement(what) ends `what`'s claim only.
    bool claimMeasurement(const QString &what);
    void releaseMeasurement(const QString &what);
    QString measurementOwner() const { return m_measurementOwner; }
    // What to tell the user when claimMeasurement(what) was refused.
    QString measurementBusyText(const QString &what) const;

signals:
    void modelChanged();
    void configChanged();

private:
    headroom::TrainConfig m_config;
    std::optional<headroom::ModelConfig> m_modelConfig;
    QString m_measurementOwner;
};
