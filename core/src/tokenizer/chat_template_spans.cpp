// Reply spans of a Jinja template's rendering, found by rendering parts of the conversation, as
// TRL and axolotl find them (chat_template.h says what a span holds). For assistant message i:
//   before = the messages before i, with the generation prompt
//   upTo   = the messages up to and including i, without it
// The span starts where `before` and `upTo` part and, when the full rendering begins with `upTo`
// (the usual case), ends where `upTo` ends. Otherwise the full rendering holds the reply differently
// (Qwen3 drops the <think> block of replies before the last user turn; gpt-oss-style templates end
// them with <|end|> instead of <|return|>), and the span is that reply as the full rendering holds
// it: from where the full rendering and `before` part, to where the rest of the conversation,
// rendered without message i, resumes. When removing the message changes how the rest renders
// (a template that insists on alternating roles), the span ends after the reply's content (located
// by rendering it with two stand-in contents) and as much of the last reply's end marker as the
// full rendering has there; a template that refuses those renderings too is an error naming the
// message, rather than a reply left untrained without a word.
#include "tokenizer/chat_template_internal.h"

#include "headroom/error.h"

#include <algorithm>

namespace headroom::detail {

namespace {

using Span = std::pair<size_t, size_t>;

size_t commonPrefix(const std::string &a, size_t aFrom, const std::string &b, size_t bFrom) {
    size_t n = 0;
    while (aFrom + n < a.size() && bFrom + n < b.size() && a[aFrom + n] == b[bFrom + n])
        ++n;
    return n;
}

size_t commonSuffix(const std::string &a, const std::string &b) {
    size_t n = 0;
    while (n < a.size() && n < b.size() && a[a.size() - 1 - n] == b[b.size() - 1 - n])
        ++n;
    return n;
}

bool startsWith(const std::string &text, const std::string &prefix) {
    return text.size() >= prefix.size() && text.compare(0, prefix.size(), prefix) == 0;
}

ChatRequest firstMessages(const ChatRequest &request, size_t count, bool addGenerationPrompt) {
    ChatRequest part = request;
    part.messages = nlohmann::ordered_json(request.messages.begin(), request.messages.begin() + long(count));
    part.addGenerationPrompt = addGenerationPrompt;
    return part;
}

// A rendering the span search needs; a template that rejects it leaves the span unknown.
std::optional<std::string> tryRender(const RenderText &render, const ChatRequest &request) {
    try {
        return render(request);
    } catch (const Error &e) {
        if (e.kind() != ErrorKind::InvalidInput)
            throw;
        return std::nullopt;
    }
}

// A rendering without which the span cannot start: its error says which part could not be rendered.
std::string mustRender(const RenderText &render, const ChatRequest &request, const std::string &what) {
    try {
        return render(request);
    } catch (const Error &e) {
        if (e.kind() != ErrorKind::InvalidInput)
            throw;
        throw invalidInput("to find where a reply starts, the chat template renders " + what +
                           ", and it refused: " + e.what());
    }
}

// Where the conversation without message i goes on in `full`, if removing the message leaves the
// rest as it was: full = prefix + reply + rest, and the rendering without it = prefix + rest.
std::optional<size_t> endWhereTheRestResumes(const ChatRequest &request, const std::string &full, size_t i, size_t from,
                                             const RenderText &render) {
    ChatRequest without = request;
    without.messages.erase(without.messages.begin() + long(i));
    const auto rest = tryRender(render, without);
    const auto prefix = tryRender(render, firstMessages(request, i, false));
    if (!rest || !prefix || full.size() < rest->size())
        return std::nullopt;
    const size_t cut = prefix->size(), end = cut + (full.size() - rest->size());
    if (cut > from || end < from || !startsWith(full, *prefix) || !startsWith(*rest, *prefix) ||
        full.compare(end, std::string::npos, *rest, cut, std::string::npos) != 0)
        return std::nullopt;
    return end;
}

// Where message i's content ends in `text`, the rendering of `request`: the message rendered with
// two stand-in contents that differ in their first and last characters gives two texts that agree
// from where the content ends on, if the template writes the content where it writes the real one.
std::optional<size_t> contentEnd(const ChatRequest &request, size_t i, const std::string &text,
                                 const RenderText &render) {
    ChatRequest a = request, b = request;
    a.messages[i]["content"] = "aHeadroomReplya";
    b.messages[i]["content"] = "bHeadroomReplyb";
    const auto textA = tryRender(render, a), textB = tryRender(render, b);
    if (!textA || !textB)
        return std::nullopt;
    const size_t after = commonSuffix(*textA, *textB);
    if (after > text.size() || text.compare(text.size() - after, after, *textA, textA->size() - after, after) != 0)
        return std::nullopt;
    return text.size() - after;
}

Span replySpan(const ChatRequest &request, const std::string &full, size_t i, const RenderText &render) {
    const std::string number = std::to_string(i + 1);
    const std::string before = mustRender(render, firstMessages(request, i, true),
                                          "the messages before message " + number + " with the generation prompt");
    const ChatRequest upToRequest = firstMessages(request, i + 1, false);
    const std::string upTo = mustRender(render, upToRequest, "the messages up to message " + number);
    const size_t start = commonPrefix(before, 0, upTo, 0);
    if (startsWith(full, upTo))
        return {start, upTo.size()};

    const size_t from = std::min(start, commonPrefix(full, 0, before, 0));
    if (const auto end = endWhereTheRestResumes(request, full, i, from, render))
        return {from, *end};
    const auto inFull = contentEnd(request, i, full, render);
    const auto inUpTo = contentEnd(upToRequest, i, upTo, render);
    if (!inFull || !inUpTo || *inFull < from)
        throw invalidInput("cannot find where the reply of message " + number +
                           " ends in the rendering of the whole conversation: the chat template renders it "
                           "differently once later messages follow, and neither the conversation rendered without "
                           "it nor stand-in contents for it show where it ends");
    return {from, *inFull + commonPrefix(upTo, *inUpTo, full, *inFull)};
}

} // namespace

std::vector<ChatTemplate::Segment> replySegments(const ChatRequest &request, const RenderText &render) {
    const std::string full = render(request);
    std::vector<ChatTemplate::Segment> segments;
    size_t done = 0;
    auto add = [&](size_t end, bool trainable) {
        if (end <= done)
            return;
        if (!segments.empty() && segments.back().trainable == trainable)
            segments.back().text.append(full, done, end - done);
        else
            segments.push_back({full.substr(done, end - done), trainable});
        done = end;
    };
    for (size_t i = 0; i < request.messages.size(); ++i) {
        const auto role = request.messages[i].find("role");
        if (role == request.messages[i].end() || *role != "assistant")
            continue;
        const auto [start, end] = replySpan(request, full, i, render);
        add(std::min(start, full.size()), false);
        add(std::min(end, full.size()), true);
    }
    add(full.size(), false);
    return segments;
}

} // namespace headroom::detail
