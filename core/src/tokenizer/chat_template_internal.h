// The parts of ChatTemplate (headroom/chat_template.h), each in a file of its own:
//   chat_template.cpp           names, detection, description, dispatch
//   chat_template_families.cpp  the built-in families' hand-written renderers
//   chat_template_jinja.cpp     the model's own template: reading it, its context, rendering
//   chat_template_spans.cpp     reply spans found by rendering prefixes of the conversation
//   chat_request.cpp            ChatRequest
#pragma once

#include "headroom/chat_template.h"
#include "headroom/jinja.h"

#include <functional>
#include <optional>

namespace headroom {

struct ChatTemplate::JinjaTemplates {
    std::string origin; // see ChatTemplate::origin()
    std::vector<std::pair<std::string, std::string>> sources; // (name, text) as read; "default" for a string
    std::optional<jinja::Template> defaultTemplate, toolUse;
    std::vector<std::string> names; // of all templates, for the error when none applies
    std::string family; // ChatTemplate::familyOf() the default template (else the first)
    jinja::Object specialTokens; // bos_token, eos_token... as transformers' special_tokens_map

    // The text apply_chat_template(..., tokenize=False) returns for the request.
    std::string render(const ChatRequest &request) const;
};

namespace detail {

// A built-in family's rendering (Family::Jinja excluded). `date` is the llama3.1/3.2 date line's
// date; empty for their defaults.
std::vector<ChatTemplate::Segment> renderFamily(ChatTemplate::Family family, const std::vector<ChatMessage> &messages,
                                                bool addGenerationPrompt, const std::string &date);

// Qwen2.5's default system message, which also tells its template apart.
extern const char *const kQwen25DefaultSystem;

// Today's local date as strftime("%d %b %Y") with English month names ("07 Dec 2026").
std::string todayDateString();

using RenderText = std::function<std::string(const ChatRequest &)>;
// The request's rendering, with every assistant message's span (chat_template.h) trainable.
std::vector<ChatTemplate::Segment> replySegments(const ChatRequest &request, const RenderText &render);

} // namespace detail

} // namespace headroom
