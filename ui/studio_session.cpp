#include "studio_session.h"

void StudioSession::setConfig(const headroom::TrainConfig &config)
{
    m_config = config;
    emit configChanged();
}

void StudioSession::setModel(const QString &modelDir, const headroom::ModelConfig &modelConfig)
{
    m_config.model = modelDir.toStdString();
    m_modelConfig = modelConfig;
    emit modelChanged();
    emit configChanged();
}
