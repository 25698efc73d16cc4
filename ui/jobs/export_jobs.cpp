// LibTorch (through causal_lm.h) before Qt: Qt's `slots` macro breaks LibTorch's headers.
#include "headroom/adapter_io.h"
#include "headroom/causal_lm.h"
#include "headroom/dataset.h"
#include "headroom/export.h"
#include "headroom/generation.h"
#include "headroom/tokenizer.h"
#include "headroom/train_config.h"

#include "export_jobs.h"
#include "models/memory_categories.h"

#include <QObject>

QString runExport(ExportKind kind, const QString &source, const QString &destination, const QString &baseDir) {
    const std::string from = source.toStdString(), to = destination.toStdString();
    headroom::ExportResult result;
    switch (kind) {
    case ExportKind::Adapter: result = headroom::exportAdapter(from, to); break;
    case ExportKind::Merged: {
        headroom::MergedExportOptions options;
        options.baseDir = baseDir.toStdString();
        result = headroom::exportMerged(from, to, options);
        break;
    }
    case ExportKind::GgufLora: {
        headroom::GgufLoraOptions options;
        options.baseDir = baseDir.toStdString();
        result = headroom::exportGgufLora(from, to, options);
        break;
    }
    }
    return QObject::tr("Wrote %1 (%2)").arg(QString::fromStdString(result.path), formatBytes(int64_t(result.bytes)));
}

PlaygroundReply comparePrompt(const QString &trainConfigJson, const QString &adapterSource, const QString &prompt,
                              int maxNewTokens) {
    const auto config = headroom::TrainConfig::fromJson(nlohmann::json::parse(trainConfigJson.toStdString()), "studio");
    const headroom::AdapterSource adapter = headroom::findAdapter(adapterSource.toStdString());
    const auto tokenizer = headroom::Tokenizer::load(config.model);
    const headroom::ChatTemplate chat = headroom::chatTemplateFor(config.dataset, *tokenizer);
    const std::vector<int32_t> promptIds =
        tokenizer->encode(chat.renderText({{"user", prompt.toStdString()}}, true), true);
    headroom::GenerationOptions options;
    options.maxNewTokens = maxNewTokens;
    options.stopIds = tokenizer->stopIds();

    PlaygroundReply reply;
    const auto base = headroom::CausalLM::load(config.model);
    const headroom::GenerationResult fromBase = headroom::generate(*base, promptIds, options);
    reply.baseText = QString::fromStdString(tokenizer->decode(fromBase.tokens, true));
    reply.baseTokensPerSecond = fromBase.tokensPerSecond;
    headroom::loadAdapter(*base, adapter.adapterDir);
    const headroom::GenerationResult fromAdapter = headroom::generate(*base, promptIds, options);
    reply.adapterText = QString::fromStdString(tokenizer->decode(fromAdapter.tokens, true));
    reply.adapterTokensPerSecond = fromAdapter.tokensPerSecond;
    return reply;
}
