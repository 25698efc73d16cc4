// Chat template tests. The expected strings are the real Jinja templates
// (tests/data/tokenizers/chat_templates/*.jinja) rendered by the reference Jinja engine of
// transformers.js (goldens.json there; tests/tools/make_tokenizer_goldens.mjs made it). Around them:
// detection from template sources, the trainable segments, conversations the templates reject.
#include "headroom/chat_template.h"
#include "headroom/error.h"

#include <nlohmann/json.hpp>

#include <QtCore/QDate>
#include <QtCore/QLocale>
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

std::vector<ChatMessage> messagesOf(const nlohmann::json &list) {
    std::vector<ChatMessage> messages;
    for (const auto &m : list)
        messages.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
    return messages;
}

const std::vector<ChatMessage> kFullTurns = {{"system", "You are a helpful assistant."},
                                             {"user", "What is 2+2?"},
                                             {"assistant", "2+2 is 4."},
                                             {"user", "  And 3+3?\n"},
                                             {"assistant", "\nIt is 6. "}};

std::vector<std::string> trainableTexts(const std::vector<ChatTemplate::Segment> &segments) {
    std::vector<std::string> out;
    for (const auto &s : segments)
        if (s.trainable)
            out.push_back(s.text);
    return out;
}

template <typename F>
void expectInvalidInput(F &&f, const std::string &mention) {
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
    void goldens() {
        const auto j = nlohmann::json::parse(readFile(testData("tokenizers/chat_templates/goldens.json")));
        int ok = 0, total = 0;
        QStringList failures;
        for (const auto &c : j.at("cases")) {
            ++total;
            const auto name = c.at("template").get<std::string>();
            const auto expected = c.at("text").get<std::string>();
            auto tmpl = ChatTemplate::fromName(name);
            // Llama 3.2's goldens pass a fixed date_string (its default is today's date).
            tmpl.setDateString(c.value("date_string", std::string()));
            const auto text = tmpl.renderText(messagesOf(c.at("messages")), c.at("add_generation_prompt").get<bool>());
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

    void detect_data() {
        QTest::addColumn<QString>("source");
        QTest::addColumn<QString>("family");
        // llama3.jinja (3.0, no date header) must stay llama3 next to the 3.1/3.2 sources.
        for (const char *name : {"llama3", "llama3.1", "llama3.2", "llama2", "mistral", "chatml", "qwen2.5", "qwen3"})
            QTest::newRow(name) << QString::fromStdString(
                                       testData(std::string("tokenizers/chat_templates/") + name + ".jinja"))
                                << QString(name);
    }
    void detect() {
        QFETCH(QString, source);
        QFETCH(QString, family);
        QCOMPARE(QString::fromStdString(ChatTemplate::detect(readFile(source.toStdString())).name()), family);
    }

    void detectFromTokenizerConfigs() {
        auto configTemplate = [](const char *name) {
            const auto j =
                nlohmann::json::parse(readFile(testData(std::string("tokenizers/") + name + "/tokenizer_config.json")));
            return j.value("chat_template", std::string());
        };
        // The older Llama 3 template (generation prompt always on) is the same family.
        QCOMPARE(ChatTemplate::detect(configTemplate("llama3")).name(), std::string("llama3"));
        QCOMPARE(ChatTemplate::detect(configTemplate("qwen3")).name(), std::string("qwen3"));
        QCOMPARE(ChatTemplate::detect(configTemplate("spm")).name(), std::string("llama2"));
        // Only the markers decide: a Llama 3 template with the date header but without strftime_now
        // is 3.1 whatever its default date; with strftime_now it is 3.2.
        const std::string header = "{{ '<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
                                   "December 2023\n' }}";
        QCOMPARE(ChatTemplate::detect(header).name(), std::string("llama3.1"));
        QCOMPARE(ChatTemplate::detect(header + "{% set date_string = strftime_now('%d %b %Y') %}").name(),
                 std::string("llama3.2"));
        QCOMPARE(ChatTemplate::detect("").name(), std::string("plain"));
        QCOMPARE(ChatTemplate::detect("{{ messages }}").name(), std::string("plain"));
    }

    void names() {
        for (const std::string &name : ChatTemplate::names())
            QCOMPARE(ChatTemplate::fromName(name).name(), name);
        expectInvalidInput([] { ChatTemplate::fromName("vicuna"); },
                           "valid: llama3, llama3.1, llama3.2, llama2, mistral, chatml");
    }

    void trainableSegments() {
        const auto trainable = [](const char *name) {
            return trainableTexts(ChatTemplate::fromName(name).render(kFullTurns, false));
        };
        for (const char *llama : {"llama3", "llama3.1", "llama3.2"})
            QCOMPARE(trainable(llama), (std::vector<std::string>{"2+2 is 4.<|eot_id|>", "It is 6.<|eot_id|>"}));
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

    void llamaDates() {
        const std::vector<ChatMessage> hi = {{"user", "Hi"}};
        const auto header = [](const std::string &date) {
            return "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December "
                   "2023\nToday Date: " +
                   date + "\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
        };
        auto llama31 = ChatTemplate::fromName("llama3.1");
        QCOMPARE(llama31.renderText(hi, false), header("26 Jul 2024"));
        llama31.setDateString("01 Feb 2025");
        QCOMPARE(llama31.renderText(hi, false), header("01 Feb 2025"));

        // 3.2 without a date: strftime_now("%d %b %Y"), today's local date with English months.
        auto llama32 = ChatTemplate::fromName("llama3.2");
        QCOMPARE(llama32.dateString(), std::string());
        const auto today = [] {
            return QLocale::c().toString(QDate::currentDate(), QStringLiteral("dd MMM yyyy")).toStdString();
        };
        const std::string before = today();
        const std::string text = llama32.renderText(hi, false);
        const std::string after = today(); // the test may run across midnight
        QVERIFY2(text == header(before) || text == header(after), qPrintable(show(text)));
        llama32.setDateString("15 Mar 2025");
        QCOMPARE(llama32.renderText(hi, false), header("15 Mar 2025"));
        llama32.setDateString("");
        QVERIFY(llama32.renderText(hi, false) == header(before) || llama32.renderText(hi, false) == header(after));

        // The date belongs to Llama 3.1/3.2 only.
        auto llama3 = ChatTemplate::fromName("llama3");
        llama3.setDateString("15 Mar 2025");
        QCOMPARE(llama3.renderText(hi, false),
                 std::string("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"));
    }

    void mistralSystemMessage() {
        // Rejected by the real v0.1 template; Headroom folds it into the first user turn.
        const std::vector<ChatMessage> messages = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}};
        QCOMPARE(ChatTemplate::fromName("mistral").renderText(messages, false),
                 std::string("<s>[INST] Be brief.\n\nHi [/INST]Hello.</s>"));
    }

    void rejectedConversations() {
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
