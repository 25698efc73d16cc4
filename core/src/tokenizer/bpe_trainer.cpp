// trainByteLevelBpe: counts the GPT-2 words of the texts, then repeatedly merges the most
// frequent adjacent symbol pair. Pair counts are updated only for the words a merge touches, and
// the best pair comes from a max-heap with lazy deletion (an entry whose count is out of date is
// skipped), so training is O(merges x words touched) rather than O(merges x corpus).
#include "tokenizer/bpe_trainer.h"

#include "tokenizer/tokenizer_regex.h"
#include "tokenizer/tokenizer_unicode.h"
#include "headroom/error.h"

#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <queue>
#include <unordered_map>

namespace headroom {

namespace {

using OrderedJson = nlohmann::ordered_json;

const char *const kGpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char *const kLlama3Specials[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                       "<|end_header_id|>", "<|eot_id|>"};
// Meta-Llama-3-Instruct's template (ChatTemplate::detect recognises it as "llama3").
const char *const kLlama3ChatTemplate =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 "
    "%}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

uint64_t pairKey(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

struct Word {
    std::vector<int32_t> symbols;
    int64_t count = 0;
};

class BpeTrainer {
public:
    BpeTrainer(std::vector<Word> words, int targetSymbols) : m_words(std::move(words)), m_target(targetSymbols) {
        const auto &bytes = unicode::byteToChar();
        m_tokens.assign(bytes.begin(), bytes.end());
        for (size_t w = 0; w < m_words.size(); ++w)
            addPairs(static_cast<int32_t>(w), +1);
        for (const auto &[key, count] : m_pairCounts)
            m_heap.push({count, key});
    }

    void run() {
        while (static_cast<int>(m_tokens.size()) < m_target) {
            uint64_t best = 0;
            if (!popBest(best))
                break;
            merge(best);
        }
    }

    const std::vector<std::string> &tokens() const { return m_tokens; }
    const std::vector<std::pair<int32_t, int32_t>> &merges() const { return m_merges; }

private:
    struct Entry {
        int64_t count;
        uint64_t key;
        // Highest count first; ties go to the smaller pair key, so training is deterministic.
        bool operator<(const Entry &o) const { return count != o.count ? count < o.count : key > o.key; }
    };

    void addPairs(int32_t w, int sign) {
        const Word &word = m_words[w];
        for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
            const uint64_t key = pairKey(word.symbols[i], word.symbols[i + 1]);
            m_pairCounts[key] += sign * word.count;
            if (sign > 0)
                m_pairWords[key].push_back(w);
            m_changed.push_back(key);
        }
    }

    bool popBest(uint64_t &best) {
        while (!m_heap.empty()) {
            const Entry top = m_heap.top();
            m_heap.pop();
            const auto it = m_pairCounts.find(top.key);
            if (it == m_pairCounts.end() || it->second != top.count)
                continue; // stale
            if (top.count < 2)
                return false; // a pair seen once teaches nothing
            best = top.key;
            return true;
        }
        return false;
    }

    void merge(uint64_t key) {
        const auto a = static_cast<int32_t>(key >> 32), b = static_cast<int32_t>(key & 0xFFFFFFFFu);
        const auto merged = static_cast<int32_t>(m_tokens.size());
        m_tokens.push_back(m_tokens[a] + m_tokens[b]);
        m_merges.emplace_back(a, b);

        std::vector<int32_t> words;
        words.swap(m_pairWords[key]);
        std::sort(words.begin(), words.end());
        words.erase(std::unique(words.begin(), words.end()), words.end());
        m_changed.clear();
        for (int32_t w : words) {
            std::vector<int32_t> &symbols = m_words[w].symbols;
            bool present = false;
            for (size_t i = 0; i + 1 < symbols.size() && !present; ++i)
                present = symbols[i] == a && symbols[i + 1] == b;
            if (!present) // the list may name words that lost the pair earlier
                continue;
            addPairs(w, -1);
            std::vector<int32_t> next;
            next.reserve(symbols.size());
            for (size_t i = 0; i < symbols.size(); ++i) {
                if (i + 1 < symbols.size() && symbols[i] == a && symbols[i + 1] == b) {
                    next.push_back(merged);
                    ++i;
                } else {
                    next.push_back(symbols[i]);
                }
            }
            symbols.swap(next);
            addPairs(w, +1);
        }
        m_pairCounts.erase(key);
        std::sort(m_changed.begin(), m_changed.end());
        m_changed.erase(std::unique(m_changed.begin(), m_changed.end()), m_changed.end());
        for (uint64_t changed : m_changed) {
            const auto it = m_pairCounts.find(changed);
            if (it == m_pairCounts.end())
                continue;
            if (it->second <= 0)
                m_pairCounts.erase(it);
            else
                m_heap.push({it->second, changed});
        }
    }

    std::vector<Word> m_words;
    int m_target;
    std::vector<std::string> m_tokens; // id -> token in GPT-2's byte alphabet
    std::vector<std::pair<int32_t, int32_t>> m_merges;
    std::unordered_map<uint64_t, int64_t> m_pairCounts;
    std::unordered_map<uint64_t, std::vector<int32_t>> m_pairWords; // may hold stale entries
    std::priority_queue<Entry> m_heap;
    std::vector<uint64_t> m_changed;
};

std::vector<Word> countWords(const std::vector<std::string> &texts) {
    const TokenizerRegex regex(kGpt2Pattern, "byte-level BPE trainer");
    std::map<std::string, int64_t> counts; // ordered: word ids do not depend on hashing
    for (const std::string &text : texts)
        regex.forEachMatch(text, [&](size_t b, size_t e) { ++counts[text.substr(b, e - b)]; });
    std::vector<Word> words;
    words.reserve(counts.size());
    for (const auto &[text, count] : counts) {
        Word word;
        word.count = count;
        for (char c : text)
            word.symbols.push_back(static_cast<unsigned char>(c));
        words.push_back(std::move(word));
    }
    return words;
}

void makeDirs(const std::string &dir) {
    for (size_t pos = 1; pos <= dir.size(); ++pos) {
        if (pos < dir.size() && dir[pos] != '/')
            continue;
        const std::string prefix = dir.substr(0, pos);
        if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST)
            throw runtimeFailure(prefix + ": cannot create the folder (" + std::strerror(errno) + ")");
    }
}

void writeFile(const std::string &path, const std::string &content) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << content;
        out.flush();
        if (!out)
            throw runtimeFailure(path + ": cannot be written (" + std::strerror(errno) + ")");
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
        throw runtimeFailure(path + ": cannot be written (" + std::strerror(errno) + ")");
}

OrderedJson addedToken(int32_t id, const std::string &content) {
    return OrderedJson{{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
                       {"rstrip", false}, {"normalized", false}, {"special", true}};
}

} // namespace

void trainByteLevelBpe(const std::vector<std::string> &texts, int vocabSize,
                       const std::vector<std::string> &specialTokens, const std::string &outDir) {
    std::vector<std::string> specials(std::begin(kLlama3Specials), std::end(kLlama3Specials));
    for (const std::string &token : specialTokens)
        if (!token.empty() && std::find(specials.begin(), specials.end(), token) == specials.end())
            specials.push_back(token);
    const int minimum = 256 + static_cast<int>(specials.size());
    if (vocabSize < minimum)
        throw invalidInput("BPE vocabulary size " + std::to_string(vocabSize) + " is too small: the 256 bytes and " +
                           std::to_string(specials.size()) + " special tokens need at least " +
                           std::to_string(minimum));

    BpeTrainer trainer(countWords(texts), vocabSize - static_cast<int>(specials.size()));
    trainer.run();
    const auto &tokens = trainer.tokens();

    OrderedJson vocab = OrderedJson::object();
    for (size_t id = 0; id < tokens.size(); ++id)
        vocab[tokens[id]] = id;
    OrderedJson merges = OrderedJson::array();
    for (const auto &[a, b] : trainer.merges())
        merges.push_back(OrderedJson::array({tokens[a], tokens[b]}));

    OrderedJson added = OrderedJson::array();
    OrderedJson addedDecoder = OrderedJson::object();
    for (size_t i = 0; i < specials.size(); ++i) {
        const auto id = static_cast<int32_t>(tokens.size() + i);
        added.push_back(addedToken(id, specials[i]));
        OrderedJson entry = addedToken(id, specials[i]);
        entry.erase("id");
        addedDecoder[std::to_string(id)] = entry;
    }
    const std::string bos = specials[0], eos = specials[1];
    std::string pad = eos; // unless the caller named a padding token
    for (const char *candidate : {"<|pad|>", "<pad>", "<|finetune_right_pad_id|>"})
        if (std::find(specials.begin(), specials.end(), candidate) != specials.end())
            pad = candidate;
    const auto bosId = static_cast<int32_t>(tokens.size());

    OrderedJson bosItem = {{"SpecialToken", {{"id", bos}, {"type_id", 0}}}};
    OrderedJson tokenizer = {
        {"version", "1.0"},
        {"truncation", nullptr},
        {"padding", nullptr},
        {"added_tokens", added},
        {"normalizer", nullptr},
        {"pre_tokenizer",
         {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
        {"post_processor",
         {{"type", "TemplateProcessing"},
          {"single", OrderedJson::array({bosItem, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
          {"pair", OrderedJson::array({bosItem,
                                       {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                       {{"SpecialToken", {{"id", bos}, {"type_id", 1}}}},
                                       {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}})},
          {"special_tokens", {{bos, {{"id", bos}, {"ids", {bosId}}, {"tokens", {bos}}}}}}}},
        {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
        {"model",
         {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", nullptr},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", false},
          {"byte_fallback", false},
          {"ignore_merges", false},
          {"vocab", vocab},
          {"merges", merges}}},
    };
    OrderedJson config = {
        {"added_tokens_decoder", addedDecoder},
        {"add_bos_token", true},
        {"add_eos_token", false},
        {"bos_token", bos},
        {"eos_token", eos},
        {"pad_token", pad},
        {"clean_up_tokenization_spaces", false},
        {"model_max_length", 131072},
        {"tokenizer_class", "PreTrainedTokenizerFast"},
        {"chat_template", kLlama3ChatTemplate},
    };

    makeDirs(outDir);
    writeFile(outDir + "/tokenizer.json", tokenizer.dump(1) + "\n");
    writeFile(outDir + "/tokenizer_config.json", config.dump(2) + "\n");
}

} // namespace headroom
