// Model folders in the Hugging Face hub cache on this machine, for the studio's model list.
//
// The cache keeps each downloaded repository as models--ORG--NAME/snapshots/REVISION/ with the
// files as symlinks into blobs/. Every snapshot that has a config.json is listed; whether the model
// is one Headroom can train is for ModelSummary::inspect to say when it is opened.
#pragma once

#include <QList>
#include <QString>

struct HfCacheModel {
    QString repo; // "HuggingFaceTB/SmolLM2-135M"
    QString revision; // the snapshot folder's name (a commit hash)
    QString path; // the snapshot folder
};

// $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub (huggingface_hub's order).
QString defaultHfHubCache();

// The snapshots under `hubDir` that hold a config.json, sorted by repository; empty when the
// folder does not exist.
QList<HfCacheModel> findHfCacheModels(const QString &hubDir);
