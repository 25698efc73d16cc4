#include "hf_cache.h"

#include <QDir>
#include <QFileInfo>

QString defaultHfHubCache() {
    if (qEnvironmentVariableIsSet("HF_HUB_CACHE"))
        return qEnvironmentVariable("HF_HUB_CACHE");
    if (qEnvironmentVariableIsSet("HF_HOME"))
        return qEnvironmentVariable("HF_HOME") + "/hub";
    return QDir::homePath() + "/.cache/huggingface/hub";
}

QList<HfCacheModel> findHfCacheModels(const QString &hubDir) {
    QList<HfCacheModel> models;
    const QDir hub(hubDir);
    const QStringList repos = hub.entryList({"models--*"}, QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name);
    for (const QString &repoFolder : repos) {
        // models--ORG--NAME -> ORG/NAME (a name without an organisation has one "--")
        const QString repo = repoFolder.mid(int(qstrlen("models--"))).replace("--", "/");
        const QDir snapshots(hub.filePath(repoFolder + "/snapshots"));
        for (const QString &revision : snapshots.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
            const QString path = snapshots.filePath(revision);
            if (QFileInfo::exists(path + "/config.json"))
                models.append({repo, revision, path});
        }
    }
    return models;
}
