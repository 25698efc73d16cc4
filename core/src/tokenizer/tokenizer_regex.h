// The regular expressions of tokenizer.json (Split pre-tokenizers, Replace normalizers/decoders,
// the GPT-2 pattern of ByteLevel), run with PCRE2 in UTF + UCP mode so that \s, \p{L}, \p{N} and
// (?i:...) behave as in the Oniguruma engine Hugging Face uses. JIT-compiled when available.
//
// Invalid UTF-8 in the subject is allowed (PCRE2_MATCH_INVALID_UTF): such bytes match nothing,
// so they end up between matches rather than aborting the tokenizer.
//
// Built without PCRE2 (HEADROOM_HAVE_PCRE2 undefined), constructing a TokenizerRegex throws: a
// tokenizer that needs a regex cannot be loaded, rather than silently giving different ids.
#pragma once

#include "tokenizer/tokenizer_unicode.h"

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace headroom {

class TokenizerRegex {
public:
    // Throws invalidInput("<context>: ...") for a pattern PCRE2 rejects or a build without PCRE2.
    TokenizerRegex(const std::string &pattern, const std::string &context);
    ~TokenizerRegex();
    TokenizerRegex(const TokenizerRegex &) = delete;
    TokenizerRegex &operator=(const TokenizerRegex &) = delete;

    // Calls onMatch(begin, end) for each non-overlapping match, left to right; empty matches are
    // skipped. Thread-safe (match state is per thread).
    template <typename F>
    void forEachMatch(std::string_view text, F &&onMatch) const {
        size_t pos = 0, begin = 0, end = 0;
        while (next(text, pos, begin, end)) {
            if (end > begin) {
                onMatch(begin, end);
                pos = end;
            } else { // empty match: step over one character
                const size_t len = begin < text.size() ? unicode::validSequenceLength(text, begin) : 1;
                pos = begin + (len > 0 ? len : 1);
            }
        }
    }
    std::vector<std::pair<size_t, size_t>> matches(std::string_view text) const;
    std::string replaceAll(std::string_view text, std::string_view replacement) const;

    const std::string &pattern() const { return m_pattern; }

private:
    // Finds the first match at or after pos; false when there is none.
    bool next(std::string_view text, size_t pos, size_t &begin, size_t &end) const;

    std::string m_pattern;
    struct Compiled;
    std::unique_ptr<Compiled> m_compiled;
};

} // namespace headroom
