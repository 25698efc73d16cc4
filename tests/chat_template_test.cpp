// Chat template tests. The model's own templates: the real Jinja templates of
// tests/data/chat_templates/jinja read from a model folder as transformers reads them and rendered
// against @huggingface/jinja's renderings (goldens.json there), their reply spans against spans
// found with the same renderer (span_goldens.json, tests/tools/make_chat_span_goldens.mjs) and
// against spans derived by hand; where templates are read from, the context they get, errors. The
// built-in families: their renderings of the real templates (tests/data/tokenizers/chat_templates,
// goldens by tests/tools/make_tokenizer_goldens.mjs), detection from template sources, the
// trainable segments, conversations the templates reject.
#include "headroom/chat_template.h"
#include "headroom/error.h"

#include <nlohmann/json.hpp>

#include <QtCore/QDate>
#include <QtCore/QLocale>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
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

using Json = nlohmann::ordered_json;

// A model folder holding only what a chat template needs: tokenizer_config.json and other files.
class ModelFolder {
public:
    explicit ModelFolder(const Json &tokenizerConfig) { write("tokenizer_config.json", tokenizerConfig.dump()); }
    void write(const std::string &name, const std::string &text) const {
        std::ofstream(path() + "/" + name, std::ios::binary) << text;
    }
    std::string path() const { return m_dir.path().toStdString(); }

private:
    QTemporaryDir m_dir;
};

std::string jinjaTemplate(const std::string &name) {
    return readFile(testData("chat_templates/jinja/" + name + ".jinja"));
}

const char *const kSpecialTokens[] = {"bos_token", "eos_token", "unk_token", "pad_token"};

// A golden case's context as a request: everything but the special tokens, which come from the
// model folder's tokenizer_config.json.
ChatRequest requestOf(const Json &context) {
    Json line = context;
    for (const char *token : kSpecialTokens)
        line.erase(token);
    return ChatRequest::fromJson(line);
}

// tokenizer_config.json for a golden case's template: its special tokens as transformers saves
// them, the EOS token as an AddedToken object (older transformers) and the others as strings.
Json tokenizerConfigFor(const std::string &name, const Json &context) {
    Json config = {{"chat_template", jinjaTemplate(name)}};
    for (const char *token : kSpecialTokens)
        if (context.contains(token))
            config[token] = std::string(token) == "eos_token"
                                ? Json{{"__type", "AddedToken"}, {"content", context.at(token)},
                                       {"lstrip", false},        {"normalized", false},
                                       {"rstrip", false},        {"single_word", false}}
                                : context.at(token);
    return config;
}

// Sets SOURCE_DATE_EPOCH for the life of the object (strftime_now reads it).
class SourceDateEpoch {
public:
    explicit SourceDateEpoch(const QByteArray &value) : m_old(qgetenv("SOURCE_DATE_EPOCH")) {
        qputenv("SOURCE_DATE_EPOCH", value);
    }
    ~SourceDateEpoch() {
        if (m_old.isNull())
            qunsetenv("SOURCE_DATE_EPOCH");
        else
            qputenv("SOURCE_DATE_EPOCH", m_old);
    }

private:
    QByteArray m_old;
};

std::string caseLabel(const Json &c) {
    const Json &context = c.at("context");
    std::string extra;
    for (const auto &[key, value] : context.items())
        if (key == "enable_thinking" || key == "date_string" || key == "reasoning_effort" ||
            key == "tools_in_user_message")
            extra += " " + key + "=" + value.dump();
    return c.at("template").get<std::string>() + "/" + c.at("conversation").get<std::string>() +
           (context.at("add_generation_prompt").get<bool>() ? " +prompt" : "") + extra;
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
    // The real templates, read from a model folder's tokenizer_config.json, render as
    // @huggingface/jinja renders them with the context transformers passes.
    void modelTemplatesMatchTheReference() {
        const auto goldens = Json::parse(readFile(testData("chat_templates/jinja/goldens.json")));
        SourceDateEpoch epoch(QByteArray::number(goldens.at("source_date_epoch").get<qint64>()));
        std::map<std::string, std::unique_ptr<ModelFolder>> folders;
        std::map<std::string, ChatTemplate> templates;
        QStringList failures;
        for (const auto &c : goldens.at("cases")) {
            const auto name = c.at("template").get<std::string>();
            if (!folders.count(name)) {
                folders[name] = std::make_unique<ModelFolder>(tokenizerConfigFor(name, c.at("context")));
                templates.emplace(name, ChatTemplate::forModel(folders[name]->path()));
            }
            std::string text, error;
            try {
                text = templates.at(name).renderText(requestOf(c.at("context")));
            } catch (const Error &e) {
                error = e.what();
            }
            const QString label = QString::fromStdString(caseLabel(c));
            if (c.contains("error")) {
                if (error.find("raise_exception: " + c.at("error").get<std::string>()) == std::string::npos)
                    failures << label + ": expected the error " + show(c.at("error").get<std::string>()) + ", got " +
                                    (error.empty() ? show(text) : show(error));
            } else if (!error.empty() || text != c.at("text").get<std::string>()) {
                failures << label + ":\n   rendered " + (error.empty() ? show(text) : show(error)) + "\n   expected " +
                                show(c.at("text").get<std::string>());
            }
        }
        qInfo("%d renderings of %zu model templates compared", int(goldens.at("cases").size()), templates.size());
        QVERIFY2(failures.isEmpty(), qPrintable(failures.mid(0, 3).join("\n")));
        QCOMPARE(templates.size(), size_t(6));
    }

    // Reply spans against the spans found with @huggingface/jinja rendering the same parts.
    void replySpansMatchTheReference() {
        const auto goldens = Json::parse(readFile(testData("chat_templates/span_goldens.json")));
        SourceDateEpoch epoch(QByteArray::number(goldens.at("source_date_epoch").get<qint64>()));
        std::map<std::string, std::unique_ptr<ModelFolder>> folders;
        QStringList failures;
        for (const auto &c : goldens.at("cases")) {
            const auto name = c.at("template").get<std::string>();
            if (!folders.count(name))
                folders[name] = std::make_unique<ModelFolder>(tokenizerConfigFor(name, c.at("context")));
            std::string text;
            std::vector<std::string> replies;
            for (const auto &segment :
                 ChatTemplate::forModel(folders[name]->path()).render(requestOf(c.at("context")))) {
                text += segment.text;
                if (segment.trainable)
                    replies.push_back(segment.text);
            }
            if (text != c.at("text").get<std::string>() || replies != c.at("replies").get<std::vector<std::string>>())
                failures << QString::fromStdString(caseLabel(c)) + ": replies " +
                                QString::fromStdString(nlohmann::json(replies).dump()) + "\n   expected " +
                                QString::fromStdString(c.at("replies").dump());
        }
        QVERIFY2(failures.isEmpty(), qPrintable(failures.mid(0, 3).join("\n")));
        QVERIFY(goldens.at("cases").size() >= 60);
    }

    // Spans worked out by hand from the templates' text: the whole rendering as prompt and replies.
    void handDerivedSpans() {
        SourceDateEpoch epoch("1741996800");
        const auto message = [](const char *role, const char *content) {
            return Json{{"role", role}, {"content", content}};
        };
        const auto segmentsOf = [](const std::string &name, const Json &tokens, const Json &messages) {
            Json config = tokens;
            config["chat_template"] = jinjaTemplate(name);
            ModelFolder folder(config);
            std::vector<std::pair<std::string, bool>> out;
            for (const auto &s :
                 ChatTemplate::forModel(folder.path()).render(ChatRequest::fromJson({{"messages", messages}})))
                out.emplace_back(s.text, s.trainable);
            return out;
        };
        using Segments = std::vector<std::pair<std::string, bool>>;

        // Qwen3: the reply before the last user turn loses its <think> block; the last keeps it.
        // Each span runs to the "\n" after <|im_end|>.
        QCOMPARE(segmentsOf("qwen3", {{"eos_token", "<|im_end|>"}},
                            {message("user", "Q1"), message("assistant", "<think>\nR1\n</think>\n\nA1"),
                             message("user", "Q2"), message("assistant", "<think>\nR2\n</think>\n\nA2")}),
                 (Segments{{"<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n", false},
                           {"A1<|im_end|>\n", true},
                           {"<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n", false},
                           {"<think>\nR2\n</think>\n\nA2<|im_end|>\n", true}}));

        // Gemma 3: the system text opens the first user turn; replies are "model" turns.
        QCOMPARE(segmentsOf("gemma3", {{"bos_token", "<bos>"}},
                            {message("system", "Be brief."), message("user", "Hi"), message("assistant", " Hello. "),
                             message("user", "Bye"), message("assistant", "Bye.")}),
                 (Segments{{"<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n", false},
                           {"Hello.<end_of_turn>\n", true},
                           {"<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n", false},
                           {"Bye.<end_of_turn>\n", true}}));

        // Llama 3.1: the system header with the default date comes first; the reply ends at <|eot_id|>.
        QCOMPARE(segmentsOf("llama3.1", {{"bos_token", "<|begin_of_text|>"}},
                            {message("user", "Hi"), message("assistant", "Hello.")}),
                 (Segments{{"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: "
                            "December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_"
                            "id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
                            false},
                           {"Hello.<|eot_id|>", true}}));

        // Harmony: the generation prompt is "<|start|>assistant", so each span opens with its channel;
        // the earlier reply loses its analysis and ends with <|end|>, the last ends with <|return|>.
        Json first = message("assistant", "Go to Bergen."), last = message("assistant", "For the fjords.");
        first["thinking"] = "Earlier plan.";
        last["thinking"] = "Explain the fjords.";
        const auto harmony = segmentsOf("harmony", Json::object(),
                                        {message("user", "Plan a trip."), first, message("user", "Why?"), last});
        QCOMPARE(harmony.size(), size_t(4));
        QVERIFY(harmony[0].first.find("Current date: 2025-03-15") != std::string::npos);
        QCOMPARE(harmony[1], std::make_pair(std::string("<|channel|>final<|message|>Go to Bergen.<|end|>"), true));
        QCOMPARE(harmony[2],
                 std::make_pair(std::string("<|start|>user<|message|>Why?<|end|><|start|>assistant"), false));
        QCOMPARE(harmony[3],
                 std::make_pair(std::string("<|channel|>analysis<|message|>Explain the fjords.<|end|><|start|>"
                                            "assistant<|channel|>final<|message|>For the fjords.<|return|>"),
                                true));
    }

    // Where removing a reply breaks the template's rules (roles must alternate), a reply the full
    // rendering holds differently ends after its content and the end marker the last reply has.
    void spansOfTemplatesThatCheckRoles() {
        const std::string source =
            "{%- for m in messages -%}"
            "{%- if (m.role == 'user') != (loop.index0 % 2 == 0) -%}{{ raise_exception('Roles must alternate') }}"
            "{%- endif -%}"
            "{%- if m.role == 'user' -%}<u>{{ m.content }}</u>"
            "{%- else -%}<a>{%- if loop.last and m.reasoning is defined -%}<r>{{ m.reasoning }}</r>{%- endif -%}"
            "{{ m.content }}{{ END }}{%- endif -%}"
            "{%- endfor -%}{%- if add_generation_prompt -%}<a>{%- endif -%}";
        Json first = {{"role", "assistant"}, {"content", "A1"}, {"reasoning", "R1"}};
        Json last = {{"role", "assistant"}, {"content", "A2"}, {"reasoning", "R2"}};
        const Json messages = {
            {{"role", "user"}, {"content", "Q1"}}, first, {{"role", "user"}, {"content", "Q2"}}, last};
        const auto replies = [&](const std::string &end) {
            std::string tmpl = source;
            tmpl.replace(tmpl.find("{{ END }}"), 9, end);
            ModelFolder folder(Json{{"chat_template", tmpl}});
            std::vector<std::string> out;
            for (const auto &s :
                 ChatTemplate::forModel(folder.path()).render(ChatRequest::fromJson({{"messages", messages}})))
                if (s.trainable)
                    out.push_back(s.text);
            return out;
        };
        QCOMPARE(replies("</a>"), (std::vector<std::string>{"A1</a>", "<r>R2</r>A2</a>"}));
        // With another end marker for earlier replies the span keeps what the two markers share:
        // a token that straddles the span's edge is trained (dataset.h).
        QCOMPARE(replies("{{ '</last>' if loop.last else '</a>' }}"),
                 (std::vector<std::string>{"A1</", "<r>R2</r>A2</last>"}));

        // A template that refuses the stand-in contents as well leaves the reply unlocated: an error
        // naming the message, not a reply silently left untrained.
        std::string strict = source;
        strict.replace(strict.find("{{ END }}"), 9, "{{ '</last>' if loop.last else '</a>' }}");
        strict = "{%- for m in messages -%}{%- if m.content | length != 2 -%}{{ raise_exception('two letters') }}"
                 "{%- endif -%}{%- endfor -%}" +
                 strict;
        ModelFolder folder(Json{{"chat_template", strict}});
        expectInvalidInput(
            [&] {
                ChatTemplate::forModel(folder.path()).render(ChatRequest::fromJson({{"messages", messages}}));
            },
            "cannot find where the reply of message 2 ends");
    }

    void templateSources() {
        const auto text = [](const ChatTemplate &t, bool tools = false) {
            Json line = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}};
            if (tools)
                line["tools"] = Json::array();
            return t.renderText(ChatRequest::fromJson(line));
        };
        const std::string a = "A{{ messages[0].content }}";
        ModelFolder folder(Json{{"chat_template", a}});
        const auto fromConfig = ChatTemplate::forModel(folder.path());
        QCOMPARE(text(fromConfig), std::string("Ahi"));
        QVERIFY(fromConfig.isJinja());
        QCOMPARE(fromConfig.origin(), std::string("tokenizer_config.json"));
        QCOMPARE(fromConfig.name(), std::string("custom"));
        QCOMPARE(fromConfig.description(),
                 std::string("custom, the model's own Jinja template (tokenizer_config.json)"));
        // chat_template.jinja beside the config wins, as in transformers.
        folder.write("chat_template.jinja", "B{{ messages[0].content }}");
        QCOMPARE(text(ChatTemplate::forModel(folder.path())), std::string("Bhi"));
        QCOMPARE(ChatTemplate::forModel(folder.path()).origin(), std::string("chat_template.jinja"));
        // A processor's chat_template.json counts only when neither has a template.
        folder.write("chat_template.json", Json{{"chat_template", "C"}}.dump());
        QCOMPARE(text(ChatTemplate::forModel(folder.path())), std::string("Bhi"));
        ModelFolder processor(Json::object());
        processor.write("chat_template.json", Json{{"chat_template", "C{{ messages[0].content }}"}}.dump());
        QCOMPARE(text(ChatTemplate::forModel(processor.path())), std::string("Chi"));
        QCOMPARE(ChatTemplate::forModel(processor.path()).origin(), std::string("chat_template.json"));

        // A list of named templates: "default", or "tool_use" when tools are given.
        ModelFolder named(Json{
            {"chat_template", {{{"name", "tool_use"}, {"template", "T"}}, {{"name", "default"}, {"template", "D"}}}}});
        QCOMPARE(text(ChatTemplate::forModel(named.path())), std::string("D"));
        QCOMPARE(text(ChatTemplate::forModel(named.path()), true), std::string("T"));
        ModelFolder noDefault(Json{{"chat_template", {{{"name", "rag"}, {"template", "R"}}}}});
        expectInvalidInput([&] { text(ChatTemplate::forModel(noDefault.path())); }, "('rag') and none named 'default'");

        // No template: the built-in plain format.
        ModelFolder none(Json::object());
        QVERIFY(!ChatTemplate::forModel(none.path()).isJinja());
        QCOMPARE(ChatTemplate::forModel(none.path()).description(), std::string("plain (built-in)"));

        // --template: a .jinja file, or a JSON file's chat_template; special tokens from the model folder.
        ModelFolder tokens(Json{{"eos_token", "</s>"}});
        tokens.write("t.jinja", "{{ messages[0].content }}{{ eos_token }}");
        QCOMPARE(text(ChatTemplate::fromFile(tokens.path() + "/t.jinja", tokens.path())), std::string("hi</s>"));
        QCOMPARE(ChatTemplate::fromFile(tokens.path() + "/t.jinja", tokens.path()).origin(),
                 tokens.path() + "/t.jinja");
        tokens.write("other.json", Json{{"chat_template", "J{{ eos_token }}"}}.dump());
        QCOMPARE(text(ChatTemplate::fromFile(tokens.path() + "/other.json", tokens.path())), std::string("J</s>"));
        expectInvalidInput([&] { ChatTemplate::fromFile(tokens.path() + "/missing.jinja", tokens.path()); },
                           "missing.jinja: cannot read");
    }

    // The context: messages with their keys in order, tools/documents None when absent, the
    // special tokens that are set (AddedToken objects as their content, special_tokens_map.json
    // filling gaps), keyword arguments overriding them.
    void contextAsTransformersPassesIt() {
        ModelFolder folder(
            Json{{"chat_template", "{{ bos_token }}|{{ eos_token }}|{{ unk_token is defined }}|{{ pad_token }}|"
                                   "{{ mask_token }}|{{ additional_special_tokens | join(',') }}|{{ tools }}|"
                                   "{{ documents }}|{{ add_generation_prompt }}|{{ enable_thinking }}|"
                                   "{{ messages[0] | tojson }}"},
                 {"bos_token", {{"content", "<s>"}, {"special", true}}},
                 {"eos_token", "</s>"},
                 {"unk_token", nullptr},
                 {"mask_token", "<mask>"},
                 {"additional_special_tokens", Json::array({"<x>", Json{{"content", "<y>"}}})}});
        folder.write("special_tokens_map.json", Json{{"pad_token", "<pad>"}, {"eos_token", "<other>"}}.dump());
        const auto tmpl = ChatTemplate::forModel(folder.path());
        const Json message = {{"role", "user"}, {"content", "hi"}, {"z", 1}, {"a", {{"y", 2}, {"b", 3}}}};
        QCOMPARE(tmpl.renderText(ChatRequest::fromJson(
                     {{"messages", {message}}, {"add_generation_prompt", true}, {"enable_thinking", false}})),
                 std::string("<s>|</s>|False|<pad>|<mask>|<x>,<y>|None|None|True|False|"
                             "{\"role\": \"user\", \"content\": \"hi\", \"z\": 1, \"a\": {\"y\": 2, \"b\": 3}}"));
        QCOMPARE(tmpl.renderText(ChatRequest::fromJson({{"messages", {message}}, {"bos_token", "X"}})).substr(0, 6),
                 std::string("X|</s>"));
    }

    void requestLines() {
        const auto request = ChatRequest::fromJson(Json::parse(
            R"({"tools": [{"type": "function"}], "messages": [{"role": "user", "content": "hi"}], "enable_thinking": false, "add_generation_prompt": true})"));
        QVERIFY(request.addGenerationPrompt);
        QCOMPARE(request.tools.size(), size_t(1));
        QVERIFY(request.documents.is_null());
        QCOMPARE(request.kwargs.dump(), std::string(R"({"enable_thinking":false})"));
        expectInvalidInput([] { ChatRequest::fromJson(Json::parse(R"({"add_generation_prompt": true})")); },
                           "missing \"messages\"");
        expectInvalidInput([] { ChatRequest::fromJson(Json::parse(R"({"messages": ["hi"]})")); },
                           "\"messages\"[0] must be an object");
        expectInvalidInput(
            [] { ChatRequest::fromJson(Json::parse(R"({"messages": [{}], "add_generation_prompt": 1})")); },
            "\"add_generation_prompt\" must be true or false");
        expectInvalidInput([] { ChatRequest::fromJson(Json::parse(R"({"messages": [{}], "tools": {}})")); },
                           "\"tools\" must be a list");
    }

    // A template outside the interpreter's subset is refused when read, naming file, line, column.
    void unsupportedConstructNamesItsPlace() {
        ModelFolder folder(Json{{"chat_template", "ok"}});
        folder.write("chat_template.jinja", "{{ bos_token }}\n  {% include 'other.jinja' %}");
        expectInvalidInput([&] { ChatTemplate::forModel(folder.path()); }, folder.path() + "/chat_template.jinja:2:");
        ModelFolder inConfig(Json{{"chat_template", "{{ messages | shuffle }}"}});
        expectInvalidInput([&] { ChatTemplate::forModel(inConfig.path()); },
                           inConfig.path() + "/tokenizer_config.json: chat_template:1:");
    }

    void familiesOfModelTemplates() {
        const std::pair<const char *, const char *> expected[] = {{"qwen3", "qwen3"},
                                                                  {"gemma3", "gemma"},
                                                                  {"llama3.1", "llama3.1"},
                                                                  {"deepseek_v3", "deepseek"},
                                                                  {"harmony", "harmony"}};
        for (const auto &[file, family] : expected)
            QCOMPARE(ChatTemplate::familyOf(jinjaTemplate(file)), std::string(family));
        QCOMPARE(ChatTemplate::familyOf("{{ messages }}"), std::string("custom"));
        QCOMPARE(ChatTemplate::familyOf(""), std::string("none"));
    }

    // The dataset cache's key: the template's text, and the date when the template reads the clock.
    void cacheKeys() {
        ModelFolder a(Json{{"chat_template", "A"}}), b(Json{{"chat_template", "B"}}),
            clock(Json{{"chat_template", "{{ strftime_now('%d') }}"}});
        QVERIFY(ChatTemplate::forModel(a.path()).cacheKey() != ChatTemplate::forModel(b.path()).cacheKey());
        QVERIFY(ChatTemplate::fromName("llama3").cacheKey() != ChatTemplate::fromName("chatml").cacheKey());
        const auto keyAt = [&](const char *epoch, const ModelFolder &folder) {
            SourceDateEpoch at(epoch);
            return ChatTemplate::forModel(folder.path()).cacheKey();
        };
        QVERIFY(keyAt("0", clock) != keyAt("86400", clock));
        QCOMPARE(keyAt("0", a), keyAt("86400", a));
    }

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
