// Chat templates: how a conversation becomes the one string a chat model was trained on.
//
// Hugging Face stores a Jinja template in tokenizer_config.json. Headroom does not run Jinja:
// it recognises the template family by its markers (ChatTemplate::detect) and renders that family
// in C++, reproducing the real templates' output byte for byte (checked against goldens rendered
// by the reference Jinja engine, tests/data/tokenizers/chat_templates). Families:
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
//   plain    no markup: the contents, each followed by "\n"
//
// render() returns the text as segments; trainable segments are what the model should learn to
// produce (assistant replies including their end-of-turn marker), the rest is prompt to be masked
// out of the loss. renderText() is the joined string. Usage:
//   auto tmpl = ChatTemplate::detect(tokenizer->chatTemplateSource());
//   for (const auto &seg : tmpl.render(messages, /*addGenerationPrompt=*/false)) ...
// A conversation the real template rejects (llama2/mistral roles that do not alternate) throws
// headroom::Error (InvalidInput). Tool definitions (the templates' `tools`/`builtin_tools`
// variables) are not supported: renderings are those of a conversation without them.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace headroom {

struct ChatMessage {
    std::string role; // "system", "user", "assistant" (qwen: also "tool")
    std::string content;
};

class ChatTemplate {
public:
    struct Segment {
        std::string text;
        bool trainable = false;
    };

    // "llama3", "llama3.1", "llama3.2", "llama2", "mistral", "chatml", "qwen2.5", "qwen3", "plain";
    // others throw invalidInput listing these.
    static ChatTemplate fromName(const std::string &name);
    // The family of a tokenizer_config.json chat_template, by its markers; "plain" when none match.
    // Llama 3 headers with "Cutting Knowledge Date" are llama3.2 when the template reads the date
    // from strftime_now, else llama3.1.
    static ChatTemplate detect(const std::string &chatTemplateSource);
    static std::vector<std::string> names();

    std::string name() const;
    // Adjacent segments never share the same trainable flag; empty segments are left out.
    std::vector<Segment> render(const std::vector<ChatMessage> &messages, bool addGenerationPrompt) const;
    std::string renderText(const std::vector<ChatMessage> &messages, bool addGenerationPrompt) const;

    // The date in the llama3.1/llama3.2 system header ("Today Date: ..."). Empty (the default): the
    // real templates' default, "26 Jul 2024" for 3.1 and for 3.2 today's local date formatted as
    // strftime("%d %b %Y") with English month names ("07 Dec 2026"), read at each render() as
    // transformers does when it renders training data. Set: used as given by both, like
    // apply_chat_template(..., date_string=...); tests set it to pin the output. Other families
    // ignore it.
    void setDateString(std::string date) { m_dateString = std::move(date); }
    const std::string &dateString() const { return m_dateString; }

    enum class Family { Llama3, Llama31, Llama32, Llama2, Mistral, ChatMl, Qwen25, Qwen3, Plain };
    Family family() const { return m_family; }

private:
    explicit ChatTemplate(Family family) : m_family(family) {}
    Family m_family;
    std::string m_dateString;
};

} // namespace headroom
