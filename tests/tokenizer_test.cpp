// Tokenizer tests. Ids and decoded text are compared with goldens made by reference
// implementations (tests/data/tokenizers; tests/tools/make_tokenizer_goldens.* made them):
// transformers.js for the tokenizer.json files of Llama 2, Llama 3 and Qwen3, sentencepiece's
// command-line tools for the small tokenizer.model. Around them: the Tokenizer API (special ids,
// stop ids, lookups), loading errors, thread safety, throughput, and the byte-level BPE trainer.
//
// Built twice (tests/tokenizer.cmake): tokenizer_test links headroom_base only and runs all of it;
// sentencepiece_with_torch_test links LibTorch too and runs the sentencepiece part between LibTorch
// computations, proving the dlopen isolation of the plug-in (docs/architecture.md).
#include "tokenizer/bpe_trainer.h"
#include "headroom/chat_template.h"
#include "headroom/error.h"
#include "headroom/tokenizer.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QtTest/QtTest>

#ifdef HEADROOM_TOKENIZER_TEST_WITH_TORCH
#include <torch/torch.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "build_features.h"
#include "test_files.h"

using namespace headroom;

namespace {

using test::readFile;
using test::testData;

void writeFile(const std::string &path, const std::string &content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
}

// For failure messages: the text with control characters escaped, cut to a readable length.
QString show(const std::string &text) {
    return QString::fromStdString(nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
        .left(120);
}

QString showIds(const std::vector<int32_t> &ids) {
    QStringList parts;
    for (size_t i = 0; i < ids.size() && i < 40; ++i)
        parts << QString::number(ids[i]);
    return "[" + parts.join(",") + (ids.size() > 40 ? ",..." : "") + "]";
}

struct GoldenCase {
    std::string text;
    bool addSpecialTokens = false;
    std::vector<int32_t> ids;
    std::optional<std::string> decoded, decodedSkipSpecial;
};

std::vector<GoldenCase> loadGoldens(const std::string &name) {
    const auto j = nlohmann::json::parse(readFile(testData("tokenizers/" + name + "/goldens.json")));
    std::vector<GoldenCase> cases;
    for (const auto &c : j.at("cases")) {
        GoldenCase g;
        g.text = c.at("text").get<std::string>();
        g.addSpecialTokens = c.at("add_special_tokens").get<bool>();
        g.ids = c.at("ids").get<std::vector<int32_t>>();
        if (c.contains("decoded"))
            g.decoded = c["decoded"].get<std::string>();
        if (c.contains("decoded_skip_special"))
            g.decodedSkipSpecial = c["decoded_skip_special"].get<std::string>();
        cases.push_back(std::move(g));
    }
    return cases;
}

// Every golden text must give exactly the reference ids, and the reference ids must decode to the
// reference text (with and without special tokens). Reports all mismatches, then fails.
void checkGoldens(const Tokenizer &tok, const std::string &name) {
    const auto cases = loadGoldens(name);
    QVERIFY(!cases.empty());
    int idsOk = 0, decodesOk = 0, decodes = 0;
    QStringList failures;
    for (const GoldenCase &c : cases) {
        const auto ids = tok.encode(c.text, c.addSpecialTokens);
        if (ids == c.ids)
            ++idsOk;
        else
            failures << QString("encode(%1, %2): got %3, reference %4")
                            .arg(show(c.text), c.addSpecialTokens ? "true" : "false", showIds(ids), showIds(c.ids));
        const std::pair<const std::optional<std::string> *, bool> expectations[] = {{&c.decoded, false},
                                                                                    {&c.decodedSkipSpecial, true}};
        for (const auto &[expected, skip] : expectations) {
            if (!*expected)
                continue;
            ++decodes;
            const std::string text = tok.decode(c.ids, skip);
            if (text == **expected)
                ++decodesOk;
            else
                failures << QString("decode(%1, skip=%2): got %3, reference %4")
                                .arg(showIds(c.ids), skip ? "true" : "false", show(text), show(**expected));
        }
    }
    qInfo("%s: %d/%d golden texts give the reference ids, %d/%d decodes match", name.c_str(), idsOk, int(cases.size()),
          decodesOk, decodes);
    for (const QString &f : failures)
        qWarning("%s", qPrintable(f));
    QVERIFY2(failures.isEmpty(),
             qPrintable(
                 QString("%1 mismatches with the %2 goldens").arg(failures.size()).arg(QString::fromStdString(name))));
}

template <typename F>
void expectInvalidInput(F &&f, const std::string &mention) {
    try {
        f();
        QFAIL(qPrintable(QString::fromStdString("no error; expected one mentioning " + mention)));
    } catch (const Error &e) {
        QCOMPARE(int(e.kind()), int(ErrorKind::InvalidInput));
        QVERIFY2(std::string(e.what()).find(mention) != std::string::npos,
                 qPrintable(QString::fromStdString(std::string(e.what()) + " (should mention " + mention + ")")));
    }
}

bool pluginBuilt() {
    const char *bin = std::getenv("HEADROOM_BIN_DIR");
    return bin && QFile::exists(QString::fromUtf8(bin) + "/libheadroom_sentencepiece.so");
}

// ~100 KB of English-like text for the BPE trainer: pseudo-words made of syllables, drawn with a
// skewed distribution (frequent short words, a long tail), from a fixed LCG.
std::vector<std::string> demoCorpus() {
    const char *const syllables[] = {"ta",  "ke",   "ri",   "mo", "lu", "sen", "dar", "vi", "no",  "pra",
                                     "the", "ing",  "er",   "an", "qu", "est", "io",  "ul", "com", "pre",
                                     "ly",  "ment", "tion", "ab", "st", "ou",  "gh",  "ch", "wa",  "be"};
    const size_t nSyllables = sizeof syllables / sizeof syllables[0];
    uint64_t state = 12345;
    auto next = [&] {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<size_t>(state >> 33);
    };
    std::vector<std::string> words;
    for (int i = 0; i < 3000; ++i) {
        std::string w;
        for (size_t k = 0, n = 1 + next() % 4; k < n; ++k)
            w += syllables[next() % nSyllables];
        words.push_back(w);
    }
    std::vector<std::string> texts;
    size_t bytes = 0;
    while (bytes < 100 * 1024) {
        std::string sentence;
        const size_t length = 6 + next() % 10;
        for (size_t i = 0; i < length; ++i) {
            // min of two draws: low indices (the "common words") come up far more often
            std::string w = words[std::min(next() % words.size(), next() % words.size())];
            if (i == 0)
                w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
            sentence += (i ? " " : "") + w;
        }
        sentence += next() % 4 == 0 ? "?\n" : (next() % 3 == 0 ? ", " + std::to_string(next() % 1000) + ".\n" : ".\n");
        bytes += sentence.size();
        texts.push_back(std::move(sentence));
    }
    return texts;
}

} // namespace

// ---------------------------------------------------------------------------------------------
class TokenizerTest : public QObject {
    Q_OBJECT

private slots:
    void llama2Goldens() { checkGoldens(*Tokenizer::load(testData("tokenizers/llama2")), "llama2"); }
    void llama3Goldens() { checkGoldens(*Tokenizer::load(testData("tokenizers/llama3")), "llama3"); }
    void qwen3Goldens() { checkGoldens(*Tokenizer::load(testData("tokenizers/qwen3")), "qwen3"); }

    void llama3Api() {
        const auto tok = Tokenizer::load(testData("tokenizers/llama3"));
        QCOMPARE(tok->kind(), std::string("tokenizer.json"));
        QCOMPARE(tok->vocabSize(), 128256);
        QCOMPARE(tok->bosId(), std::optional<int32_t>(128000));
        QCOMPARE(tok->eosId(), std::optional<int32_t>(128001));
        QCOMPARE(tok->tokenId("<|eot_id|>"), std::optional<int32_t>(128009));
        QCOMPARE(tok->tokenId("Hello"), std::optional<int32_t>(9906));
        QCOMPARE(tok->tokenId("not one token"), std::optional<int32_t>());
        QCOMPARE(tok->stopIds(), (std::vector<int32_t>{128001, 128009}));
        QVERIFY(tok->isSpecial(128009));
        QVERIFY(!tok->isSpecial(9906));
        QCOMPARE(tok->idToToken(9906), std::optional<std::string>("Hello"));
        QCOMPARE(tok->idToToken(128009), std::optional<std::string>("<|eot_id|>"));
        QCOMPARE(tok->idToToken(-1), std::optional<std::string>());
        QCOMPARE(ChatTemplate::detect(tok->chatTemplateSource()).name(), std::string("llama3"));
        // ids out of range are skipped, not a crash
        QCOMPARE(tok->decode({9906, 999999, -5}), std::string("Hello"));
    }

    void llama2Api() {
        const auto tok = Tokenizer::load(testData("tokenizers/llama2"));
        QCOMPARE(tok->vocabSize(), 32000);
        QCOMPARE(tok->bosId(), std::optional<int32_t>(1));
        QCOMPARE(tok->eosId(), std::optional<int32_t>(2));
        QCOMPARE(tok->stopIds(), std::vector<int32_t>{2});
        QCOMPARE(tok->encode("Hi", true).front(), 1);
        QVERIFY(tok->isSpecial(0) && tok->isSpecial(1) && tok->isSpecial(2));
        QCOMPARE(tok->chatTemplateSource(), std::string());
        QCOMPARE(ChatTemplate::detect(tok->chatTemplateSource()).name(), std::string("plain"));
    }

    void qwen3Api() {
        const auto tok = Tokenizer::load(testData("tokenizers/qwen3"));
        QCOMPARE(tok->bosId(), std::optional<int32_t>()); // bos_token is null
        QCOMPARE(tok->eosId(), std::optional<int32_t>(151645));
        QCOMPARE(tok->padId(), std::optional<int32_t>(151643));
        QCOMPARE(tok->stopIds(), std::vector<int32_t>{151645});
        QCOMPARE(tok->tokenId("<think>"), std::optional<int32_t>(151667));
        QVERIFY(!tok->isSpecial(151667)); // an added token, but not a special one
        QVERIFY(tok->isSpecial(151644));
        QCOMPARE(tok->encode("Hi", true), tok->encode("Hi", false)); // Qwen adds nothing
        QCOMPARE(ChatTemplate::detect(tok->chatTemplateSource()).name(), std::string("qwen3"));
    }

    // Byte-level tokenizers encode any text; decoding gives it back (Qwen3: text already in NFC).
    void byteLevelRoundTrip() {
        const auto tok = Tokenizer::load(testData("tokenizers/qwen3"));
        const char32_t alphabet[] = {'a',    'Z',    ' ',    ' ',    '\n',   '\t',    '7',
                                     '.',    '\'',   0xE9,   0x4E2D, 0x6587, 0x1F600, 0x1F980,
                                     0x0416, 0x05D0, 0x0627, 0x2603, 0x00A0, 0x3000,  0xFF01};
        uint32_t state = 7;
        for (int round = 0; round < 200; ++round) {
            std::string text;
            const int length = 1 + round % 60;
            for (int i = 0; i < length; ++i) {
                state = state * 1103515245u + 12345u;
                const char32_t cp = alphabet[(state >> 16) % (sizeof alphabet / sizeof alphabet[0])];
                text += QString::fromUcs4(&cp, 1).toStdString();
            }
            QCOMPARE(tok->decode(tok->encode(text)), text);
        }
    }

    // Invalid UTF-8 must not throw; byte-level BPE keeps the bytes, decoding shows U+FFFD.
    void invalidUtf8() {
        const auto tok = Tokenizer::load(testData("tokenizers/llama3"));
        const std::string text = std::string("ok \xFF\xC3 end");
        const auto ids = tok->encode(text);
        QVERIFY(!ids.empty());
        QCOMPARE(tok->decode(ids), std::string("ok \xEF\xBF\xBD\xEF\xBF\xBD end"));
        const auto llama2 = Tokenizer::load(testData("tokenizers/llama2"));
        QCOMPARE(llama2->decode(llama2->encode(text)), std::string("ok \xEF\xBF\xBD\xEF\xBF\xBD end"));
    }

    void concurrentEncodeMatchesSerial() {
        const auto tok = Tokenizer::load(testData("tokenizers/llama3"));
        std::vector<std::string> texts;
        for (const GoldenCase &c : loadGoldens("llama3"))
            texts.push_back(c.text);
        std::vector<std::vector<int32_t>> serial;
        for (const auto &t : texts)
            serial.push_back(tok->encode(t));
        std::vector<int> mismatches(4, 0);
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&, t] {
                for (int round = 0; round < 20; ++round)
                    for (size_t i = 0; i < texts.size(); ++i)
                        if (tok->encode(texts[(i + t * 7) % texts.size()]) != serial[(i + t * 7) % texts.size()])
                            ++mismatches[t];
            });
        for (auto &th : threads)
            th.join();
        QCOMPARE(mismatches, std::vector<int>(4, 0));
    }

    // Not a pass/fail timing: prints the throughput so regressions are visible in the test log.
    void throughput() {
        const auto corpus = demoCorpus();
        std::string text;
        for (const auto &s : corpus)
            text += s;
        for (const char *name : {"llama3", "llama2", "qwen3"}) {
            const auto tok = Tokenizer::load(testData(std::string("tokenizers/") + name));
            const auto start = std::chrono::steady_clock::now();
            size_t tokens = 0;
            for (const auto &s : corpus)
                tokens += tok->encode(s).size();
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            qInfo("%s: %.1f MB/s, %.0f tokens/s (%zu bytes -> %zu tokens, one thread)", name,
                  text.size() / seconds / 1e6, tokens / seconds, text.size(), tokens);
            QVERIFY(tokens > 0);
        }
    }

    void loadErrors() {
        QTemporaryDir dir;
        const std::string root = dir.path().toStdString();
        expectInvalidInput([&] { Tokenizer::load(root + "/missing"); }, root + "/missing: not a folder");
        expectInvalidInput([&] { Tokenizer::load(root); }, "no tokenizer.json or tokenizer.model");

        writeFile(root + "/tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0");
        expectInvalidInput([&] { Tokenizer::load(root); }, root + "/tokenizer.json:1:43: malformed JSON");

        using Json = nlohmann::json;
        const Json tinyModel = {{"type", "BPE"},
                                {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}},
                                {"merges", Json::array({Json::array({"a", "b"})})}};
        auto writeTokenizer = [&](const Json &json) { writeFile(root + "/tokenizer.json", json.dump()); };

        writeTokenizer({{"model", {{"type", "Unigram"}, {"vocab", Json::array()}}}});
        expectInvalidInput([&] { Tokenizer::load(root); }, "\"Unigram\" models are not supported");

        writeTokenizer({{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}}}, {"merges", {"a b"}}}}});
        expectInvalidInput([&] { Tokenizer::load(root); }, "merges[0]");

        writeTokenizer({{"model", tinyModel}, {"normalizer", {{"type", "Precompiled"}}}});
        expectInvalidInput([&] { Tokenizer::load(root); }, "normalizer type \"Precompiled\" is not supported");

        writeTokenizer(
            {{"model", tinyModel},
             {"pre_tokenizer", {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}}}});
        expectInvalidInput([&] { Tokenizer::load(root); }, "does not compile");

        writeTokenizer({{"model", tinyModel},
                        {"added_tokens", Json::array({{{"id", 9}, {"content", "<z>"}, {"special", "yes"}}})}});
        expectInvalidInput([&] { Tokenizer::load(root); }, root + "/tokenizer.json: unexpected content");

        writeTokenizer({{"model", tinyModel}});
        writeFile(root + "/tokenizer_config.json", "{not json");
        expectInvalidInput([&] { Tokenizer::load(root); }, root + "/tokenizer_config.json:1:3: malformed JSON");

        // A minimal valid tokenizer.json loads and works.
        writeFile(root + "/tokenizer_config.json", Json{{"eos_token", "b"}}.dump());
        const auto tok = Tokenizer::load(root);
        QCOMPARE(tok->encode("abab"), (std::vector<int32_t>{2, 2}));
        QCOMPARE(tok->eosId(), std::optional<int32_t>(1));
    }

    // Metaspace pre-tokenizer/decoder (Mistral-style tokenizer.json) and lstrip/rstrip added tokens,
    // which the reference files do not use: expectations worked out by hand from the semantics of
    // Hugging Face `tokenizers`.
    void metaspaceAndStrippedAddedTokens() {
        using Json = nlohmann::json;
        QTemporaryDir dir;
        const std::string root = dir.path().toStdString();
        const std::string m = "\u2581";
        auto make = [&](const Json &preTokenizer, const Json &decoder) {
            const Json tokenizer = {
                {"added_tokens", Json::array({{{"id", 6}, {"content", "<x>"}, {"special", true}, {"rstrip", true}},
                                              {{"id", 7}, {"content", "<y>"}, {"special", true}, {"lstrip", true}}})},
                {"pre_tokenizer", preTokenizer},
                {"decoder", decoder},
                {"model",
                 {{"type", "BPE"},
                  {"unk_token", "<unk>"},
                  {"vocab", {{m, 0}, {"a", 1}, {"b", 2}, {m + "a", 3}, {m + "b", 4}, {"<unk>", 5}}},
                  {"merges", Json::array({Json::array({m, "a"}), Json::array({m, "b"})})}}}};
            writeFile(root + "/tokenizer.json", tokenizer.dump());
            return Tokenizer::load(root);
        };
        const Json firstSplit = {
            {"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "first"}, {"split", true}};
        const Json decoder = {{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "first"}};
        auto tok = make(firstSplit, decoder);
        QCOMPARE(tok->encode("a b"), (std::vector<int32_t>{3, 4})); // "▁a", "▁b"
        QCOMPARE(tok->encode("<x>a b"), (std::vector<int32_t>{6, 1, 4})); // not at the start: no "▁"
        QCOMPARE(tok->encode("<x>   a"), (std::vector<int32_t>{6, 1})); // rstrip takes the spaces
        QCOMPARE(tok->encode("a   <y>"), (std::vector<int32_t>{3, 7})); // lstrip likewise
        QCOMPARE(tok->encode("a c"), (std::vector<int32_t>{3, 0, 5})); // unknown "c"
        QCOMPARE(tok->decode({3, 4}), std::string("a b"));
        QCOMPARE(tok->decode({6, 3, 4}, true), std::string("a b"));

        tok =
            make({{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "always"}, {"split", false}}, decoder);
        QCOMPARE(tok->encode("<x>a b"), (std::vector<int32_t>{6, 3, 4}));
        tok = make({{"type", "Metaspace"}, {"replacement", m}, {"add_prefix_space", false}}, decoder); // legacy form
        QCOMPARE(tok->encode("a b"), (std::vector<int32_t>{1, 4}));
    }

    // Newer transformers keep the template in chat_template.jinja next to the config.
    void chatTemplateFile() {
        QTemporaryDir dir;
        const std::string root = dir.path().toStdString();
        writeFile(root + "/tokenizer.json", readFile(testData("tokenizers/qwen3/tokenizer.json")));
        writeFile(root + "/chat_template.jinja", readFile(testData("tokenizers/chat_templates/qwen2.5.jinja")));
        const auto tok = Tokenizer::load(root);
        QCOMPARE(ChatTemplate::detect(tok->chatTemplateSource()).name(), std::string("qwen2.5"));
    }

    void trainedBpeTokenizer() {
        QTemporaryDir dir;
        const std::string out = dir.path().toStdString() + "/demo";
        const auto corpus = demoCorpus();
        const auto start = std::chrono::steady_clock::now();
        trainByteLevelBpe(corpus, 2048, {"<|pad|>"}, out);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        size_t bytes = 0;
        for (const auto &t : corpus)
            bytes += t.size();
        const auto tok = Tokenizer::load(out);
        qInfo("trained a byte-level BPE of %d tokens on %zu KB in %.2f s", tok->vocabSize(), bytes / 1024, seconds);
        QVERIFY2(seconds < 5.0, "the demo tokenizer must train in well under 5 s");

        QCOMPARE(tok->kind(), std::string("tokenizer.json"));
        QCOMPARE(tok->vocabSize(), 2048);
        const auto bos = tok->tokenId("<|begin_of_text|>");
        QVERIFY(bos && tok->bosId() == bos);
        QCOMPARE(tok->eosId(), tok->tokenId("<|end_of_text|>"));
        QVERIFY(tok->tokenId("<|pad|>").has_value());
        QCOMPARE(tok->padId(), tok->tokenId("<|pad|>"));
        QCOMPARE(tok->stopIds(), (std::vector<int32_t>{*tok->tokenId("<|end_of_text|>"), *tok->tokenId("<|eot_id|>")}));
        QCOMPARE(ChatTemplate::detect(tok->chatTemplateSource()).name(), std::string("llama3"));

        // Text the corpus never had (bytes, scripts, emoji) still round-trips through the byte symbols.
        for (const std::string text :
             {corpus[0] + corpus[1], std::string("Zürich 東京 🦀 \x01\x7f tabs\t\tand\nnewlines  "),
              std::string("<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>")})
            QCOMPARE(tok->decode(tok->encode(text)), text);
        const auto ids = tok->encode("Hello", true);
        QCOMPARE(ids.front(), *bos);
        // The merges compress text like the corpus.
        const std::string sample = corpus[3] + corpus[4] + corpus[5];
        QVERIFY2(tok->encode(sample).size() * 3 < sample.size(), "expected over 3 bytes per token");

        // Deterministic: training again writes the same files.
        const std::string again = dir.path().toStdString() + "/again";
        trainByteLevelBpe(corpus, 2048, {"<|pad|>"}, again);
        QCOMPARE(readFile(again + "/tokenizer.json"), readFile(out + "/tokenizer.json"));
        QCOMPARE(readFile(again + "/tokenizer_config.json"), readFile(out + "/tokenizer_config.json"));

        expectInvalidInput([&] { trainByteLevelBpe(corpus, 200, {}, out); }, "too small");
    }
};

// ---------------------------------------------------------------------------------------------
// The tokenizer.model kind, through the plug-in.
class SentencepieceTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        HEADROOM_REQUIRE_BUILD_FEATURE(pluginBuilt(), kSentencepieceOffOnPurpose,
                                       "The sentencepiece plug-in (libheadroom_sentencepiece.so)",
                                       "HEADROOM_SENTENCEPIECE");
    }

    void goldens() { checkGoldens(*Tokenizer::load(testData("tokenizers/spm")), "spm"); }

    void api() {
        const auto tok = Tokenizer::load(testData("tokenizers/spm"));
        QCOMPARE(tok->kind(), std::string("tokenizer.model"));
        QCOMPARE(tok->vocabSize(), 600);
        QCOMPARE(tok->bosId(), std::optional<int32_t>(1));
        QCOMPARE(tok->eosId(), std::optional<int32_t>(2));
        QCOMPARE(tok->tokenId("<s>"), std::optional<int32_t>(1));
        QCOMPARE(tok->tokenId("<0x41>"), std::optional<int32_t>(3 + 0x41));
        QCOMPARE(tok->tokenId("definitely not a piece"), std::optional<int32_t>());
        QCOMPARE(tok->idToToken(1), std::optional<std::string>("<s>"));
        QVERIFY(tok->isSpecial(0) && tok->isSpecial(1) && tok->isSpecial(2) && !tok->isSpecial(300));
        QCOMPARE(tok->stopIds(), std::vector<int32_t>{2});
        QCOMPARE(ChatTemplate::detect(tok->chatTemplateSource()).name(), std::string("llama2"));
        // Special tokens in text become their ids; decoding writes them back unless skipped.
        const std::string text = "<s>Hello world</s>";
        QCOMPARE(tok->decode(tok->encode(text)), text);
        QCOMPARE(tok->decode(tok->encode(text), true), std::string("Hello world"));
    }

    void corruptModel() {
        QTemporaryDir dir;
        writeFile(dir.path().toStdString() + "/tokenizer.model", "this is not a protobuf");
        expectInvalidInput([&] { Tokenizer::load(dir.path().toStdString()); },
                           dir.path().toStdString() + "/tokenizer.model: not a readable sentencepiece model");
    }
};

#ifdef HEADROOM_TOKENIZER_TEST_WITH_TORCH
// LibTorch is linked and computing before the plug-in is loaded and after it has run.
class SentencepieceWithTorchTest : public QObject {
    Q_OBJECT

    static double torchWork() {
        torch::manual_seed(0);
        const auto a = torch::randn({128, 128});
        return a.matmul(a.t()).trace().item<double>();
    }

private slots:
    void torchThenSentencepieceThenTorch() {
        HEADROOM_REQUIRE_BUILD_FEATURE(pluginBuilt(), kSentencepieceOffOnPurpose,
                                       "The sentencepiece plug-in (libheadroom_sentencepiece.so)",
                                       "HEADROOM_SENTENCEPIECE");
        const double before = torchWork();
        QVERIFY(before > 0);
        checkGoldens(*Tokenizer::load(testData("tokenizers/spm")), "spm");
        QCOMPARE(torchWork(), before);
    }
};

int main(int argc, char **argv) {
    SentencepieceWithTorchTest test;
    return QTest::qExec(&test, argc, argv);
}
#else
// Two test classes in one executable: test functions named on the command line go to the class
// that has them (options go to both).
int runSelected(QObject &test, const QStringList &args) {
    static const QStringList kOptionsWithValue = {"-o",        "-maxwarnings", "-eventdelay",
                                                  "-keydelay", "-mousedelay",  "-seed"};
    QStringList own = {args.value(0)};
    bool anySelected = false, anyMine = false;
    for (int i = 1; i < args.size(); ++i) {
        const QString &arg = args[i];
        if (arg.startsWith('-')) {
            own << arg;
            if (kOptionsWithValue.contains(arg) && i + 1 < args.size())
                own << args[++i];
            continue;
        }
        anySelected = true;
        const QByteArray slot = arg.section(':', 0, 0).toUtf8() + "()";
        if (test.metaObject()->indexOfMethod(slot.constData()) >= 0) {
            own << arg;
            anyMine = true;
        }
    }
    return anySelected && !anyMine ? 0 : QTest::qExec(&test, own);
}

int main(int argc, char **argv) {
    QStringList args;
    for (int i = 0; i < argc; ++i)
        args << QString::fromLocal8Bit(argv[i]);
    TokenizerTest tokenizers;
    SentencepieceTest sentencepiece;
    return runSelected(tokenizers, args) + runSelected(sentencepiece, args);
}
#endif

#include "tokenizer_test.moc"
