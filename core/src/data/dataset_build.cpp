// TrainingDataset::build: the whole pipeline from a dataset file to the rows of a training run.
#include "headroom/dataset.h"

#include "headroom/error.h"
#include "headroom/tokenizer.h"
#include "headroom/train_config.h"

#include "data/dataset_bad_records.h"
#include "data/dataset_cache.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

namespace headroom {

namespace {

// Tokenizes all records on `threads` threads (0: one per core). A record the chat template
// rejects gets its problem instead of an example; other failures are rethrown.
void tokenizeAll(const RecordTokenizer &tokenizer, const std::vector<DatasetRecord> &records, int64_t threads,
                 std::vector<TokenizedExample> &examples, std::vector<std::string> &problems) {
    examples.assign(records.size(), {});
    problems.assign(records.size(), {});
    std::atomic<size_t> next{0};
    std::exception_ptr failure;
    std::mutex failureMutex;
    auto fail = [&]() {
        std::lock_guard<std::mutex> lock(failureMutex);
        failure = std::current_exception();
        next = records.size();
    };
    auto work = [&]() {
        for (size_t i = next++; i < records.size(); i = next++) {
            try {
                examples[i] = tokenizer.tokenize(records[i]);
            } catch (const Error &error) {
                if (error.kind() == ErrorKind::InvalidInput)
                    problems[i] = error.what();
                else
                    fail();
            } catch (...) {
                fail();
            }
        }
    };
    const size_t cores = std::max(1u, std::thread::hardware_concurrency());
    const size_t count = std::min(records.size(), threads > 0 ? static_cast<size_t>(threads) : cores);
    std::vector<std::thread> workers;
    for (size_t t = 1; t < count; ++t)
        workers.emplace_back(work);
    work();
    for (std::thread &worker : workers)
        worker.join();
    if (failure)
        std::rethrow_exception(failure);
}

// Reads, tokenizes and truncates; drops the examples left without a trained token.
detail::TokenizedRecords tokenizeDataset(const DatasetSettings &settings, const RecordTokenizer &tokenizer,
                                         int64_t threads) {
    detail::TokenizedRecords result;
    DatasetStats &stats = result.stats;
    const std::vector<DatasetRecord> records = readDatasetRecords(settings, stats);
    if (stats.format != "text")
        stats.chatTemplate = tokenizer.chatTemplate().name();

    std::vector<TokenizedExample> examples;
    std::vector<std::string> problems;
    tokenizeAll(tokenizer, records, threads, examples, problems);

    detail::BadRecords rejected(settings.path, settings.onBadLine, "records the chat template rejects");
    for (size_t i = 0; i < records.size(); ++i) {
        if (!problems[i].empty()) {
            rejected.report(records[i].line, problems[i]);
            continue;
        }
        TokenizedExample &example = examples[i];
        stats.truncated += truncateExample(example, settings.maxSeqLength) ? 1 : 0;
        const bool trained = std::any_of(example.labels.begin(), example.labels.end(),
                                         [](int32_t label) { return label != kIgnoreLabel; });
        if (!trained) {
            ++stats.dropped;
            continue;
        }
        result.examples.push_back(std::move(example));
    }
    stats.skipped += rejected.count();
    for (int64_t line : rejected.firstLines()) {
        if (stats.firstSkippedLines.size() < detail::BadRecords::kReportedLines)
            stats.firstSkippedLines.push_back(line);
    }
    if (rejected.count() > 0)
        stats.warnings.push_back(rejected.warning());

    const std::string length = std::to_string(settings.maxSeqLength);
    if (result.examples.empty())
        throw invalidInput(settings.path + ": no example has a trained token" +
                           (stats.dropped > 0 ? " left after truncation to dataset.max_seq_length " + length +
                                                    " tokens; raise max_seq_length or shorten the prompts"
                                              : ""));
    if (stats.truncated > 0)
        stats.warnings.push_back(settings.path + ": " + std::to_string(stats.truncated) + " of " +
                                 std::to_string(records.size()) + " examples are longer than " + length +
                                 " tokens (dataset.max_seq_length) and were cut");
    if (stats.dropped > 0)
        stats.warnings.push_back(settings.path + ": " + std::to_string(stats.dropped) +
                                 " examples have no trained token within " + length + " tokens and were dropped");
    return result;
}

int64_t tokenCount(const std::vector<TokenizedExample> &rows, bool trainedOnly) {
    int64_t count = 0;
    for (const TokenizedExample &row : rows) {
        count += trainedOnly ? std::count_if(row.labels.begin(), row.labels.end(),
                                             [](int32_t label) { return label != kIgnoreLabel; })
                             : static_cast<int64_t>(row.ids.size());
    }
    return count;
}

} // namespace

TrainingDataset TrainingDataset::build(const TrainConfig &config, const Tokenizer &tokenizer,
                                       const std::string &cacheDir) {
    const DatasetSettings &settings = config.dataset;
    const RecordTokenizer recordTokenizer(tokenizer, chatTemplateFor(settings, tokenizer), settings.trainOnPrompt);

    detail::TokenizedRecords tokenized;
    bool fromCache = false;
    std::string cachePath, cacheWarning;
    uint64_t key = 0;
    if (!cacheDir.empty()) {
        key = detail::datasetCacheKey(settings, tokenizer, recordTokenizer.chatTemplate().cacheKey());
        cachePath = detail::datasetCachePath(cacheDir, key);
        const auto state = detail::readDatasetCache(cachePath, key, tokenized);
        fromCache = state == detail::CacheState::Valid;
        if (state == detail::CacheState::Corrupt)
            cacheWarning = cachePath + ": the dataset cache was damaged and has been rebuilt";
    }
    if (!fromCache) {
        tokenized = tokenizeDataset(settings, recordTokenizer, config.threads);
        if (!cachePath.empty()) {
            const std::string problem = detail::writeDatasetCache(cachePath, key, tokenized);
            if (!problem.empty())
                cacheWarning = "the tokenized dataset was not cached: " + problem;
        }
    }

    TrainingDataset dataset;
    DatasetStats &stats = dataset.m_stats;
    stats = tokenized.stats;
    stats.fromCache = fromCache;
    if (!cacheWarning.empty())
        stats.warnings.push_back(cacheWarning);

    std::vector<TokenizedExample> &examples = tokenized.examples;
    stats.examples = static_cast<int64_t>(examples.size());
    const std::vector<size_t> held =
        validationIndices(examples.size(), settings.validationSplit, static_cast<uint64_t>(config.training.seed));
    std::vector<bool> isHeld(examples.size(), false);
    for (size_t i : held)
        isHeld[i] = true;
    for (size_t i = 0; i < examples.size(); ++i)
        (isHeld[i] ? dataset.m_validation : dataset.m_train).push_back(std::move(examples[i]));
    stats.validationExamples = static_cast<int64_t>(dataset.m_validation.size());
    if (settings.validationSplit > 0 && held.empty())
        stats.warnings.push_back(settings.path + ": one example is too few to hold any out for validation");

    if (settings.packing) {
        dataset.m_train = packExamples(dataset.m_train, settings.maxSeqLength);
        dataset.m_validation = packExamples(dataset.m_validation, settings.maxSeqLength);
    }
    stats.trainRows = static_cast<int64_t>(dataset.m_train.size());
    stats.trainTokens = tokenCount(dataset.m_train, false);
    stats.trainedTokens = tokenCount(dataset.m_train, true);
    return dataset;
}

std::vector<size_t> TrainingDataset::epochOrder(uint64_t seed, int64_t epoch) const {
    return shuffledOrder(m_train.size(), seed, epoch);
}

} // namespace headroom

namespace headroom {

TrainingDataset TrainingDataset::fromExamples(std::vector<TokenizedExample> train,
                                              std::vector<TokenizedExample> validation) {
    TrainingDataset dataset;
    dataset.m_train = std::move(train);
    dataset.m_validation = std::move(validation);
    dataset.m_stats.examples = int64_t(dataset.m_train.size() + dataset.m_validation.size());
    dataset.m_stats.validationExamples = int64_t(dataset.m_validation.size());
    dataset.m_stats.trainRows = int64_t(dataset.m_train.size());
    return dataset;
}

} // namespace headroom
