#include "tokenizer/tokenizer_bpe.h"

#include "tokenizer/tokenizer_pipeline.h"
#include "tokenizer/tokenizer_unicode.h"
#include "headroom/error.h"

#include <cstring>
#include <mutex>
#include <queue>

namespace headroom {

using Json = nlohmann::json;

namespace {

// The byte a "<0xNN>" byte-fallback token stands for; -1 for any other token.
int byteFallbackValue(const std::string &token) {
    if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>')
        return -1;
    auto hex = [](char c) {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        return -1;
    };
    const int hi = hex(token[3]), lo = hex(token[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

} // namespace

BpeModel::BpeModel(const Json &model, const std::string &context) {
    if (!model.is_object())
        throw invalidInput(context + ": expected an object describing the model");
    const std::string type = model.value("type", std::string("BPE"));
    if (type != "BPE")
        throw invalidInput(context + ".type: \"" + type +
                           "\" models are not supported; Headroom runs BPE tokenizers (Llama, Qwen, Mistral, GPT-2 "
                           "style), or a tokenizer.model through sentencepiece");
    for (const char *field : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        if (model.contains(field) && model[field].is_string() && !model[field].get<std::string>().empty())
            throw invalidInput(context + "." + field + ": \"" + model[field].get<std::string>() +
                               "\" is not supported; only BPE without word prefixes/suffixes (null or \"\")");
    }

    const Json &vocab = requireField(model, "vocab", Json::value_t::object, context);
    std::vector<std::pair<std::string, int32_t>> entries;
    entries.reserve(vocab.size());
    int32_t maxId = -1;
    for (const auto &[token, idValue] : vocab.items()) {
        if (!idValue.is_number_integer() || idValue.get<int64_t>() < 0 || idValue.get<int64_t>() > INT32_MAX)
            throw invalidInput(context + ".vocab[\"" + token + "\"]: expected a non-negative integer id");
        entries.emplace_back(token, idValue.get<int32_t>());
        maxId = std::max(maxId, entries.back().second);
    }
    m_vocab.build(entries);
    m_idToToken.resize(maxId + 1);
    m_hasToken.assign(maxId + 1, false);
    m_bmpCharIds.assign(0x10000, -1);
    m_byteIds.fill(-1);
    for (auto &[token, id] : entries) {
        size_t pos = 0;
        const char32_t cp = unicode::nextCodePoint(token, pos);
        if (cp != unicode::kInvalid && pos == token.size()) {
            if (cp < 0x10000)
                m_bmpCharIds[cp] = id;
            else
                m_otherCharIds[cp] = id;
        }
        if (const int byte = byteFallbackValue(token); byte >= 0)
            m_byteIds[byte] = id;
        m_hasToken[id] = true;
        m_idToToken[id] = std::move(token);
    }

    // Merges: "a b" strings (the first space separates) or ["a", "b"] pairs (tokenizers >= 0.20).
    const Json &merges = requireField(model, "merges", Json::value_t::array, context);
    std::vector<std::pair<uint64_t, Merge>> mergeEntries;
    mergeEntries.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const Json &entry = merges[rank];
        std::string left, right;
        if (entry.is_string()) {
            const auto text = entry.get<std::string>();
            const size_t space = text.find(' ');
            if (space == std::string::npos)
                throw invalidInput(context + ".merges[" + std::to_string(rank) + "]: \"" + text +
                                   "\" is not a pair; expected \"left right\" or [\"left\", \"right\"]");
            left = text.substr(0, space);
            right = text.substr(space + 1);
        } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
            left = entry[0].get<std::string>();
            right = entry[1].get<std::string>();
        } else {
            throw invalidInput(context + ".merges[" + std::to_string(rank) +
                               "]: expected \"left right\" or [\"left\", \"right\"]");
        }
        const int32_t a = m_vocab.find(left), b = m_vocab.find(right), merged = m_vocab.find(left + right);
        if (a < 0 || b < 0 || merged < 0)
            throw invalidInput(context + ".merges[" + std::to_string(rank) + "]: \"" + left + "\" + \"" + right +
                               "\" uses or makes a token that is not in the vocabulary");
        mergeEntries.push_back({pairKey(a, b), Merge{static_cast<int32_t>(rank), merged}});
    }
    m_merges.build(mergeEntries);

    if (auto unk = model.find("unk_token"); unk != model.end() && unk->is_string()) {
        m_unkId = m_vocab.find(unk->get<std::string>());
        if (m_unkId < 0)
            throw invalidInput(context + ".unk_token: \"" + unk->get<std::string>() + "\" is not in the vocabulary");
    }
    m_byteFallback = model.value("byte_fallback", false);
    m_fuseUnk = model.value("fuse_unk", false);
    m_ignoreMerges = model.value("ignore_merges", false);

    // Cutting before "▁" is exact when no token has a "▁" right after another character: then no
    // merge can join the two sides of such a "▁".
    const std::string metaspace = "\u2581";
    m_cutBeforeMetaspace = !m_ignoreMerges && m_vocab.find(metaspace) >= 0;
    for (size_t id = 0; id < m_idToToken.size() && m_cutBeforeMetaspace; ++id) {
        const std::string &token = m_idToToken[id];
        for (size_t pos = token.find(metaspace, 1); pos != std::string::npos; pos = token.find(metaspace, pos + 1))
            if (pos < metaspace.size() || token.compare(pos - metaspace.size(), metaspace.size(), metaspace) != 0)
                m_cutBeforeMetaspace = false;
    }
}

void BpeModel::MergeTable::build(const std::vector<std::pair<uint64_t, Merge>> &entries) {
    size_t capacity = 16;
    while (capacity < entries.size() * 2)
        capacity *= 2;
    m_keys.assign(capacity, kEmpty);
    m_values.assign(capacity, Merge{0, 0});
    m_mask = capacity - 1;
    for (const auto &[key, merge] : entries) {
        size_t i = slot(key);
        while (m_keys[i] != kEmpty && m_keys[i] != key)
            i = (i + 1) & m_mask;
        if (m_keys[i] == key)
            continue; // a pair listed twice keeps its first (best) rank, as in `tokenizers`
        m_keys[i] = key;
        m_values[i] = merge;
    }
}

std::optional<int32_t> BpeModel::tokenToId(std::string_view token) const {
    const int32_t id = m_vocab.find(token);
    return id < 0 ? std::nullopt : std::optional<int32_t>(id);
}

void BpeModel::TokenTable::build(const std::vector<std::pair<std::string, int32_t>> &entries) {
    size_t capacity = 16;
    while (capacity < entries.size() * 2)
        capacity *= 2;
    m_slots.assign(capacity, Slot{});
    m_mask = capacity - 1;
    m_text.clear();
    m_count = 0;
    for (const auto &[token, id] : entries) {
        const uint64_t h = hash(token);
        size_t i = h & m_mask;
        while (m_slots[i].id >= 0) {
            if (m_slots[i].hash == h && m_text.compare(m_slots[i].offset, m_slots[i].length, token) == 0)
                break;
            i = (i + 1) & m_mask;
        }
        if (m_slots[i].id >= 0)
            continue; // the same token twice: the first id wins
        m_slots[i] = {h, static_cast<uint32_t>(m_text.size()), static_cast<uint32_t>(token.size()), id};
        m_text += token;
        ++m_count;
    }
}

int32_t BpeModel::TokenTable::find(std::string_view token) const {
    if (m_slots.empty())
        return -1;
    const uint64_t h = hash(token);
    for (size_t i = h & m_mask;; i = (i + 1) & m_mask) {
        const Slot &slot = m_slots[i];
        if (slot.id < 0)
            return -1;
        if (slot.hash == h && slot.length == token.size() &&
            std::memcmp(m_text.data() + slot.offset, token.data(), token.size()) == 0)
            return slot.id;
    }
}

uint64_t BpeModel::TokenTable::hash(std::string_view text) {
    // 8 bytes at a time, multiply-xorshift mixing; quality is ample for a probe table.
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ text.size();
    size_t i = 0;
    for (; i + 8 <= text.size(); i += 8) {
        uint64_t chunk;
        std::memcpy(&chunk, text.data() + i, 8);
        h = (h ^ chunk) * 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 31;
    }
    uint64_t tail = 0;
    std::memcpy(&tail, text.data() + i, text.size() - i);
    h = (h ^ tail) * 0x94D049BB133111EBULL;
    return h ^ (h >> 29);
}

const std::string *BpeModel::idToToken(int32_t id) const {
    return id >= 0 && id < size() && m_hasToken[id] ? &m_idToToken[id] : nullptr;
}

int32_t BpeModel::charId(char32_t cp) const {
    if (cp < 0x10000)
        return m_bmpCharIds[cp];
    if (cp == unicode::kInvalid)
        return -1;
    const auto it = m_otherCharIds.find(cp);
    return it == m_otherCharIds.end() ? -1 : it->second;
}

void BpeModel::encodeWord(const std::string &word, std::vector<int32_t> &out) const {
    if (word.empty())
        return;
    if (m_ignoreMerges) {
        if (const int32_t id = m_vocab.find(word); id >= 0) {
            out.push_back(id);
            return;
        }
    }
    if (!m_cutBeforeMetaspace || word.size() <= kMaxCachedWordBytes) {
        encodeCached(word, out);
        return;
    }
    // "\u2581" is E2 96 81 in UTF-8; cut before each one that follows a different character.
    size_t start = 0;
    for (size_t pos = word.find("\u2581", 1); pos != std::string::npos; pos = word.find("\u2581", pos + 3)) {
        if (pos >= 3 && word.compare(pos - 3, 3, "\u2581") == 0)
            continue;
        encodeCached(word.substr(start, pos - start), out);
        start = pos;
    }
    encodeCached(word.substr(start), out);
}

void BpeModel::encodeCached(const std::string &word, std::vector<int32_t> &out) const {
    const bool cacheable = word.size() <= kMaxCachedWordBytes;
    if (cacheable) {
        std::shared_lock lock(m_cacheMutex);
        if (const auto it = m_cache.find(word); it != m_cache.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const size_t first = out.size();
    mergeWord(word, out);
    if (cacheable) {
        std::vector<int32_t> ids(out.begin() + first, out.end());
        std::unique_lock lock(m_cacheMutex);
        if (m_cache.size() >= kCacheEntries)
            m_cache.clear();
        m_cache.emplace(word, std::move(ids));
    }
}

void BpeModel::mergeWord(const std::string &word, std::vector<int32_t> &out) const {
    // One symbol per character; the symbols form a doubly linked list in a vector, and a merge
    // keeps the left symbol's slot (its index is the tie-break position).
    struct Symbol {
        int32_t id; // -1: a character outside the vocabulary
        uint32_t begin, end; // byte range in the word
        int32_t prev, next;
    };
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    for (size_t pos = 0; pos < word.size();) {
        const size_t begin = pos;
        const char32_t cp = unicode::nextCodePoint(word, pos);
        const auto index = static_cast<int32_t>(symbols.size());
        symbols.push_back({charId(cp), uint32_t(begin), uint32_t(pos), index - 1, -1});
        if (index > 0)
            symbols[index - 1].next = index;
    }

    struct Candidate {
        int32_t rank;
        int32_t pos;
        int32_t left, right; // the ids the pair had when queued; a changed slot makes it stale
        int32_t result;
        bool operator>(const Candidate &o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
    auto consider = [&](int32_t pos) {
        const int32_t next = symbols[pos].next;
        if (next < 0 || symbols[pos].id < 0 || symbols[next].id < 0)
            return;
        if (const Merge *merge = m_merges.find(pairKey(symbols[pos].id, symbols[next].id)))
            queue.push({merge->rank, pos, symbols[pos].id, symbols[next].id, merge->result});
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i)
        consider(i);

    while (!queue.empty()) {
        const Candidate top = queue.top();
        queue.pop();
        Symbol &left = symbols[top.pos];
        if (left.id != top.left || left.next < 0)
            continue;
        Symbol &right = symbols[left.next];
        if (right.id != top.right)
            continue;
        left.id = top.result;
        left.end = right.end;
        left.next = right.next;
        if (right.next >= 0)
            symbols[right.next].prev = top.pos;
        right.id = -2; // removed: never matches a queued id again
        if (left.prev >= 0)
            consider(left.prev);
        consider(top.pos);
    }

    bool lastWasUnk = false;
    for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
        const Symbol &s = symbols[i];
        if (s.id >= 0) {
            out.push_back(s.id);
            lastWasUnk = false;
            continue;
        }
        if (m_byteFallback) {
            bool allBytes = true;
            for (uint32_t b = s.begin; b < s.end && allBytes; ++b)
                allBytes = m_byteIds[static_cast<unsigned char>(word[b])] >= 0;
            if (allBytes) {
                for (uint32_t b = s.begin; b < s.end; ++b)
                    out.push_back(m_byteIds[static_cast<unsigned char>(word[b])]);
                lastWasUnk = false;
                continue;
            }
        }
        // Without an unk token the character is dropped, as `tokenizers` does.
        if (m_unkId >= 0 && !(m_fuseUnk && lastWasUnk)) {
            out.push_back(m_unkId);
            lastWasUnk = true;
        }
    }
}

} // namespace headroom
