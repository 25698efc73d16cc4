#include "dataset_preview.h"

#include "headroom/dataset.h"
#include "headroom/tokenizer.h"
#include "headroom/train_config.h"

DatasetPreview DatasetPreview::build(const QString &configJson, int exampleCount) {
    headroom::TrainConfig config =
        headroom::TrainConfig::fromJson(nlohmann::json::parse(configJson.toStdString()), "studio");
    config.dataset.onBadLine = "skip";
    headroom::DatasetStats stats;
    const std::vector<headroom::DatasetRecord> records = headroom::readDatasetRecords(config.dataset, stats);
    const auto tokenizer = headroom::Tokenizer::load(config.model);
    const headroom::RecordTokenizer recordTokenizer(*tokenizer, headroom::chatTemplateFor(config.dataset, *tokenizer),
                                                    config.dataset.trainOnPrompt);

    DatasetPreview preview;
    preview.format = QString::fromStdString(stats.format);
    preview.chatTemplate = QString::fromStdString(recordTokenizer.chatTemplate().name());
    preview.records = stats.records;
    preview.skipped = stats.skipped;
    preview.maxSeqLength = config.dataset.maxSeqLength;
    for (const std::string &warning : stats.warnings)
        preview.problems << QString::fromStdString(warning);
    for (const headroom::DatasetRecord &record : records) {
        const headroom::TokenizedExample example = recordTokenizer.tokenize(record);
        const qint64 count = qint64(example.ids.size());
        preview.tokenCounts << count;
        preview.longer += count > preview.maxSeqLength ? 1 : 0;
        if (preview.examples.size() < exampleCount) {
            QList<Run> runs;
            for (const auto &segment : recordTokenizer.trainedAndMasked(example))
                runs.append({QString::fromStdString(segment.text), segment.trainable});
            preview.examples.append(runs);
        }
    }
    return preview;
}
