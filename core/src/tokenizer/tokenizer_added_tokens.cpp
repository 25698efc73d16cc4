#include "tokenizer/tokenizer_added_tokens.h"

#include "tokenizer/tokenizer_unicode.h"

#include <algorithm>

namespace headroom {

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedTokenSpec> &tokens) : m_tokens(tokens) {
    m_nodes.emplace_back();
    for (size_t t = 0; t < m_tokens.size(); ++t) {
        const std::string &content = m_tokens[t].content;
        if (content.empty())
            continue;
        m_firstByte[static_cast<unsigned char>(content[0])] = true;
        int32_t node = 0;
        for (char c : content) {
            const auto byte = static_cast<unsigned char>(c);
            int32_t next = child(node, byte);
            if (next < 0) {
                next = static_cast<int32_t>(m_nodes.size());
                m_nodes.emplace_back();
                auto &children = m_nodes[node].children;
                children.insert(std::lower_bound(children.begin(), children.end(), std::make_pair(byte, INT32_MIN)),
                                {byte, next});
            }
            node = next;
        }
        if (m_nodes[node].token < 0) // the same content twice: the first entry wins
            m_nodes[node].token = static_cast<int32_t>(t);
    }
}

int32_t AddedTokenMatcher::child(int32_t node, unsigned char byte) const {
    const auto &children = m_nodes[node].children;
    const auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, INT32_MIN));
    return it != children.end() && it->first == byte ? it->second : -1;
}

namespace {

// A word character for single_word: letters, digits (any script) and '_' — approximated by
// "not whitespace and not ASCII punctuation", which is what matters next to special tokens.
bool isWordChar(char32_t cp) {
    if (cp == unicode::kInvalid || unicode::isWhitespace(cp))
        return false;
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
    return true;
}

bool wordCharBefore(std::string_view text, size_t pos) {
    if (pos == 0)
        return false;
    size_t start = pos - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
        --start;
    return isWordChar(unicode::nextCodePoint(text, start));
}

bool wordCharAt(std::string_view text, size_t pos) {
    return pos < text.size() && isWordChar(unicode::nextCodePoint(text, pos));
}

} // namespace

int32_t AddedTokenMatcher::longestMatch(std::string_view text, size_t pos, size_t &end) const {
    int32_t best = -1;
    int32_t node = 0;
    for (size_t i = pos; i < text.size(); ++i) {
        node = child(node, static_cast<unsigned char>(text[i]));
        if (node < 0)
            break;
        const int32_t t = m_nodes[node].token;
        if (t < 0)
            continue;
        if (m_tokens[t].singleWord && (wordCharBefore(text, pos) || wordCharAt(text, i + 1)))
            continue;
        best = t;
        end = i + 1;
    }
    return best;
}

std::vector<AddedTokenMatcher::Section> AddedTokenMatcher::split(std::string_view text) const {
    std::vector<Section> sections;
    size_t start = 0;
    for (size_t pos = 0; pos < text.size();) {
        size_t end = 0;
        const int32_t t = m_firstByte[static_cast<unsigned char>(text[pos])] ? longestMatch(text, pos, end) : -1;
        if (t < 0) {
            ++pos;
            continue;
        }
        if (pos > start)
            sections.push_back({text.substr(start, pos - start)});
        sections.push_back({text.substr(pos, end - pos), m_tokens[t].id, t});
        pos = start = end;
    }
    if (start < text.size())
        sections.push_back({text.substr(start)});

    // lstrip/rstrip: the token takes the whitespace next to it.
    for (size_t i = 0; i < sections.size(); ++i) {
        if (sections[i].id < 0)
            continue;
        const AddedTokenSpec &spec = m_tokens[sections[i].spec];
        if (spec.lstrip && i > 0 && sections[i - 1].id < 0)
            sections[i - 1].text = unicode::trimWhitespace(sections[i - 1].text, false, true);
        if (spec.rstrip && i + 1 < sections.size() && sections[i + 1].id < 0)
            sections[i + 1].text = unicode::trimWhitespace(sections[i + 1].text, true, false);
    }
    sections.erase(
        std::remove_if(sections.begin(), sections.end(), [](const Section &s) { return s.id < 0 && s.text.empty(); }),
        sections.end());
    return sections;
}

} // namespace headroom
