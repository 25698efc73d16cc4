// The BPE model of tokenizer.json: vocabulary, ranked merges, and the word -> ids step.
//
// A word (one pre-tokenizer piece) starts as one symbol per character; the adjacent pair with
// the lowest merge rank is merged until no ranked pair is left (ties: leftmost first), using a
// heap over a linked list, so long words (Llama 2 has no pre-tokenizer: a paragraph is one word)
// stay O(n log n). Merges are looked up in a hash map keyed by the pair of symbol ids.
// ignore_merges (Llama 3) takes a word that is itself in the vocabulary as is; byte_fallback
// (Llama 2) spells unknown characters as <0xNN> tokens; otherwise they become unk_token.
//
// Results for words up to kMaxCachedWordBytes are cached; the cache is shared by all threads
// (encode() is const and called concurrently) and cleared when it reaches kCacheEntries.
// Sentencepiece-style vocabularies where "▁" only ever starts a token (checked on load; true for
// Llama 2) cannot merge across a "▁" that follows another character, so long words are cut there
// first: the same ids, but short cacheable pieces instead of one paragraph-long word.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace headroom {

class BpeModel {
public:
    static constexpr size_t kMaxCachedWordBytes = 256;
    static constexpr size_t kCacheEntries = 1 << 17;

    // `model` is tokenizer.json's "model" object; throws invalidInput("<context>...") when it is
    // not a BPE model Headroom can run.
    BpeModel(const nlohmann::json &model, const std::string &context);

    // Appends the ids of one word.
    void encodeWord(const std::string &word, std::vector<int32_t> &out) const;

    std::optional<int32_t> tokenToId(std::string_view token) const;
    const std::string *idToToken(int32_t id) const; // nullptr when the id has no token
    int32_t size() const { return static_cast<int32_t>(m_idToToken.size()); } // max id + 1

private:
    struct Merge {
        int32_t rank;
        int32_t result;
    };
    // Open-addressing hash table from a symbol pair to its merge: the hot lookup of encoding.
    class MergeTable {
    public:
        void build(const std::vector<std::pair<uint64_t, Merge>> &entries);
        const Merge *find(uint64_t key) const {
            for (size_t i = slot(key);; i = (i + 1) & m_mask) {
                if (m_keys[i] == key)
                    return &m_values[i];
                if (m_keys[i] == kEmpty)
                    return nullptr;
            }
        }

    private:
        static constexpr uint64_t kEmpty = ~uint64_t(0); // ids are < 2^31, so no pair has this key
        size_t slot(uint64_t key) const { return size_t((key * 0x9E3779B97F4A7C15ULL) >> 32) & m_mask; }
        std::vector<uint64_t> m_keys;
        std::vector<Merge> m_values;
        size_t m_mask = 0;
    };
    // Open-addressing table from token text to id (the vocabulary): one probe sequence over
    // contiguous memory, where std::unordered_map chases a node per lookup.
    class TokenTable {
    public:
        void build(const std::vector<std::pair<std::string, int32_t>> &entries);
        int32_t find(std::string_view token) const; // -1 when absent
        size_t size() const { return m_count; }

    private:
        static uint64_t hash(std::string_view text);
        struct Slot {
            uint64_t hash = 0;
            uint32_t offset = 0, length = 0; // into m_text
            int32_t id = -1; // -1: empty slot
        };
        std::vector<Slot> m_slots;
        std::string m_text;
        size_t m_mask = 0, m_count = 0;
    };
    static uint64_t pairKey(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
    int32_t charId(char32_t cp) const;
    void encodeCached(const std::string &word, std::vector<int32_t> &out) const;
    void mergeWord(const std::string &word, std::vector<int32_t> &out) const;

    TokenTable m_vocab;
    std::vector<std::string> m_idToToken;
    std::vector<bool> m_hasToken;
    MergeTable m_merges;
    std::vector<int32_t> m_bmpCharIds; // single-character tokens below U+10000
    std::unordered_map<char32_t, int32_t> m_otherCharIds; // and above
    std::array<int32_t, 256> m_byteIds{}; // "<0xNN>" tokens, -1 when absent
    int32_t m_unkId = -1;
    bool m_byteFallback = false, m_fuseUnk = false, m_ignoreMerges = false;
    bool m_cutBeforeMetaspace = false; // see above

    mutable std::shared_mutex m_cacheMutex;
    mutable std::unordered_map<std::string, std::vector<int32_t>> m_cache;
};

} // namespace headroom
