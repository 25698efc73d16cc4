// Chat templates: how a conversation becomes the one string a chat model was trained on, and which
// parts of that string are the replies to learn.
//
// The model's own template. ChatTemplate::forModel(modelDir) reads the folder's Jinja template as
// transformers reads it: chat_template.jinja beside tokenizer_config.json wins over the config's
// chat_template (a string, or a list of {name, template} of which "default" is used, or "tool_use"
// when the request has tools and the list has one); chat_template.json (a processor's file) is
// read when neither has one. It is rendered by Headroom's Jinja interpreter (headroom/jinja.h) with
// the context apply_chat_template passes: messages, tools (None without), documents (None without),
// add_generation_prompt, the special tokens tokenizer_config.json or special_tokens_map.json set
// (bos_token, eos_token, unk_token, sep_token, pad_token, cls_token, mask_token as strings, an
// AddedToken object as its content, and additional_special_tokens as a list) and the request's
// keyword arguments (enable_thinking, reasoning_effort, date_string...). fromFile() takes a
// template from any file instead (the CLI's --template).
//
// Replies. render() returns the text as segments; trainable segments are the assistant replies. The
// span of an assistant message is what rendering the conversation up to and including it (without
// generation prompt) adds over rendering the conversation before it with the generation prompt:
// the reply, its end-of-turn marker and whatever the template writes after that (the "\n" after
// <|im_end|>), as TRL and axolotl find it. Where the full rendering holds a reply differently
// (Qwen3 drops the <think> block of replies before the last user turn; gpt-oss-style templates end
// them with <|end|> instead of <|return|>), the span is that reply as the full rendering holds it:
// from where the generation prompt ends to where the conversation rendered without that message
// goes on (chat_template_spans.cpp says how, and what it falls back to).
//
// Built-in families, the fallback for a folder without any template and what dataset.chat_template
// names: hand-written renderers that reproduce real templates byte for byte (checked against
// goldens in tests/data/tokenizers/chat_templates), with their own trainable segments:
//   llama3   Meta-Llama-3-Instruct: "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n
//            ...<|eot_id|>", content trimmed
//   llama3.1 Llama-3.1-Instruct (and 3.3): as llama3, but a system header always comes first:
//            "Cutting Knowledge Date: December 2023\nToday Date: <date>\n\n" + the system message;
//            "tool"/"ipython" messages under an "ipython" header, content as a JSON string
//   llama3.2 Llama-3.2-Instruct: as llama3.1 with today's date instead of 3.1's fixed one
//   llama2   Llama-2-chat: "<s>[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] ... </s>"
//   mistral  Mistral-7B-Instruct-v0.1: "<s>[INST] ... [/INST]...</s>"; a leading system message
//            (which the real template rejects) is put before the first user message + "\n\n"
//   chatml   "<|im_start|>role\n...<|im_end|>\n", no default system message
//   qwen2.5  ChatML plus Qwen2.5's default system message when the conversation has none
//   qwen3    Qwen3's ChatML: the last assistant turn carries a "<think>...</think>" block
//   plain    no markup: the contents, each followed by "\n" (a folder without a template)
// They take role/content messages only (no tools).
//
// Usage:
//   auto tmpl = ChatTemplate::forModel(tokenizer->modelDir());
//   for (const auto &seg : tmpl.render(ChatRequest::of(messages, /*addGenerationPrompt=*/false))) ...
// A conversation the template rejects (raise_exception, roles that do not alternate), or one it
// cannot render, throws headroom::Error (InvalidInput) with the template's message; a template with
// a construct outside the interpreter's subset is refused when read, naming its line and column. A
// ChatTemplate does not change once made and may render on several threads at once.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace headroom {

struct ChatMessage {
    std::string role; // "system", "user", "assistant", ...
    std::string content;
};

// What apply_chat_template takes besides the template. Messages and tools keep their keys in the
// order given (ordered_json), as Python's dicts do, because tojson prints them in that order.
struct ChatRequest {
    nlohmann::ordered_json messages = nlohmann::ordered_json::array(); // [{role, content, ...}]
    nlohmann::ordered_json tools; // null: the template sees None
    nlohmann::ordered_json documents; // null: None
    bool addGenerationPrompt = false;
    nlohmann::ordered_json kwargs = nlohmann::ordered_json::object(); // enable_thinking, date_string...

    static ChatRequest of(const std::vector<ChatMessage> &messages, bool addGenerationPrompt);
    // One line of `tokenize --chat`: {"messages": [...], "add_generation_prompt": bool, "tools": [...],
    // "documents": [...]}, every other key a keyword argument ("enable_thinking": false). Throws
    // invalidInput naming the field that is missing or of the wrong type.
    static ChatRequest fromJson(const nlohmann::ordered_json &line);
};

class ChatTemplate {
public:
    struct Segment {
        std::string text;
        bool trainable = false;
    };
    enum class Family { Llama3, Llama31, Llama32, Llama2, Mistral, ChatMl, Qwen25, Qwen3, Plain, Jinja };

    // The folder's own template (see above), or the built-in "plain" when it has none. Throws
    // invalidInput for a template the interpreter refuses (naming the file, line and column).
    static ChatTemplate forModel(const std::string &modelDir);
    // A Jinja template read from `path`, with the special tokens of modelDir's tokenizer config.
    static ChatTemplate fromFile(const std::string &path, const std::string &modelDir);
    // A built-in family: "llama3", "llama3.1", "llama3.2", "llama2", "mistral", "chatml", "qwen2.5",
    // "qwen3", "plain"; others throw invalidInput listing these.
    static ChatTemplate fromName(const std::string &name);
    // The built-in family closest to a Jinja source, by its markers; "plain" when none match.
    // Llama 3 headers with "Cutting Knowledge Date" are llama3.2 when the template reads the date
    // from strftime_now, else llama3.1.
    static ChatTemplate detect(const std::string &chatTemplateSource);
    static std::vector<std::string> names();
    // The family a Jinja source belongs to, by its markers: a built-in family's name, or "gemma",
    // "deepseek", "harmony", "phi3"; "custom" when no marker is known ("none" for an empty source).
    static std::string familyOf(const std::string &chatTemplateSource);

    // The family: the built-in's name, or familyOf() the Jinja source.
    std::string name() const;
    Family family() const { return m_family; }
    bool isJinja() const { return m_family == Family::Jinja; }
    // Where a Jinja template came from: "tokenizer_config.json", "chat_template.jinja",
    // "chat_template.json" or the path given to fromFile(); "" for a built-in family.
    std::string origin() const;
    // For people: "qwen3, the model's own Jinja template (tokenizer_config.json)", "plain (built-in)".
    std::string description() const;
    // What decides the rendering, for cache keys: the family, the origin and the template text(s),
    // plus today's date as strftime_now gives it when the template reads the clock.
    std::string cacheKey() const;

    // Adjacent segments never share the same trainable flag; empty segments are left out.
    std::vector<Segment> render(const ChatRequest &request) const;
    std::vector<Segment> render(const std::vector<ChatMessage> &messages, bool addGenerationPrompt) const;
    std::string renderText(const ChatRequest &request) const;
    std::string renderText(const std::vector<ChatMessage> &messages, bool addGenerationPrompt) const;

    // The date in the llama3.1/llama3.2 built-ins' system header ("Today Date: ..."). Empty (the
    // default): the real templates' default, "26 Jul 2024" for 3.1 and for 3.2 today's local date
    // formatted as strftime("%d %b %Y") with English month names ("07 Dec 2026"), read at each
    // render() as transformers does when it renders training data. Set: used as given by both, like
    // apply_chat_template(..., date_string=...); tests set it to pin the output. Other families and
    // Jinja templates ignore it (a Jinja template takes date_string from ChatRequest::kwargs).
    void setDateString(std::string date) { m_dateString = std::move(date); }
    const std::string &dateString() const { return m_dateString; }

    struct JinjaTemplates; // the parsed templates and their context (chat_template_jinja.cpp)

private:
    explicit ChatTemplate(Family family) : m_family(family) {}
    std::vector<Segment> renderBuiltIn(const ChatRequest &request) const;

    Family m_family;
    std::string m_dateString;
    std::shared_ptr<const JinjaTemplates> m_jinja; // set for Family::Jinja
};

} // namespace headroom
