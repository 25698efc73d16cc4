// ChatTemplate: the built-in families' names, detection from a Jinja source, the family of a Jinja
// source, and rendering dispatched to a built-in renderer or to the Jinja templates.
#include "tokenizer/chat_template_internal.h"

#include "headroom/error.h"

namespace headroom {

namespace {

using Family = ChatTemplate::Family;

struct FamilyName {
    Family family;
    const char *name;
};
const FamilyName kFamilies[] = {
    {Family::Llama3, "llama3"},  {Family::Llama31, "llama3.1"}, {Family::Llama32, "llama3.2"},
    {Family::Llama2, "llama2"},  {Family::Mistral, "mistral"},  {Family::ChatMl, "chatml"},
    {Family::Qwen25, "qwen2.5"}, {Family::Qwen3, "qwen3"},      {Family::Plain, "plain"}};

// Families with no built-in renderer, named for inspect and the studio by a marker of their format.
const std::pair<const char *, const char *> kOtherFamilies[] = {{"<start_of_turn>", "gemma"},
                                                                {"<\xEF\xBD\x9C"
                                                                 "Assistant\xEF\xBD\x9C>",
                                                                 "deepseek"}, // <｜Assistant｜>
                                                                {"<|channel|>", "harmony"},
                                                                {"<|assistant|>", "phi3"}};

bool contains(const std::string &text, const char *marker) { return text.find(marker) != std::string::npos; }

// The role/content messages a built-in renderer takes, or the reason the request has something else.
std::vector<ChatMessage> plainMessages(const ChatRequest &request, const std::string &family) {
    auto refuse = [&](const std::string &what) {
        return invalidInput("the built-in " + family + " chat format takes messages with a role and a string " +
                            "content only, " + what +
                            "; give the model folder a Jinja template (chat_template.jinja) for more");
    };
    if (!request.tools.is_null())
        throw refuse("not tools");
    std::vector<ChatMessage> messages;
    for (size_t i = 0; i < request.messages.size(); ++i) {
        const auto &m = request.messages[i];
        const auto role = m.find("role"), content = m.find("content");
        if (role == m.end() || !role->is_string() ||
            (content != m.end() && !content->is_string() && !content->is_null()))
            throw refuse("but message " + std::to_string(i + 1) + " is " + m.dump());
        messages.push_back({role->get<std::string>(),
                            content == m.end() || content->is_null() ? std::string() : content->get<std::string>()});
    }
    return messages;
}

} // namespace

ChatTemplate ChatTemplate::fromName(const std::string &name) {
    for (const FamilyName &f : kFamilies)
        if (name == f.name)
            return ChatTemplate(f.family);
    std::string valid;
    for (const std::string &n : names())
        valid += (valid.empty() ? "" : ", ") + n;
    throw invalidInput("chat template '" + name + "' is not known; valid: " + valid);
}

ChatTemplate ChatTemplate::detect(const std::string &source) {
    if (contains(source, "<|start_header_id|>")) {
        // 3.1 (and 3.3): {%- set date_string = "26 Jul 2024" %}; 3.2: strftime_now("%d %b %Y").
        if (contains(source, "Cutting Knowledge Date"))
            return ChatTemplate(contains(source, "strftime_now") ? Family::Llama32 : Family::Llama31);
        return ChatTemplate(Family::Llama3);
    }
    if (contains(source, "<|im_start|>")) {
        if (contains(source, "</think>"))
            return ChatTemplate(Family::Qwen3);
        if (contains(source, detail::kQwen25DefaultSystem))
            return ChatTemplate(Family::Qwen25);
        return ChatTemplate(Family::ChatMl);
    }
    if (contains(source, "<<SYS>>"))
        return ChatTemplate(Family::Llama2);
    if (contains(source, "[INST]"))
        return ChatTemplate(Family::Mistral);
    return ChatTemplate(Family::Plain);
}

std::string ChatTemplate::familyOf(const std::string &source) {
    if (source.empty())
        return "none";
    for (const auto &[marker, family] : kOtherFamilies)
        if (contains(source, marker))
            return family;
    const ChatTemplate builtIn = detect(source);
    return builtIn.family() == Family::Plain ? "custom" : builtIn.name();
}

std::vector<std::string> ChatTemplate::names() {
    std::vector<std::string> out;
    for (const FamilyName &f : kFamilies)
        out.emplace_back(f.name);
    return out;
}

std::string ChatTemplate::name() const {
    if (m_jinja)
        return m_jinja->family;
    for (const FamilyName &f : kFamilies)
        if (f.family == m_family)
            return f.name;
    return "plain";
}

std::string ChatTemplate::origin() const { return m_jinja ? m_jinja->origin : std::string(); }

std::string ChatTemplate::description() const {
    if (!m_jinja)
        return name() + " (built-in)";
    return name() + ", the model's own Jinja template (" + m_jinja->origin + ")";
}

std::string ChatTemplate::cacheKey() const {
    if (!m_jinja) {
        const bool today = m_family == Family::Llama32 && m_dateString.empty();
        return name() + "\n" + (today ? detail::todayDateString() : m_dateString);
    }
    std::string key = "jinja\n" + m_jinja->origin + "\n";
    bool readsClock = false;
    for (const auto &[name, text] : m_jinja->sources) {
        key += name + " " + std::to_string(text.size()) + "\n" + text;
        readsClock = readsClock || contains(text, "strftime_now");
    }
    // A template that writes today's date renders differently tomorrow (SOURCE_DATE_EPOCH pins it).
    if (readsClock)
        key += "\n" + jinja::Template::parse("{{ strftime_now('%Y-%m-%d') }}", "date").render({});
    for (const auto &[name, value] : m_jinja->specialTokens)
        key += "\n" + name + "=" + value.repr();
    return key;
}

std::vector<ChatTemplate::Segment> ChatTemplate::renderBuiltIn(const ChatRequest &request) const {
    std::string date = m_dateString;
    if (const auto kw = request.kwargs.find("date_string"); kw != request.kwargs.end() && kw->is_string())
        date = kw->get<std::string>();
    return detail::renderFamily(m_family, plainMessages(request, name()), request.addGenerationPrompt, date);
}

std::vector<ChatTemplate::Segment> ChatTemplate::render(const ChatRequest &request) const {
    if (!m_jinja)
        return renderBuiltIn(request);
    const auto jinja = m_jinja;
    return detail::replySegments(request, [jinja](const ChatRequest &r) { return jinja->render(r); });
}

std::vector<ChatTemplate::Segment> ChatTemplate::render(const std::vector<ChatMessage> &messages,
                                                        bool addGenerationPrompt) const {
    return render(ChatRequest::of(messages, addGenerationPrompt));
}

std::string ChatTemplate::renderText(const ChatRequest &request) const {
    if (m_jinja)
        return m_jinja->render(request);
    std::string text;
    for (const Segment &s : renderBuiltIn(request))
        text += s.text;
    return text;
}

std::string ChatTemplate::renderText(const std::vector<ChatMessage> &messages, bool addGenerationPrompt) const {
    return renderText(ChatRequest::of(messages, addGenerationPrompt));
}

} // namespace headroom
