// Tests of the dataset pipeline: reading and checking records, masking per format, truncation,
// packing, the validation split, epoch orders and the tokenization cache. Ids are stated by hand:
// the fixture tokenizer (tests/data/datasets/byte_tokenizer) maps each UTF-8 byte to its value.
#include "headroom/dataset.h"
#include "headroom/error.h"
#include "headroom/tokenizer.h"
#include "headroom/train_config.h"
#include "tokenizer/bpe_trainer.h"

#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>

using namespace headroom;
namespace fs = std::filesystem;

namespace {

constexpr int32_t kBos = 256, kEos = 257, kImStart = 258, kImEnd = 259;

std::string dataPath(const std::string &relative) {
    return qEnvironmentVariable("HEADROOM_TEST_DATA").toStdString() + "/" + relative;
}

std::string fixture(const std::string &name) { return dataPath("datasets/" + name); }

void writeFile(const std::string &path, const std::string &text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// The ids and labels an example should have, built piece by piece.
class Expected {
public:
    Expected &prompt(const std::string &text) { return add(text, false); }
    Expected &prompt(int32_t special) { return add(special, false); }
    Expected &reply(const std::string &text) { return add(text, true); }
    Expected &reply(int32_t special) { return add(special, true); }
    // ChatML turns: <|im_start|>ROLE\nTEXT<|im_end|>\n, all prompt; an assistant turn whose reply
    // and <|im_end|> are trained (the header and the newline after it are not).
    Expected &promptTurn(const std::string &role, const std::string &text) {
        return prompt(kImStart).prompt(role + "\n" + text).prompt(kImEnd).prompt("\n");
    }
    Expected &replyTurn(const std::string &text) {
        return prompt(kImStart).prompt("assistant\n").reply(text).reply(kImEnd).prompt("\n");
    }

    const std::vector<int32_t> &ids() const { return m_ids; }
    // The first token is never a target.
    std::vector<int32_t> labels() const {
        std::vector<int32_t> labels = m_labels;
        labels.at(0) = kIgnoreLabel;
        return labels;
    }

private:
    Expected &add(const std::string &text, bool trained) {
        for (unsigned char byte : text)
            add(byte, trained);
        return *this;
    }
    Expected &add(int32_t id, bool trained) {
        m_ids.push_back(id);
        m_labels.push_back(trained ? id : kIgnoreLabel);
        return *this;
    }
    std::vector<int32_t> m_ids, m_labels;
};

DatasetSettings settingsFor(const std::string &path, const std::string &onBadLine = "stop") {
    DatasetSettings settings;
    settings.path = path;
    settings.onBadLine = onBadLine;
    return settings;
}

TrainConfig configFor(const std::string &path) {
    TrainConfig config;
    config.model = dataPath("datasets/byte_tokenizer");
    config.dataset.path = path;
    config.dataset.validationSplit = 0;
    config.threads = 2;
    return config;
}

std::vector<DatasetRecord> read(const DatasetSettings &settings) {
    DatasetStats stats;
    return readDatasetRecords(settings, stats);
}

template <typename Action>
QString errorOf(Action action) {
    try {
        action();
    } catch (const Error &error) {
        return error.kind() == ErrorKind::InvalidInput ? QString::fromStdString(error.what())
                                                       : "wrong kind: " + QString::fromStdString(error.what());
    }
    return "no error";
}

bool sameRows(const std::vector<TokenizedExample> &a, const std::vector<TokenizedExample> &b) {
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].ids != b[i].ids || a[i].labels != b[i].labels || a[i].positions != b[i].positions ||
            a[i].segments != b[i].segments)
            return false;
    }
    return true;
}

using Json = nlohmann::ordered_json;

// A folder whose tokenizer_config.json holds `config` and whose tokenizer.json is the byte
// tokenizer's: a model folder for RecordTokenizer and TrainingDataset.
std::string byteModelWith(const QTemporaryDir &dir, const std::string &name, const Json &config) {
    const std::string folder = dir.filePath(QString::fromStdString(name)).toStdString();
    fs::create_directories(folder);
    fs::copy_file(dataPath("datasets/byte_tokenizer/tokenizer.json"), folder + "/tokenizer.json",
                  fs::copy_options::overwrite_existing);
    writeFile(folder + "/tokenizer_config.json", config.dump());
    return folder;
}

std::string jinjaTemplate(const std::string &name) {
    std::ifstream in(dataPath("chat_templates/jinja/" + name + ".jinja"), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

} // namespace

class DatasetTest : public QObject {
    Q_OBJECT

    std::unique_ptr<Tokenizer> m_tokenizer;
    QTemporaryDir m_dir;

    const Tokenizer &tokenizer() const { return *m_tokenizer; }
    RecordTokenizer chatMl(bool trainOnPrompt = false) const {
        return RecordTokenizer(tokenizer(), ChatTemplate::detect(tokenizer().chatTemplateSource()), trainOnPrompt);
    }
    std::string tempPath(const std::string &name) const {
        return m_dir.filePath(QString::fromStdString(name)).toStdString();
    }
    // A dataset file in the temporary folder with `text` in it.
    std::string tempDataset(const std::string &name, const std::string &text) const {
        writeFile(tempPath(name), text);
        return tempPath(name);
    }

private slots:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        m_tokenizer = Tokenizer::load(dataPath("datasets/byte_tokenizer"));
        QCOMPARE(tokenizer().encode("Hi", true), (std::vector<int32_t>{kBos, 'H', 'i'}));
        QCOMPARE(ChatTemplate::detect(tokenizer().chatTemplateSource()).name(), std::string("chatml"));
    }

    void alpacaTrainsOnlyTheOutput() {
        const auto records = read(settingsFor(fixture("alpaca.jsonl")));
        QCOMPARE(records.size(), size_t(3));
        QCOMPARE(records[1].line, int64_t(3)); // the blank line 2 is skipped
        QCOMPARE(records[1].messages[0].content, std::string("Add\n\n1+1"));
        QCOMPARE(records[2].messages[0].content, std::string("Empty input"));

        const auto example = chatMl().tokenize(records[0]);
        const auto expected = Expected().prompt(kBos).promptTurn("user", "Hi").replyTurn("Yo");
        QCOMPARE(example.ids, expected.ids());
        QCOMPARE(example.labels, expected.labels());
        QCOMPARE(example.positions.size(), example.ids.size());
        QCOMPARE(example.positions.back(), int32_t(example.ids.size() - 1));
        QCOMPARE(example.segments, std::vector<int32_t>(example.ids.size(), 0));
    }

    void messagesTrainEveryAssistantTurn() {
        const auto records = read(settingsFor(fixture("messages.jsonl")));
        const auto example = chatMl().tokenize(records[1]);
        const auto expected =
            Expected().prompt(kBos).promptTurn("user", "A").replyTurn("B").promptTurn("user", "C").replyTurn("D");
        QCOMPARE(example.ids, expected.ids());
        QCOMPARE(example.labels, expected.labels());

        const auto withSystem = chatMl().tokenize(records[0]);
        const auto expectedSystem =
            Expected().prompt(kBos).promptTurn("system", "Be brief.").promptTurn("user", "Hi").replyTurn("Yo");
        QCOMPARE(withSystem.labels, expectedSystem.labels());
    }

    void shareGptIsReadAsMessages() {
        DatasetStats stats;
        const auto records = readDatasetRecords(settingsFor(fixture("sharegpt.json")), stats);
        QCOMPARE(stats.format, std::string("messages"));
        QCOMPARE(records.size(), size_t(2));
        QCOMPARE(records[0].line, int64_t(2));
        QCOMPARE(records[1].line, int64_t(7));
        std::vector<std::string> roles;
        for (const auto &message : records[0].messages)
            roles.push_back(message.role);
        QCOMPARE(roles, (std::vector<std::string>{"system", "user", "assistant"}));
        // The same conversation as messages.jsonl's first record, so the same example.
        const auto same = read(settingsFor(fixture("messages.jsonl")));
        QCOMPARE(chatMl().tokenize(records[0]).labels, chatMl().tokenize(same[0]).labels);
    }

    void textTrainsEveryTokenAndEndsWithEos() {
        const auto records = read(settingsFor(fixture("text.jsonl")));
        QCOMPARE(records[0].format, DatasetFormat::Text);
        const auto example = chatMl().tokenize(records[0]);
        const auto expected = Expected().prompt(kBos).reply("Hello world").reply(kEos);
        QCOMPARE(example.ids, expected.ids());
        QCOMPARE(example.labels, expected.labels());
    }

    void trainOnPromptTrainsEveryTokenButTheFirst() {
        const auto records = read(settingsFor(fixture("alpaca.jsonl")));
        const auto example = chatMl(/*trainOnPrompt=*/true).tokenize(records[0]);
        std::vector<int32_t> expected = example.ids;
        expected[0] = kIgnoreLabel;
        QCOMPARE(example.labels, expected);
    }

    void bosIsNotAddedWhenTheTemplateWritesIt() {
        const auto records = read(settingsFor(fixture("alpaca.jsonl")));
        const RecordTokenizer llama2(tokenizer(), ChatTemplate::fromName("llama2"), false);
        const auto example = llama2.tokenize(records[0]);
        const auto expected = Expected().prompt(kBos).prompt("[INST] Hi [/INST]").reply(" Yo ").reply(kEos);
        QCOMPARE(example.ids, expected.ids());
        QCOMPARE(example.labels, expected.labels());
    }

    // Llama 3's template writes <|begin_of_text|> itself, and its tokenizer adds it too: once only.
    void realTemplateWithBosGetsOneBos() {
        const auto llama3 = Tokenizer::load(dataPath("tokenizers/llama3"));
        const auto records = read(settingsFor(fixture("alpaca.jsonl")));
        const RecordTokenizer recordTokenizer(*llama3, chatTemplateFor(settingsFor(""), *llama3), false);
        QCOMPARE(recordTokenizer.chatTemplate().name(), std::string("llama3"));
        const auto example = recordTokenizer.tokenize(records[0]);
        const int32_t bos = *llama3->bosId();
        QCOMPARE(example.ids.front(), bos);
        QCOMPARE(std::count(example.ids.begin(), example.ids.end(), bos), 1L);
        const auto segments = recordTokenizer.trainedAndMasked(example);
        QCOMPARE(segments.size(), size_t(2));
        // This (Llama 3.0) template writes the assistant header after every conversation, so the
        // span of the last reply, what rendering it adds, ends with that header.
        QCOMPARE(segments[1].text, std::string("Yo<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"));
        QVERIFY(segments[1].trainable);
    }

    void plainTemplateEndsTheReplyWithEos() {
        // The same tokenizer without a chat template: "plain" rendering.
        const std::string dir = tempPath("plain_tokenizer");
        fs::create_directories(dir);
        fs::copy_file(dataPath("datasets/byte_tokenizer/tokenizer.json"), dir + "/tokenizer.json");
        writeFile(dir + "/tokenizer_config.json", R"({"bos_token": "<s>", "eos_token": "</s>"})");
        const auto plainTokenizer = Tokenizer::load(dir);
        DatasetSettings settings = settingsFor(fixture("alpaca.jsonl"));
        const ChatTemplate plain = chatTemplateFor(settings, *plainTokenizer);
        QCOMPARE(plain.name(), std::string("plain"));
        const auto example = RecordTokenizer(*plainTokenizer, plain, false).tokenize(read(settings)[0]);
        const auto expected = Expected().prompt(kBos).prompt("Hi\n").reply("Yo").reply(kEos).prompt("\n");
        QCOMPARE(example.ids, expected.ids());
        QCOMPARE(example.labels, expected.labels());
    }

    void configuredTemplateWinsOverTheTokenizers() {
        DatasetSettings settings = settingsFor(fixture("alpaca.jsonl"));
        settings.chatTemplate = "llama3";
        QCOMPARE(chatTemplateFor(settings, tokenizer()).name(), std::string("llama3"));
    }

    void displaySplitsTrainedFromMaskedText() {
        const auto records = read(settingsFor(fixture("alpaca.jsonl")));
        const auto tokenizerForDisplay = chatMl();
        const auto segments = tokenizerForDisplay.trainedAndMasked(tokenizerForDisplay.tokenize(records[0]));
        QCOMPARE(segments.size(), size_t(3));
        QCOMPARE(segments[0].text, std::string("<s><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
        QVERIFY(!segments[0].trainable);
        QCOMPARE(segments[1].text, std::string("Yo<|im_end|>"));
        QVERIFY(segments[1].trainable);
        QCOMPARE(segments[2].text, std::string("\n"));
    }

    void autoDetectsTheFormatOfEachFile_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("format");
        QTest::newRow("alpaca") << "alpaca.jsonl"
                                << "alpaca";
        QTest::newRow("messages") << "messages.jsonl"
                                  << "messages";
        QTest::newRow("sharegpt") << "sharegpt.json"
                                  << "messages";
        QTest::newRow("text") << "text.jsonl"
                              << "text";
    }

    void autoDetectsTheFormatOfEachFile() {
        QFETCH(QString, file);
        QFETCH(QString, format);
        const std::string path = fixture(file.toStdString());
        QCOMPARE(QString::fromStdString(detectDatasetFormat(path)), format);
        DatasetStats stats;
        readDatasetRecords(settingsFor(path), stats);
        QCOMPARE(QString::fromStdString(stats.format), format);
    }

    void formatErrorsNameTheLine_data() {
        QTest::addColumn<QString>("content");
        QTest::addColumn<QString>("expected");
        const QString good = R"({"instruction": "Hi", "output": "Yo"})"
                             "\n";
        QTest::newRow("bad JSON") << good + R"({"instruction": "Hi", "output": "Yo")"
                                  << ":2:37: not valid JSON (syntax error while parsing object";
        QTest::newRow("missing field") << good + "\n" + R"({"instruction": "Hi"})"
                                       << ":3: alpaca record: missing \"output\"";
        QTest::newRow("wrong type") << good + R"({"instruction": 5, "output": "x"})"
                                    << ":2: alpaca record: \"instruction\" must be a string, got 5";
        QTest::newRow("not an object") << good + "[1, 2]"
                                       << ":2: expected a JSON object, got [1,2]";
        QTest::newRow("unknown fields") << R"({"prompt": "Hi", "completion": "Yo"})"
                                        << ":1: no known fields: expected instruction and output (alpaca)";
        QTest::newRow("empty messages") << R"({"messages": []})"
                                        << ":1: \"messages\" must be a non-empty list of messages, got []";
        QTest::newRow("no assistant at the end")
            << R"({"messages": [{"role": "user", "content": "Hi"}]})"
            << ":1: the conversation must end with an assistant turn (the one to learn), but its last message is "
               "\"user\"";
        QTest::newRow("bad role") << R"({"messages": [{"role": "bot", "content": "Hi"}]})"
                                  << ":1: messages[0]: role \"bot\" is not one of system, user, assistant";
        QTest::newRow("bad sharegpt role") << R"({"conversations": [{"from": "model", "value": "Hi"}]})"
                                           << ":1: conversations[0]: from \"model\" is not one of system, human, gpt";
        QTest::newRow("content type") << R"({"messages": [{"role": "user", "content": 3}]})"
                                      << ":1: messages[0]: \"content\" must be a string, got 3";
        QTest::newRow("empty text") << R"({"text": ""})"
                                    << ":1: text record: \"text\" is empty";
        QTest::newRow("array element") << "[\n" + good + ",\n" + R"( {"instruction": 1, "output": "x"})" + "\n]"
                                       << ":4: alpaca record: \"instruction\" must be a string";
        QTest::newRow("stray comma") << "[" + good + ",]"
                                     << ":2:2: empty array element (a stray comma?)";
    }

    void formatErrorsNameTheLine() {
        QFETCH(QString, content);
        QFETCH(QString, expected);
        const std::string path = tempDataset("errors.jsonl", content.toStdString());
        const QString message = errorOf([&] { read(settingsFor(path)); });
        QVERIFY2(message.startsWith(QString::fromStdString(path) + expected), qPrintable(message));
    }

    void skipCountsAndReportsBadLines() {
        DatasetStats stats;
        const auto records = readDatasetRecords(settingsFor(fixture("bad_alpaca.jsonl"), "skip"), stats);
        QCOMPARE(records.size(), size_t(2));
        QCOMPARE(records[0].line, int64_t(1));
        QCOMPARE(records[1].line, int64_t(6));
        QCOMPARE(stats.records, int64_t(2));
        QCOMPARE(stats.skipped, int64_t(4));
        QCOMPARE(stats.firstSkippedLines, (std::vector<int64_t>{2, 3, 4, 5}));
        QCOMPARE(stats.warnings.size(), size_t(1));
        QVERIFY2(QString::fromStdString(stats.warnings[0])
                     .contains("skipped 4 malformed records (lines 2, 3, 4, 5); the first: line 2:"),
                 stats.warnings[0].c_str());

        const auto messages = readDatasetRecords(settingsFor(fixture("bad_messages.jsonl"), "skip"), stats);
        QCOMPARE(messages.size(), size_t(1));
        QCOMPARE(messages[0].line, int64_t(5));
    }

    void stopRefusesTheFirstBadLine() {
        const std::string path = fixture("bad_alpaca.jsonl");
        const QString message = errorOf([&] { read(settingsFor(path, "stop")); });
        QVERIFY2(message.startsWith(QString::fromStdString(path) + ":2:"), qPrintable(message));
        QVERIFY(message.endsWith("; set dataset.on_bad_line to \"skip\" to skip such records"));
    }

    void mixedFormatsAreRefused() {
        const std::string path = fixture("mixed.jsonl");
        QCOMPARE(errorOf([&] { read(settingsFor(path, "skip")); }),
                 QString::fromStdString(path) + ":2: a messages record, but the first record (line 1) is alpaca; "
                                                "all records of a file must have one format");
    }

    void emptyDatasetIsRefused_data() {
        QTest::addColumn<QString>("content");
        QTest::addColumn<QString>("expected");
        QTest::newRow("empty file") << ""
                                    << ": the dataset is empty (no records)";
        QTest::newRow("blank lines") << "\n  \n\r\n"
                                     << ": the dataset is empty (no records)";
        QTest::newRow("empty array") << " [ ]\n"
                                     << ": the dataset is empty (no records)";
        QTest::newRow("all invalid") << "{\"a\": 1}\nnot json\n"
                                     << ": no valid record; all 2 are malformed, the first: line 1: no known fields";
        QTest::newRow("unclosed array") << "[\n{\"text\": \"a\"},\n{\"text\": \"b\""
                                        << ":3: the JSON array of records is not closed";
        QTest::newRow("text after array") << "[{\"text\": \"a\"}]\n{\"text\": \"b\"}"
                                          << ":1: unexpected text after the JSON array";
    }

    void emptyDatasetIsRefused() {
        QFETCH(QString, content);
        QFETCH(QString, expected);
        const std::string path = tempDataset("empty.jsonl", content.toStdString());
        const QString message = errorOf([&] { read(settingsFor(path, "skip")); });
        QVERIFY2(message.startsWith(QString::fromStdString(path) + expected), qPrintable(message));

        const QString missing = errorOf([&] { read(settingsFor(tempPath("missing.jsonl"))); });
        QVERIFY2(missing.startsWith(QString::fromStdString(tempPath("missing.jsonl")) + ": cannot read the dataset"),
                 qPrintable(missing));
    }

    void truncationCutsAndDropsExamples() {
        // Short fits; long output is cut but keeps trained tokens; long prompt loses all of them.
        const std::string path = tempDataset(
            "long.jsonl", R"({"instruction": "Q", "output": "A"})"
                          "\n"
                          R"({"instruction": "Q", "output": "A very long answer indeed"})"
                          "\n"
                          R"({"instruction": "A question so long that the reply is cut off", "output": "A"})"
                          "\n");
        TrainConfig config = configFor(path);
        const auto shortLength = chatMl().tokenize(read(settingsFor(path))[0]).ids.size();
        config.dataset.maxSeqLength = static_cast<int64_t>(shortLength) + 4;
        const auto data = TrainingDataset::build(config, tokenizer(), "");
        QCOMPARE(data.stats().truncated, int64_t(2));
        QCOMPARE(data.stats().dropped, int64_t(1));
        QCOMPARE(data.train().size(), size_t(2));
        for (const auto &row : data.train())
            QVERIFY(row.ids.size() <= size_t(config.dataset.maxSeqLength));
        QCOMPARE(data.stats().warnings.size(), size_t(2));

        config.dataset.maxSeqLength = 8;
        const QString message = errorOf([&] { TrainingDataset::build(config, tokenizer(), ""); });
        QVERIFY2(message.contains("no example has a trained token left after truncation"), qPrintable(message));
    }

    void packingKeepsExamplesApart() {
        std::vector<TokenizedExample> examples;
        for (int length : {5, 4, 3, 6}) {
            TokenizedExample example;
            for (int i = 0; i < length; ++i) {
                example.ids.push_back(10 * length + i);
                example.labels.push_back(i == 0 ? kIgnoreLabel : 10 * length + i);
            }
            examples.push_back(example);
        }
        const auto rows = packExamples(examples, 10);
        QCOMPARE(rows.size(), size_t(2)); // [5 + 4], [3 + 6]
        QCOMPARE(rows[0].ids.size(), size_t(9));
        QCOMPARE(rows[0].positions, (std::vector<int32_t>{0, 1, 2, 3, 4, 0, 1, 2, 3}));
        QCOMPARE(rows[0].segments, (std::vector<int32_t>{0, 0, 0, 0, 0, 1, 1, 1, 1}));
        QCOMPARE(rows[1].segments, (std::vector<int32_t>{0, 0, 0, 1, 1, 1, 1, 1, 1}));
        QCOMPARE(rows[1].labels[3], kIgnoreLabel); // nothing predicts across a boundary

        // Through the pipeline: rows hold whole examples in order, positions restart at each.
        TrainConfig config = configFor(fixture("messages.jsonl"));
        const auto unpacked = TrainingDataset::build(config, tokenizer(), "");
        config.dataset.packing = true;
        const auto packed = TrainingDataset::build(config, tokenizer(), "");
        QCOMPARE(packed.train().size(), size_t(1));
        const auto &row = packed.train()[0];
        std::vector<int32_t> joined;
        for (const auto &example : unpacked.train())
            joined.insert(joined.end(), example.ids.begin(), example.ids.end());
        QCOMPARE(row.ids, joined);
        const size_t boundary = unpacked.train()[0].ids.size();
        QCOMPARE(row.positions[boundary], 0);
        QCOMPARE(row.segments[boundary], 1);
        QCOMPARE(row.labels[boundary], kIgnoreLabel);
        QCOMPARE(packed.stats().trainRows, int64_t(1));
        QCOMPARE(packed.stats().trainTokens, int64_t(joined.size()));
        QCOMPARE(packed.stats().trainedTokens, unpacked.stats().trainedTokens);
    }

    void validationSplitIsDeterministicAndDisjoint() {
        const auto first = validationIndices(100, 0.1, 42);
        QCOMPARE(first.size(), size_t(10));
        QCOMPARE(validationIndices(100, 0.1, 42), first);
        QVERIFY(validationIndices(100, 0.1, 43) != first);
        QVERIFY(std::is_sorted(first.begin(), first.end()));
        QCOMPARE(std::set<size_t>(first.begin(), first.end()).size(), first.size());
        QVERIFY(first.back() < 100);
        QCOMPARE(validationIndices(2, 0.01, 1).size(), size_t(1)); // at least one
        QCOMPARE(validationIndices(2, 0.9, 1).size(), size_t(1)); // never all
        QCOMPARE(validationIndices(1, 0.5, 1).size(), size_t(0));
        QCOMPARE(validationIndices(100, 0.0, 1).size(), size_t(0));
        QCOMPARE(validationIndices(100, 0.051, 1).size(), size_t(6)); // ceil

        std::string lines;
        for (int i = 0; i < 20; ++i)
            lines += "{\"text\": \"example " + std::to_string(i) + "\"}\n";
        TrainConfig config = configFor(tempDataset("split.jsonl", lines));
        config.dataset.validationSplit = 0.25;
        const auto data = TrainingDataset::build(config, tokenizer(), "");
        QCOMPARE(data.validation().size(), size_t(5));
        QCOMPARE(data.train().size(), size_t(15));
        QCOMPARE(data.stats().validationExamples, int64_t(5));
        std::set<std::vector<int32_t>> seen;
        for (const auto *rows : {&data.train(), &data.validation()})
            for (const auto &row : *rows)
                seen.insert(row.ids);
        QCOMPARE(seen.size(), size_t(20));
        QVERIFY(sameRows(TrainingDataset::build(config, tokenizer(), "").validation(), data.validation()));
    }

    void epochOrderIsADeterministicPermutation() {
        const auto order = shuffledOrder(50, 42, 0);
        QCOMPARE(shuffledOrder(50, 42, 0), order);
        QVERIFY(shuffledOrder(50, 42, 1) != order);
        QVERIFY(shuffledOrder(50, 7, 0) != order);
        std::vector<size_t> sorted = order;
        std::sort(sorted.begin(), sorted.end());
        for (size_t i = 0; i < sorted.size(); ++i)
            QCOMPARE(sorted[i], i);

        const auto data = TrainingDataset::build(configFor(fixture("alpaca.jsonl")), tokenizer(), "");
        QCOMPARE(data.epochOrder(42, 3), shuffledOrder(data.train().size(), 42, 3));
    }

    void cacheHitSkipsTokenizationAndCorruptCacheIsRebuilt() {
        const QString cacheDir = m_dir.filePath("cache");
        TrainConfig config = configFor(fixture("messages.jsonl"));
        const auto built = TrainingDataset::build(config, tokenizer(), cacheDir.toStdString());
        QVERIFY(!built.stats().fromCache);
        const auto cached = TrainingDataset::build(config, tokenizer(), cacheDir.toStdString());
        QVERIFY(cached.stats().fromCache);
        QVERIFY(sameRows(cached.train(), built.train()));
        QCOMPARE(cached.stats().format, std::string("messages"));
        QCOMPARE(cached.stats().chatTemplate, std::string("chatml"));
        QCOMPARE(cached.stats().records, built.stats().records);

        // A setting that changes tokenization misses the cache.
        config.dataset.trainOnPrompt = true;
        QVERIFY(!TrainingDataset::build(config, tokenizer(), cacheDir.toStdString()).stats().fromCache);
        config.dataset.trainOnPrompt = false;

        // Damage every cache file: each is ignored, rebuilt, then hit again.
        const QStringList files = QDir(cacheDir).entryList({"dataset-*.bin"});
        QCOMPARE(files.size(), 2);
        for (const QString &name : files) {
            std::fstream file(QDir(cacheDir).filePath(name).toStdString(),
                              std::ios::in | std::ios::out | std::ios::binary);
            file.seekp(40);
            file.put('\x7f');
        }
        const auto rebuilt = TrainingDataset::build(config, tokenizer(), cacheDir.toStdString());
        QVERIFY(!rebuilt.stats().fromCache);
        QVERIFY(sameRows(rebuilt.train(), built.train()));
        QVERIFY(QString::fromStdString(rebuilt.stats().warnings.back()).contains("damaged"));
        QVERIFY(TrainingDataset::build(config, tokenizer(), cacheDir.toStdString()).stats().fromCache);

        // A truncated file too.
        for (const QString &name : QDir(cacheDir).entryList({"dataset-*.bin"}))
            fs::resize_file(QDir(cacheDir).filePath(name).toStdString(), 30);
        QVERIFY(!TrainingDataset::build(config, tokenizer(), cacheDir.toStdString()).stats().fromCache);
        QVERIFY(QDir(cacheDir).entryList({"*.tmp-*"}).isEmpty());
    }

    void templateRejectionIsABadLine() {
        const std::string path = tempDataset(
            "turns.jsonl",
            R"({"messages": [{"role": "user", "content": "A"}, {"role": "assistant", "content": "B"}]})"
            "\n"
            R"({"messages": [{"role": "user", "content": "A"}, {"role": "user", "content": "B"}, {"role": "assistant", "content": "C"}]})"
            "\n");
        TrainConfig config = configFor(path);
        config.dataset.chatTemplate = "llama2";
        const QString message = errorOf([&] { TrainingDataset::build(config, tokenizer(), ""); });
        QVERIFY2(message.startsWith(QString::fromStdString(path) + ":2: chat template llama2: conversation roles must "
                                                                   "alternate"),
                 qPrintable(message));
        config.dataset.onBadLine = "skip";
        const auto data = TrainingDataset::build(config, tokenizer(), "");
        QCOMPARE(data.train().size(), size_t(1));
        QCOMPARE(data.stats().skipped, int64_t(1));
        QCOMPARE(data.stats().firstSkippedLines, std::vector<int64_t>{2});
    }

    // The model's own Jinja template (Qwen3's, over the byte tokenizer): the text as it renders,
    // with no BOS the template does not write, and each reply trained through the "\n" after
    // <|im_end|>; the reply before the last user turn without its <think> block, as Qwen3 renders it.
    void jinjaTemplateTrainsTheReplySpans() {
        const std::string model = byteModelWith(
            m_dir, "qwen3_bytes",
            {{"bos_token", "<s>"}, {"eos_token", "<|im_end|>"}, {"chat_template", jinjaTemplate("qwen3")}});
        const std::string path = tempDataset(
            "think.jsonl",
            R"({"messages": [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "<think>\nR1\n</think>\n\nA1"}, )"
            R"({"role": "user", "content": "Q2"}, {"role": "assistant", "content": "<think>\nR2\n</think>\n\nA2"}]})"
            "\n");
        const auto bytes = Tokenizer::load(model);
        QCOMPARE(bytes->encode("Hi", true).front(), kBos); // the tokenizer adds BOS, the template does not
        DatasetSettings settings = settingsFor(path);
        const RecordTokenizer recordTokenizer(*bytes, chatTemplateFor(settings, *bytes), false);
        QVERIFY(recordTokenizer.chatTemplate().isJinja());
        QCOMPARE(recordTokenizer.chatTemplate().name(), std::string("qwen3"));
        const auto example = recordTokenizer.tokenize(read(settings)[0]);
        const auto expected = Expected()
                                  .promptTurn("user", "Q1")
                                  .prompt(kImStart)
                                  .prompt("assistant\n")
                                  .reply("A1")
                                  .reply(kImEnd)
                                  .reply("\n")
                                  .promptTurn("user", "Q2")
                                  .prompt(kImStart)
                                  .prompt("assistant\n")
                                  .reply("<think>\nR2\n</think>\n\nA2")
                                  .reply(kImEnd)
                                  .reply("\n");
        QCOMPARE(example.ids, expected.ids());
        QCOMPARE(example.labels, expected.labels());

        // A built-in family named in the configuration still renders as before, BOS first.
        settings.chatTemplate = "qwen3";
        const RecordTokenizer builtIn(*bytes, chatTemplateFor(settings, *bytes), false);
        QVERIFY(!builtIn.chatTemplate().isJinja());
        QCOMPARE(builtIn.tokenize(read(settings)[0]).ids.front(), kBos);
    }

    // Ids and trainable flags of rendered conversations against the reference tokenizer's ids of the
    // same text, with the spans @huggingface/jinja finds (tests/tools/make_chat_span_goldens.mjs).
    void chatIdsAndMasksMatchTheReference() {
        const auto goldens = Json::parse(std::ifstream(dataPath("chat_templates/span_goldens.json")));
        qputenv("SOURCE_DATE_EPOCH", QByteArray::number(goldens.at("source_date_epoch").get<qint64>()));
        std::map<std::string, std::unique_ptr<Tokenizer>> tokenizers;
        int compared = 0;
        for (const auto &c : goldens.at("cases")) {
            if (!c.contains("tokenizer"))
                continue;
            const auto name = c.at("tokenizer").get<std::string>();
            if (!tokenizers.count(name))
                tokenizers[name] = Tokenizer::load(dataPath("tokenizers/" + name));
            Json context = c.at("context"),
                 config = {{"chat_template", jinjaTemplate(c.at("template").get<std::string>())}};
            for (const char *token : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
                if (context.contains(token))
                    config[token] = context.at(token);
                context.erase(token);
            }
            QTemporaryDir folder;
            writeFile(folder.filePath("tokenizer_config.json").toStdString(), config.dump());
            const RecordTokenizer recordTokenizer(*tokenizers[name],
                                                  ChatTemplate::forModel(folder.path().toStdString()), false);
            const TokenizedChat chat = recordTokenizer.tokenizeChat(ChatRequest::fromJson(context));
            const QString label = QString::fromStdString(
                c.at("template").get<std::string>() + "/" + c.at("conversation").get<std::string>() +
                (context.at("add_generation_prompt").get<bool>() ? " +prompt" : ""));
            QVERIFY2(chat.text == c.at("text").get<std::string>(), qPrintable(label));
            QVERIFY2(chat.ids == c.at("ids").get<std::vector<int32_t>>(), qPrintable(label + ": ids"));
            QVERIFY2(chat.trainable == c.at("trainable").get<std::vector<uint8_t>>(),
                     qPrintable(label + ": trainable"));
            ++compared;
        }
        qunsetenv("SOURCE_DATE_EPOCH");
        QVERIFY(compared >= 40);
    }

    // Where the text before an edge tokenizes differently from the whole text (under GPT-2's
    // pattern, as in the demo's tokenizer, "\n\n" that ends a text is one token, and before the
    // reply two), the edge is still found between two tokens: the trained ids decode to the reply.
    void edgesAreFoundWhereTheTextBeforeTokenizesDifferently() {
        const std::string model = tempPath("gpt2_pattern");
        trainByteLevelBpe(std::vector<std::string>(100, "Is it good?\n\nYes it is.\n\n"), 300, {}, model);
        const auto bpe = Tokenizer::load(model);
        QCOMPARE(bpe->encode("\n\n").size(), size_t(1));
        QCOMPARE(bpe->encode("\n\nYes").size(), size_t(3));
        const RecordTokenizer recordTokenizer(*bpe, ChatTemplate::forModel(model), false);
        const TokenizedChat chat = recordTokenizer.tokenizeChat(
            ChatRequest::of({{"user", "Is it good?"}, {"assistant", "Yes it is."}}, false));
        QCOMPARE(chat.ids, bpe->encode(chat.text, false));
        std::vector<int32_t> trained, masked;
        for (size_t i = 0; i < chat.ids.size(); ++i)
            (chat.trainable[i] ? trained : masked).push_back(chat.ids[i]);
        QCOMPARE(bpe->decode(trained), std::string("Yes it is.<|eot_id|>"));
        QCOMPARE(bpe->decode(masked), std::string("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nIs it "
                                                  "good?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"));
    }

    // A conversation the model's template rejects (Gemma 3: roles must alternate) is a bad line
    // that names the dataset line and carries the template's own message.
    void jinjaRejectionNamesTheDatasetLine() {
        const std::string model =
            byteModelWith(m_dir, "gemma3_bytes", {{"bos_token", "<s>"}, {"chat_template", jinjaTemplate("gemma3")}});
        const std::string path = tempDataset(
            "gemma_turns.jsonl",
            R"({"messages": [{"role": "user", "content": "A"}, {"role": "assistant", "content": "B"}]})"
            "\n"
            R"({"messages": [{"role": "user", "content": "A"}, {"role": "user", "content": "B"}, {"role": "assistant", "content": "C"}]})"
            "\n");
        TrainConfig config = configFor(path);
        config.model = model;
        const auto gemma = Tokenizer::load(model);
        const QString message = errorOf([&] { TrainingDataset::build(config, *gemma, ""); });
        QVERIFY2(message.startsWith(QString::fromStdString(path) + ":2: " + QString::fromStdString(model) +
                                    "/tokenizer_config.json: chat_template:"),
                 qPrintable(message));
        QVERIFY2(
            message.contains("raise_exception: Conversation roles must alternate user/assistant/user/assistant/..."),
            qPrintable(message));
        config.dataset.onBadLine = "skip";
        QCOMPARE(TrainingDataset::build(config, *gemma, "").stats().skipped, int64_t(1));
    }

    // The cache is keyed on the template's text: a changed chat_template.jinja is tokenized again.
    void cacheFollowsTheTemplateText() {
        const std::string model = byteModelWith(m_dir, "cached_template", {{"bos_token", "<s>"}});
        writeFile(model + "/chat_template.jinja", "{% for m in messages %}{{ m.content }}|{% endfor %}");
        TrainConfig config = configFor(fixture("messages.jsonl"));
        config.model = model;
        const std::string cacheDir = tempPath("template_cache");
        const auto first = Tokenizer::load(model);
        QVERIFY(!TrainingDataset::build(config, *first, cacheDir).stats().fromCache);
        QVERIFY(TrainingDataset::build(config, *first, cacheDir).stats().fromCache);
        writeFile(model + "/chat_template.jinja", "{% for m in messages %}{{ m.content }}#{% endfor %}");
        const auto second = Tokenizer::load(model);
        const auto rebuilt = TrainingDataset::build(config, *second, cacheDir);
        QVERIFY(!rebuilt.stats().fromCache);
        QCOMPARE(rebuilt.stats().chatTemplate, std::string("custom"));
    }

    void statsCountTokens() {
        const auto data = TrainingDataset::build(configFor(fixture("text.jsonl")), tokenizer(), "");
        // [<s>] Hello world [</s>] and [<s>] Bye [</s>]; the first token of each is not a target.
        QCOMPARE(data.stats().trainTokens, int64_t(13 + 5));
        QCOMPARE(data.stats().trainedTokens, int64_t(12 + 4));
        QCOMPARE(data.stats().format, std::string("text"));
        QCOMPARE(data.stats().chatTemplate, std::string());
        QCOMPARE(data.stats().examples, int64_t(2));
    }
};

QTEST_APPLESS_MAIN(DatasetTest)
#include "dataset_test.moc"
