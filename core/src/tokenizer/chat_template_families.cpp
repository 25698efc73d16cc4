// The built-in families: hand-written renderers for a folder without a template and for
// dataset.chat_template's names. Each mirrors its real Jinja template line by line (sources in
// tests/data/tokenizers/chat_templates); comments quote the template where the behaviour is not
// obvious.
#include "tokenizer/chat_template_internal.h"

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer_unicode.h"
#include "headroom/error.h"

#include <cstdio>
#include <ctime>

namespace headroom {

namespace {

using Family = ChatTemplate::Family;

// Collects segments, merging neighbours with the same trainable flag.
class SegmentBuilder {
public:
    void prompt(const std::string &text) { add(text, false); }
    void reply(const std::string &text) { add(text, true); }
    std::vector<ChatTemplate::Segment> take() { return std::move(m_segments); }

private:
    void add(const std::string &text, bool trainable) {
        if (text.empty())
            return;
        if (!m_segments.empty() && m_segments.back().trainable == trainable)
            m_segments.back().text += text;
        else
            m_segments.push_back({text, trainable});
    }
    std::vector<ChatTemplate::Segment> m_segments;
};

// Jinja's `trim` filter and str.strip() with no argument.
std::string strip(const std::string &s) { return std::string(unicode::trimWhitespace(s, true, true)); }

[[noreturn]] void rejectConversation(const char *family, const std::string &why) {
    throw invalidInput(std::string("chat template ") + family + ": " + why);
}

// {% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception(...) }}
void requireAlternation(const char *family, const std::vector<ChatMessage> &messages, size_t first) {
    for (size_t i = first; i < messages.size(); ++i)
        if ((messages[i].role == "user") != ((i - first) % 2 == 0))
            rejectConversation(family, "conversation roles must alternate user/assistant/user/assistant/... "
                                       "(message " +
                                           std::to_string(i + 1) + " has role '" + messages[i].role + "')");
}

// One Llama 3 turn: header + trimmed content + <|eot_id|>, the body trainable for the assistant.
void renderLlama3Turn(const ChatMessage &m, SegmentBuilder &out) {
    out.prompt("<|start_header_id|>" + m.role + "<|end_header_id|>\n\n");
    const std::string body = strip(m.content) + "<|eot_id|>";
    if (m.role == "assistant")
        out.reply(body);
    else
        out.prompt(body);
}

// Meta-Llama-3-Instruct. Every message a turn; BOS text before the first.
void renderLlama3(const std::vector<ChatMessage> &messages, bool addGenerationPrompt, SegmentBuilder &out) {
    if (!messages.empty())
        out.prompt("<|begin_of_text|>");
    for (const ChatMessage &m : messages)
        renderLlama3Turn(m, out);
    if (addGenerationPrompt)
        out.prompt("<|start_header_id|>assistant<|end_header_id|>\n\n");
}

// Llama 3.1's {%- set date_string = "26 Jul 2024" %} when the caller passes none.
const char *const kLlama31DefaultDate = "26 Jul 2024";

// The tojson filter on a string, as transformers defines it (json.dumps, ensure_ascii=False):
// quotes, backslashes and control characters escaped, everything else as is.
std::string jsonString(const std::string &s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Llama 3.1 and 3.2 Instruct (without tools): BOS text and a system header that is always there,
// with the knowledge cutoff, the date and the system message (the first message when its role is
// system, trimmed); then every other message as in Llama 3, except "tool"/"ipython" messages:
//   {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
//   {%- if message.content is mapping or message.content is iterable %}{{- message.content | tojson }}
// and a string is iterable, so their content is rendered as a JSON string.
void renderLlama31(const std::vector<ChatMessage> &messages, bool addGenerationPrompt, const std::string &date,
                   SegmentBuilder &out) {
    const bool hasSystem = !messages.empty() && messages[0].role == "system";
    out.prompt("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
               "Cutting Knowledge Date: December 2023\nToday Date: " +
               date + "\n\n" + (hasSystem ? strip(messages[0].content) : std::string()) + "<|eot_id|>");
    for (size_t i = hasSystem ? 1 : 0; i < messages.size(); ++i) {
        const ChatMessage &m = messages[i];
        if (m.role == "tool" || m.role == "ipython")
            out.prompt("<|start_header_id|>ipython<|end_header_id|>\n\n" + jsonString(m.content) + "<|eot_id|>");
        else
            renderLlama3Turn(m, out);
    }
    if (addGenerationPrompt)
        out.prompt("<|start_header_id|>assistant<|end_header_id|>\n\n");
}

// Llama-2-chat. A leading system message goes into the first user turn inside <<SYS>>; each user
// turn is "<s>[INST] ... [/INST]", each reply " ... </s>"; other roles render nothing. The
// template has no generation prompt.
void renderLlama2(const std::vector<ChatMessage> &messages, SegmentBuilder &out) {
    const bool hasSystem = !messages.empty() && messages[0].role == "system";
    const size_t first = hasSystem ? 1 : 0;
    requireAlternation("llama2", messages, first);
    for (size_t i = first; i < messages.size(); ++i) {
        const ChatMessage &m = messages[i];
        std::string content = m.content;
        if (i == first && hasSystem)
            content = "<<SYS>>\n" + messages[0].content + "\n<</SYS>>\n\n" + m.content;
        if (m.role == "user")
            out.prompt("<s>[INST] " + strip(content) + " [/INST]");
        else if (m.role == "assistant")
            out.reply(" " + strip(content) + " </s>");
    }
}

// Mistral-7B-Instruct-v0.1: "<s>" once, "[INST] ... [/INST]" per user turn, the reply straight
// after it ending in "</s>". The real template rejects system messages; here a leading one is put
// before the first user message with a blank line, as the later Mistral templates do.
void renderMistral(const std::vector<ChatMessage> &messages, SegmentBuilder &out) {
    const bool hasSystem = !messages.empty() && messages[0].role == "system";
    const size_t first = hasSystem ? 1 : 0;
    requireAlternation("mistral", messages, first);
    out.prompt("<s>");
    for (size_t i = first; i < messages.size(); ++i) {
        const ChatMessage &m = messages[i];
        if (m.role == "user") {
            const bool withSystem = i == first && hasSystem;
            const std::string system = withSystem ? messages[0].content + "\n\n" : std::string();
            out.prompt("[INST] " + system + m.content + " [/INST]");
        } else if (m.role == "assistant") {
            out.reply(m.content + "</s>");
        } else {
            rejectConversation("mistral", "only user and assistant roles are supported, after an optional first "
                                          "system message (message " +
                                              std::to_string(i + 1) + " has role '" + m.role + "')");
        }
    }
}

void chatMlTurn(const std::string &role, const std::string &content, SegmentBuilder &out) {
    out.prompt("<|im_start|>" + role + "\n");
    if (role == "assistant") {
        out.reply(content + "<|im_end|>");
        out.prompt("\n");
    } else {
        out.prompt(content + "<|im_end|>\n");
    }
}

// Plain ChatML (e.g. OpenHermes): every message the same way, any role.
void renderChatMl(const std::vector<ChatMessage> &messages, bool addGenerationPrompt, SegmentBuilder &out) {
    for (const ChatMessage &m : messages)
        chatMlTurn(m.role, m.content, out);
    if (addGenerationPrompt)
        out.prompt("<|im_start|>assistant\n");
}

// Qwen's "tool" messages: consecutive ones share one user turn of <tool_response> blocks.
void qwenToolTurn(const std::vector<ChatMessage> &messages, size_t i, SegmentBuilder &out) {
    if (i == 0 || messages[i - 1].role != "tool")
        out.prompt("<|im_start|>user");
    out.prompt("\n<tool_response>\n" + messages[i].content + "\n</tool_response>");
    if (i + 1 == messages.size() || messages[i + 1].role != "tool")
        out.prompt("<|im_end|>\n");
}

// Qwen2.5 (without tools): ChatML with a default system message; roles other than system, user,
// assistant and tool render nothing.
void renderQwen25(const std::vector<ChatMessage> &messages, bool addGenerationPrompt, SegmentBuilder &out) {
    const bool hasSystem = !messages.empty() && messages[0].role == "system";
    out.prompt(std::string("<|im_start|>system\n") + (hasSystem ? messages[0].content : detail::kQwen25DefaultSystem) +
               "<|im_end|>\n");
    for (size_t i = 0; i < messages.size(); ++i) {
        const ChatMessage &m = messages[i];
        if (m.role == "user" || (m.role == "system" && i > 0) || m.role == "assistant")
            chatMlTurn(m.role, m.content, out);
        else if (m.role == "tool")
            qwenToolTurn(messages, i, out);
    }
    if (addGenerationPrompt)
        out.prompt("<|im_start|>assistant\n");
}

bool startsWith(const std::string &s, const std::string &prefix) { return s.compare(0, prefix.size(), prefix) == 0; }
bool endsWith(const std::string &s, const std::string &suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Qwen3 (without tools). Assistant turns after the last real user query carry their reasoning in
// <think>...</think>; the last message always does, with an empty block when there is none.
void renderQwen3(const std::vector<ChatMessage> &messages, bool addGenerationPrompt, SegmentBuilder &out) {
    if (!messages.empty() && messages[0].role == "system")
        out.prompt("<|im_start|>system\n" + messages[0].content + "<|im_end|>\n");
    // ns.last_query_index: the last user message that is not a wrapped tool response.
    size_t lastQuery = messages.empty() ? 0 : messages.size() - 1;
    for (size_t i = messages.size(); i-- > 0;) {
        const std::string &c = messages[i].content;
        if (messages[i].role == "user" && !(startsWith(c, "<tool_response>") && endsWith(c, "</tool_response>"))) {
            lastQuery = i;
            break;
        }
    }
    for (size_t i = 0; i < messages.size(); ++i) {
        const ChatMessage &m = messages[i];
        if (m.role == "user" || (m.role == "system" && i > 0)) {
            chatMlTurn(m.role, m.content, out);
        } else if (m.role == "assistant") {
            std::string content = m.content, reasoning;
            const size_t close = m.content.find("</think>");
            if (close != std::string::npos) {
                // content.split('</think>')[-1].lstrip('\n'), and the reasoning is
                // content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n')
                content = std::string(
                    unicode::trimChars(m.content.substr(m.content.rfind("</think>") + 8), "\n", true, false));
                std::string before(unicode::trimChars(m.content.substr(0, close), "\n", false, true));
                const size_t open = before.rfind("<think>");
                reasoning = std::string(unicode::trimChars(open == std::string::npos ? before : before.substr(open + 7),
                                                           "\n", true, false));
            }
            out.prompt("<|im_start|>assistant\n");
            if (i > lastQuery && (i + 1 == messages.size() || !reasoning.empty())) {
                out.reply("<think>\n" + std::string(unicode::trimChars(reasoning, "\n", true, true)) +
                          "\n</think>\n\n" + std::string(unicode::trimChars(content, "\n", true, false)));
            } else {
                out.reply(content);
            }
            out.reply("<|im_end|>");
            out.prompt("\n");
        } else if (m.role == "tool") {
            qwenToolTurn(messages, i, out);
        }
    }
    if (addGenerationPrompt)
        out.prompt("<|im_start|>assistant\n");
}

// No markup: each content followed by a newline; assistant contents are the trainable part.
void renderPlain(const std::vector<ChatMessage> &messages, SegmentBuilder &out) {
    for (const ChatMessage &m : messages) {
        if (m.role == "assistant")
            out.reply(m.content);
        else
            out.prompt(m.content);
        out.prompt("\n");
    }
}

} // namespace

const char *const detail::kQwen25DefaultSystem = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

// Llama 3.2's strftime_now("%d %b %Y"): today's local date, months in English as in the C locale
// Python runs in (not strftime's %b, which follows the process locale Qt sets from the environment).
std::string detail::todayDateString() {
    static const char *const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::time_t now = std::time(nullptr);
    std::tm local{};
#ifdef _WIN32
    localtime_s(&local, &now);
#else
    localtime_r(&now, &local);
#endif
    char text[32];
    std::snprintf(text, sizeof text, "%02d %s %04d", local.tm_mday, kMonths[local.tm_mon % 12], local.tm_year + 1900);
    return text;
}

std::vector<ChatTemplate::Segment> detail::renderFamily(Family family, const std::vector<ChatMessage> &messages,
                                                        bool addGenerationPrompt, const std::string &date) {
    SegmentBuilder out;
    switch (family) {
    case Family::Llama3: renderLlama3(messages, addGenerationPrompt, out); break;
    case Family::Llama31:
        renderLlama31(messages, addGenerationPrompt, date.empty() ? kLlama31DefaultDate : date, out);
        break;
    case Family::Llama32:
        renderLlama31(messages, addGenerationPrompt, date.empty() ? todayDateString() : date, out);
        break;
    case Family::Llama2: renderLlama2(messages, out); break;
    case Family::Mistral: renderMistral(messages, out); break;
    case Family::ChatMl: renderChatMl(messages, addGenerationPrompt, out); break;
    case Family::Qwen25: renderQwen25(messages, addGenerationPrompt, out); break;
    case Family::Qwen3: renderQwen3(messages, addGenerationPrompt, out); break;
    case Family::Plain: renderPlain(messages, out); break;
    case Family::Jinja: break; // ChatTemplate::JinjaTemplates renders these
    }
    return out.take();
}

} // namespace headroom
