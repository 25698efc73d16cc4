// Chat template tests. The expected strings are the real Jinja templates
// (tests/data/tokenizers/chat_templates/*.jinja) rendered by the reference Jinja engine of
// transformers.js (goldens.json there; tests/tools/make_tokenizer_goldens.mjs made it). Around them:
// detection from template sources, the trainable segments, conversations the templates reject.
#include "headroom/chat_template.h"
#include "headroom/error.h"

#include <nlohmann/json.hpp>

#include <QtTest/QtTest>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "test_files.h"

using namespace headroom;

namespace {

using test::readFile;
using test::testData;

QString show(const std::string &text) { return QString::fromStdString(nlohmann::json(text).dump()); }

std::vector<ChatMessage> messagesOf(const nlohmann::json &list)
{
    std::vector<ChatMessage> messages;
    for (const auto &m : list)
        messages.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
    return messages;
}

const std::vector<ChatMessage> kFullTurns = {
    {"system", "You are a helpful assistant."}, {"user", "What is 2+2?"},   {"assistant", "2+2 is 4."},
    {"user", "  And 3+3?\n"},                   {"assistant", "\nIt is 6. "}};

std::vector<std::string> trainableTexts(const std::vector<ChatTemplate::Segment> &segments)
{
    std::vector<std::string> out;
    for (const auto &s : segments)
        if (s.trainable)
            out.push_back(s.text);
    return out;
}

template <typename F>
void expectInvalidInput(F &&f, const std::string &mention)
{
    try {
        f();
        QFAIL("no error");
    } catch (const Error &e) {
        QCOMPARE(int(e.kind()), int(ErrorKind::InvalidInput));
        QVERIFY2(std::string(e.what()).find(mention) != std::string::npos, e.what());
    }
}

} // namespace

class ChatTemplateTest : public QObject {
    Q_OBJECT

private slots:
    void goldens()
    {
        const auto j = nlohmann::json::parse(readFile(testData("tokenizers/chat_templates/goldens.json")));
        int ok = 0, total = 0;
        QStringList failures;
        for (const auto &c : j.at("cases")) {
            ++total;
            const auto name = c.at("template").get<std::string>();
            const auto expected = c.at("text").get<std::string>();
            const auto text = ChatTemplate::fromName(name).renderText(messagesOf(c.at("messages")),
                                                                      c.at("add_generation_prompt").get<bool>());
            if (text == expected)
                ++ok;
            else
                failures << QString("%1/%2 (generation prompt %3):\n  got       %4\n  reference %5")
                                .arg(QString::fromStdString(name), QString::fromStdString(c.at("conversation")),
                                     c.at("add_generation_prompt").get<bool>() ? "on" : "off", show(text),
                                     show(expected));
        }
        qInfo("chat templates: %d/%d reference renderings reproduced", ok, total);
        for (const QString &f : failures)
            qWarning("%s", qPrintable(f));
        QVERIFY(failures.isEmpty());
    }

    void detect_data()
    {
        QTest::addColumn<QString>("source");
        QTest::addColumn<QString>("family");
        for (const char *name : {"llama3", "llama2", "mistral", "chatml", "qwen2.5", "qwen3"})
            QTest::newRow(name) << QString::fromStdString(
                                       testData(std::string("tokenizers/chat_templates/") + name + ".jinja"))
                                << QString(name);
    }
    void detect()
    {
        QFETCH(QString, source);
        QFETCH(QString, family);
        QCOMPARE(QString::fromStdString(ChatTemplate::detect(readFile(source.toStdString())).name()), family);
    }

    void detectFromTokenizerConfigs()
    {
        auto configTemplate = [](const char *name) {
            const auto j = nlohmann::json::parse(readFile(testData(std::string("tokenizers/") + name +
                                                                   "/tokenizer_config.json")));
            return j.value("chat_template", std::string());
        };
        // The older Llama 3 template (generation prompt always on) is the same family.
        QCOMPARE(ChatTemplate::detect(configTemplate("llama3")).name(), std::string("llama3"));
        QCOMPARE(ChatTemplate::detect(configTemplate("qwen3")).name(), std::string("qwen3"));
        QCOMPARE(ChatTemplate::detect(configTemplate("spm")).name(), std::string("llama2"));
        QCOMPARE(ChatTemplate::detect("").name(), std::string("plain"));
        QCOMPARE(ChatTemplate::detect("{{ messages }}").name(), std::string("plain"));
    }

    void names()
    {
        for (const std::string &name : ChatTemplate::names())
            QCOMPARE(ChatTemplate::fromName(name).name(), name);
        expectInvalidInput([] { ChatTemplate::fromName("vicuna"); }, "valid: llama3, llama2, mistral, chatml");
    }

    void trainableSegments()
    {
        const auto trainable = [](const char *name) {
            return trainableTexts(ChatTemplate::fromName(name).render(kFullTurns, false));
        };
        QCOMPARE(trainable("llama3"), (std::vector<std::string>{"2+2 is 4.<|eot_id|>", "It is 6.<|eot_id|>"}));
        QCOMPARE(trainable("llama2"), (std::vector<std::string>{" 2+2 is 4. </s>", " It is 6. </s>"}));
        QCOMPARE(trainable("chatml"), (std::vector<std::string>{"2+2 is 4.<|im_end|>", "\nIt is 6. <|im_end|>"}));
        QCOMPARE(trainable("qwen2.5"), (std::vector<std::string>{"2+2 is 4.<|im_end|>", "\nIt is 6. <|im_end|>"}));
        QCOMPARE(trainable("qwen3"),
                 (std::vector<std::string>{"2+2 is 4.<|im_end|>", "<think>\n\n</think>\n\nIt is 6. <|im_end|>"}));
        QCOMPARE(trainable("plain"), (std::vector<std::string>{"2+2 is 4.", "\nIt is 6. "}));

        const std::vector<ChatMessage> pair = {{"user", "Name a colour."}, {"assistant", "Blue."}};
        QCOMPARE(trainableTexts(ChatTemplate::fromName("mistral").render(pair, false)),
                 std::vector<std::string>{"Blue.</s>"});

        // Segments partition the text and alternate between prompt and reply.
        for (const std::string &name : ChatTemplate::names()) {
            const auto tmpl = ChatTemplate::fromName(name);
            const auto &messages = name == "mistral" ? pair : kFullTurns;
            const auto segments = tmpl.render(messages, true);
            std::string joined;
            for (size_t i = 0; i < segments.size(); ++i) {
                QVERIFY(!segments[i].text.empty());
                if (i > 0)
                    QVERIFY(segments[i].trainable != segments[i - 1].trainable);
                joined += segments[i].text;
            }
            QCOMPARE(joined, tmpl.renderText(messages, true));
            QVERIFY(!segments.back().trainable || name == "llama2" || name == "mistral");
        }
    }

    void mistralSystemMessage()
    {
        // Rejected by the real v0.1 template; Headroom folds it into the first user turn.
        const std::vector<ChatMessage> messages = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}};
        QCOMPARE(ChatTemplate::fromName("mistral").renderText(messages, false),
                 std::string("<s>[INST] Be brief.\n\nHi [/INST]Hello.</s>"));
    }

    void rejectedConversations()
    {
        const std::vector<ChatMessage> twoUsers = {{"user", "a"}, {"user", "b"}};
        expectInvalidInput([&] { ChatTemplate::fromName("llama2").render(twoUsers, false); }, "must alternate");
        expectInvalidInput([&] { ChatTemplate::fromName("mistral").render(twoUsers, false); }, "must alternate");
        const std::vector<ChatMessage> assistantFirst = {{"assistant", "a"}};
        expectInvalidInput([&] { ChatTemplate::fromName("llama2").render(assistantFirst, false); }, "message 1");
        // ChatML-style templates take any order.
        QCOMPARE(ChatTemplate::fromName("chatml").renderText(twoUsers, false),
                 std::string("<|im_start|>user\na<|im_end|>\n<|im_start|>user\nb<|im_end|>\n"));
    }
};

QTEST_APPLESS_MAIN(ChatTemplateTest)
#include "chat_template_test.moc"
