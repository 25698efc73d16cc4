// Training data: from a JSONL or JSON-array file to tokenized, masked, optionally packed examples.
//
// Three steps, each usable on its own:
//   1. readDatasetRecords() reads and checks every record with no tokenizer, so a bad dataset is
//      refused before any model is loaded. Formats (docs/contracts.md): alpaca {instruction, input,
//      output}; messages {"messages": [{role, content}]} or ShareGPT {"conversations": [{from,
//      value}]}; text {"text"}; "auto" detects the format from the first valid record. A malformed
//      record is reported as FILE:LINE with what was expected; dataset.on_bad_line decides whether
//      it stops the run (InvalidInput) or is counted, skipped and reported in a warning.
//   2. RecordTokenizer renders a record through the chat template (the model's own Jinja
//      template with dataset.chat_template "auto", chat_template.h) and tokenizes the rendered
//      text as one string, as apply_chat_template(tokenize=True) does; the template's reply spans
//      decide which ids are trained (a token straddling a span's edge is trained). Labels follow
//      Hugging Face's convention (aligned with ids; the trainer shifts them by one): the id where
//      the token is trained, kIgnoreLabel where it is prompt (unless train_on_prompt), and always
//      kIgnoreLabel on an example's first token, which nothing predicts.
//   3. TrainingDataset::build() does the whole pipeline for a run: read, tokenize (in parallel,
//      cached on disk), truncate to max_seq_length, drop examples left without a trained token,
//      split off validation examples, and pack rows when dataset.packing is on.
//
//   TrainingDataset data = TrainingDataset::build(config, *tokenizer, outputDir + "/.cache");
//   for (size_t i : data.epochOrder(config.training.seed, epoch)) use(data.train()[i]);
//
// Every order is deterministic and portable: the split and the epoch orders come from the seed
// through std::mt19937_64 (whose output the standard fixes), not from std::shuffle.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "headroom/chat_template.h"

namespace headroom {

class Tokenizer;
struct DatasetSettings;
struct TrainConfig;

constexpr int32_t kIgnoreLabel = -100; // a label the loss skips

enum class DatasetFormat { Alpaca, Messages, Text };
std::string formatName(DatasetFormat format); // "alpaca", "messages", "text"

// One training record as read from the file.
struct DatasetRecord {
    int64_t line = 0; // 1-based line of the file where the record starts
    DatasetFormat format = DatasetFormat::Messages;
    // alpaca and messages: the conversation (alpaca: user = instruction, plus "\n\n" + input when
    // there is one; assistant = output). ShareGPT roles are mapped to system/user/assistant.
    std::vector<ChatMessage> messages;
    std::string text; // text format
};

// What happened to the data, for the console, the studio's data page and the tests.
struct DatasetStats {
    std::string format; // "alpaca", "messages" or "text" (as detected with "auto")
    std::string chatTemplate; // the chat template's family (ChatTemplate::name()); "" for the text format
    int64_t records = 0; // valid records read
    int64_t skipped = 0; // malformed records skipped (on_bad_line "skip")
    std::vector<int64_t> firstSkippedLines; // the first few of them
    int64_t truncated = 0; // examples cut to max_seq_length
    int64_t dropped = 0; // examples with no trained token left after truncation
    int64_t examples = 0; // tokenized examples kept (training + validation, before packing)
    int64_t validationExamples = 0;
    int64_t trainRows = 0; // rows of train(): examples, or packed rows with packing
    int64_t trainTokens = 0; // tokens in train()
    int64_t trainedTokens = 0; // tokens in train() with a label, i.e. that count in the loss
    bool fromCache = false; // the tokenized examples were read from the cache
    std::vector<std::string> warnings; // one line each, for the user
};

// One row the model trains on: a single example, or several packed together.
struct TokenizedExample {
    std::vector<int32_t> ids;
    std::vector<int32_t> labels; // ids[i] where token i is trained, else kIgnoreLabel
    std::vector<int32_t> positions; // position ids: 0, 1, ... restarting at each packed example
    std::vector<int32_t> segments; // which packed example each token belongs to: 0, 1, ...;
        // attention must stay within a segment
};

// Reads and checks all records (no tokenizer needed). Throws invalidInput for an unreadable,
// empty or all-invalid file, and at the first malformed record when settings.onBadLine is "stop".
std::vector<DatasetRecord> readDatasetRecords(const DatasetSettings &settings, DatasetStats &stats);

// The format of a dataset file ("alpaca", "messages", "text"), from its first record with known
// fields; throws invalidInput when no record has any.
std::string detectDatasetFormat(const std::string &path);

// The chat template for a run: with dataset.chat_template "auto" the model folder's own
// (ChatTemplate::forModel: its Jinja template, or the built-in "plain" when it has none), else the
// built-in family of that name.
ChatTemplate chatTemplateFor(const DatasetSettings &settings, const Tokenizer &tokenizer);

// A rendered conversation and its ids: what `tokenize --chat` prints and training trains on.
struct TokenizedChat {
    std::string text; // the template's rendering
    std::vector<int32_t> ids;
    std::vector<uint8_t> trainable; // per id: 1 in a reply span, else 0
};

// Turns records into token ids and labels. A Jinja template's text is encoded as it stands, with
// no special tokens added (as transformers does: the template writes BOS itself where the model
// wants one). The built-in families keep their own rules: BOS is put first when the tokenizer adds
// one (its encode(text, true) does) unless the rendered text already holds the BOS token, and with
// "plain" (no markup) EOS follows the last reply so that the model learns to stop. The text
// format gets EOS after the text and trains on every token. Safe to use from several threads.
class RecordTokenizer {
public:
    RecordTokenizer(const Tokenizer &tokenizer, ChatTemplate chatTemplate, bool trainOnPrompt);

    // The whole example, untruncated; positions 0..n-1, one segment. Throws invalidInput when the
    // template rejects the conversation (raise_exception, e.g. roles that do not alternate).
    TokenizedExample tokenize(const DatasetRecord &record) const;
    // Any conversation (tools, tool calls, reasoning, keyword arguments); `trainable` marks the
    // reply spans whatever train_on_prompt says. Throws as tokenize().
    TokenizedChat tokenizeChat(const ChatRequest &request) const;
    // For display: the example as runs of trained and masked text (tokens decoded per run).
    std::vector<ChatTemplate::Segment> trainedAndMasked(const TokenizedExample &example) const;

    const ChatTemplate &chatTemplate() const { return m_chatTemplate; }

private:
    // BOS first when the tokenizer adds one and `text` does not hold it already.
    void putBosFirst(TokenizedChat &chat, const std::string &text) const;

    const Tokenizer &m_tokenizer;
    ChatTemplate m_chatTemplate;
    bool m_trainOnPrompt;
    bool m_addsBos;
    std::string m_bosText;
};

// Cuts an example to maxLength tokens; returns whether it was longer.
bool truncateExample(TokenizedExample &example, int64_t maxLength);

// Concatenates whole examples (each at most maxLength tokens) into rows of at most maxLength, in
// order, starting a new row when the next example does not fit. Positions restart and the segment
// index grows at each example.
std::vector<TokenizedExample> packExamples(const std::vector<TokenizedExample> &examples, int64_t maxLength);

// Indices of the examples held out for validation: the first ceil(split * count) of a seeded
// shuffle, at least 1 when split > 0 and count >= 2, never all of them. Ascending.
std::vector<size_t> validationIndices(size_t count, double split, uint64_t seed);

// A permutation of 0..count-1 for one epoch, determined by (seed, epoch).
std::vector<size_t> shuffledOrder(size_t count, uint64_t seed, int64_t epoch);

// The tokenized dataset of one training run.
class TrainingDataset {
public:
    // Reads, tokenizes, truncates, splits (training.seed) and packs as config.dataset says.
    // Tokenized examples are cached in cacheDir (no cache when empty), keyed by a hash of the
    // dataset file, the tokenizer files and the settings that change tokenization; a corrupt cache
    // file is ignored and rewritten. Throws invalidInput as readDatasetRecords does, and when no
    // example keeps a trained token.
    static TrainingDataset build(const TrainConfig &config, const Tokenizer &tokenizer, const std::string &cacheDir);
    // Rows made elsewhere (benchmarks train on random ids of an exact length).
    static TrainingDataset fromExamples(std::vector<TokenizedExample> train, std::vector<TokenizedExample> validation);

    const std::vector<TokenizedExample> &train() const { return m_train; }
    const std::vector<TokenizedExample> &validation() const { return m_validation; }
    const DatasetStats &stats() const { return m_stats; }
    // The order to visit train() in during `epoch`: shuffledOrder(train().size(), seed, epoch).
    std::vector<size_t> epochOrder(uint64_t seed, int64_t epoch) const;

private:
    std::vector<TokenizedExample> m_train, m_validation;
    DatasetStats m_stats;
};

} // namespace headroom
