// Added tokens (special tokens such as "<|eot_id|>" and extra ones such as Qwen's "<think>") are
// found in the raw text before anything else runs, so normalizers and pre-tokenizers never cut
// them apart. Matching is leftmost-longest over a byte trie, as in `tokenizers`; lstrip/rstrip
// swallow the whitespace beside a match and single_word requires word boundaries around it.
// Tokens flagged "normalized" are matched in the raw text too (the reference files have none).
#pragma once

#include "tokenizer/tokenizer_config.h"

#include <array>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace headroom {

class AddedTokenMatcher {
public:
    struct Section {
        std::string_view text; // a stretch of ordinary text when id < 0 (a view into the input)
        int32_t id = -1; // the added token's id otherwise
        int32_t spec = -1; // and its index in the token list
    };

    AddedTokenMatcher() = default;
    explicit AddedTokenMatcher(const std::vector<AddedTokenSpec> &tokens);

    // Cuts text into ordinary stretches and added tokens; ordinary stretches may be empty after
    // lstrip/rstrip and are then left out.
    std::vector<Section> split(std::string_view text) const;
    bool empty() const { return m_tokens.empty(); }

private:
    struct Node {
        std::vector<std::pair<unsigned char, int32_t>> children; // sorted by byte
        int32_t token = -1; // index into m_tokens
    };
    int32_t child(int32_t node, unsigned char byte) const;
    // The longest acceptable token starting at pos; -1 when none.
    int32_t longestMatch(std::string_view text, size_t pos, size_t &end) const;

    std::vector<AddedTokenSpec> m_tokens;
    std::vector<Node> m_nodes;
    std::array<bool, 256> m_firstByte{};
};

} // namespace headroom
