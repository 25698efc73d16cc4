#include "studio_session.h"

void StudioSession::setConfig(const headroom::TrainConfig &config) {
    m_config = config;
    emit configChanged();
}

void StudioSession::setModel(const QString &modelDir, const headroom::ModelConfig &modelConfig) {
    m_config.model = modelDir.toStdString();
    m_modelConfig = modelConfig;
    emit modelChanged();
    emit configChanged();
}

bool StudioSession::claimMeasurement(const QString &what) {
    if (!m_measurementOwner.isEmpty())
        return false;
    m_measurementOwner = what;
    return true;
}

QString StudioSession::measurementBusyText(const QString &what) const {
    return tr("Not now: %1 is running. %2 beside it would count its memory and share its cores; stop it or let "
              "it finish first.")
        .arg(m_measurementOwner, what);
}

void StudioSession::releaseMeasurement(const QString &what) {
    if (m_measurementOwner == what)
        m_measurementOwner.clear();
}
