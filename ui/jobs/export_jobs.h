// The Export page's work, as plain functions over core (export.h, generation.h, adapter_io.h) that
// the page runs in a worker thread: the three exports of a run's adapter, and the playground's
// generation from the base model and from base + adapter for the same prompt. No LibTorch in this
// header.
#pragma once

#include <QString>

enum class ExportKind { Adapter, Merged, GgufLora };

// Exports the adapter of `source` (a run, checkpoint or adapter folder) to `destination`; returns
// what was written in one line. Throws headroom::Error.
QString runExport(ExportKind kind, const QString &source, const QString &destination, const QString &baseDir);

struct PlaygroundReply {
    QString baseText, adapterText;
    double baseTokensPerSecond = 0, adapterTokensPerSecond = 0;
};

// Greedy generation for `prompt` (rendered as a user turn through the run's chat template) from
// the base model in `modelDir` and from it with the adapter in `adapterSource`. Throws
// headroom::Error.
PlaygroundReply comparePrompt(const QString &trainConfigJson, const QString &adapterSource, const QString &prompt,
                              int maxNewTokens);
