// Segment edges in the ids of the whole text. Usually tokenizing each segment on its own gives the
// same ids (the edges fall between pre-tokenizer words or at special tokens), and then the segments
// tell where each edge is. Otherwise each edge is found on its own (edgeToken).
#include "data/chat_tokens.h"

#include "headroom/tokenizer.h"

#include <algorithm>
#include <optional>

namespace headroom::detail {

namespace {

// The token index where each segment starts, from the segments tokenized one by one, or nothing
// when their ids differ from the whole text's.
std::optional<std::vector<size_t>> startsFromSegments(const Tokenizer &tokenizer,
                                                      const std::vector<ChatTemplate::Segment> &segments,
                                                      const std::vector<int32_t> &ids) {
    std::vector<size_t> starts;
    size_t at = 0;
    for (const auto &segment : segments) {
        starts.push_back(at);
        for (int32_t id : tokenizer.encode(segment.text, false)) {
            if (at >= ids.size() || ids[at] != id)
                return std::nullopt;
            ++at;
        }
    }
    if (at != ids.size())
        return std::nullopt;
    return starts;
}

// The token of `ids` (the whole text's) where the text after char `edge` starts. The text before
// the edge tokenizes to ids of which the first ones are the whole text's; when all of them are,
// the edge falls between two tokens. Otherwise the text before the edge ends in a word that the
// whole text tokenizes differently ("\n\n" alone is one token, before "Yes" two): the edge is the
// first of the next few tokens from which the ids decode to exactly the text after the edge, and
// failing that (a decoder that does not give the text back), the first differing token straddles
// the edge and goes to the trainable side.
size_t edgeToken(const Tokenizer &tokenizer, const std::string &text, const std::vector<int32_t> &ids, size_t edge,
                 bool intoReply) {
    constexpr size_t kLookAhead = 8;
    const std::vector<int32_t> before = tokenizer.encode(text.substr(0, edge), false);
    const size_t shared = std::mismatch(before.begin(), before.end(), ids.begin(), ids.end()).first - before.begin();
    if (shared == before.size())
        return shared;
    const std::string after = text.substr(edge);
    for (size_t k = shared; k <= ids.size() && k <= shared + kLookAhead; ++k)
        if (tokenizer.decode(std::vector<int32_t>(ids.begin() + long(k), ids.end()), false) == after)
            return k;
    return intoReply ? shared : std::min(shared + 1, ids.size());
}

// The token index where each segment starts, edge by edge.
std::vector<size_t> startsFromEdges(const Tokenizer &tokenizer, const std::vector<ChatTemplate::Segment> &segments,
                                    const std::string &text, const std::vector<int32_t> &ids) {
    std::vector<size_t> starts;
    size_t chars = 0;
    for (const auto &segment : segments) {
        const size_t start = chars == 0 ? 0 : edgeToken(tokenizer, text, ids, chars, segment.trainable);
        starts.push_back(std::max(start, starts.empty() ? size_t(0) : starts.back()));
        chars += segment.text.size();
    }
    return starts;
}

} // namespace

TokenizedChat tokenizeSegments(const Tokenizer &tokenizer, const std::vector<ChatTemplate::Segment> &segments) {
    TokenizedChat chat;
    for (const auto &segment : segments)
        chat.text += segment.text;
    chat.ids = tokenizer.encode(chat.text, false);
    auto starts = startsFromSegments(tokenizer, segments, chat.ids);
    if (!starts)
        starts = startsFromEdges(tokenizer, segments, chat.text, chat.ids);
    chat.trainable.assign(chat.ids.size(), 0);
    for (size_t s = 0; s < segments.size(); ++s) {
        const size_t end = s + 1 < segments.size() ? (*starts)[s + 1] : chat.ids.size();
        if (segments[s].trainable)
            std::fill(chat.trainable.begin() + long((*starts)[s]), chat.trainable.begin() + long(end), 1);
    }
    return chat;
}

} // namespace headroom::detail
