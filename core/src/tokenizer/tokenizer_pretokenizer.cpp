// The pre-tokenizers of tokenizer.json: they cut the normalized text into the words the BPE model
// encodes one by one (and ByteLevel rewrites each word into GPT-2's byte alphabet).
#include "tokenizer/tokenizer_pipeline.h"

#include "headroom/error.h"

#include <algorithm>

namespace headroom {

namespace {

using Json = nlohmann::json;

// GPT-2's word pattern, used by ByteLevel when use_regex is true.
const char *const kGpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

SplitBehavior parseBehavior(const std::string &name, const std::string &context) {
    if (name == "Removed")
        return SplitBehavior::Removed;
    if (name == "Isolated")
        return SplitBehavior::Isolated;
    if (name == "MergedWithPrevious")
        return SplitBehavior::MergedWithPrevious;
    if (name == "MergedWithNext")
        return SplitBehavior::MergedWithNext;
    if (name == "Contiguous")
        return SplitBehavior::Contiguous;
    throw invalidInput(context + ".behavior: \"" + name +
                       "\" is not a split behavior; valid: Removed, Isolated, "
                       "MergedWithPrevious, MergedWithNext, Contiguous");
}

struct Span {
    size_t begin, end;
    bool isMatch;
};

// Cuts text at the matches the way `tokenizers`' NormalizedString::split does, appending the
// non-empty pieces to out.
void splitAt(std::string_view text, const std::vector<std::pair<size_t, size_t>> &matches, SplitBehavior behavior,
             bool invert, std::vector<std::string> &out) {
    std::vector<Span> spans;
    size_t prev = 0;
    for (const auto &[b, e] : matches) {
        if (b > prev)
            spans.push_back({prev, b, false});
        spans.push_back({b, e, true});
        prev = e;
    }
    if (prev < text.size())
        spans.push_back({prev, text.size(), false});
    if (invert)
        for (Span &s : spans)
            s.isMatch = !s.isMatch;

    std::vector<Span> merged;
    bool previousMatch = false;
    switch (behavior) {
    case SplitBehavior::Removed:
        for (const Span &s : spans)
            if (!s.isMatch)
                merged.push_back(s);
        break;
    case SplitBehavior::Isolated: merged = spans; break;
    case SplitBehavior::MergedWithPrevious:
        for (const Span &s : spans) {
            if (s.isMatch && !previousMatch && !merged.empty())
                merged.back().end = s.end;
            else
                merged.push_back(s);
            previousMatch = s.isMatch;
        }
        break;
    case SplitBehavior::MergedWithNext:
        for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
            if (it->isMatch && !previousMatch && !merged.empty())
                merged.back().begin = it->begin;
            else
                merged.push_back(*it);
            previousMatch = it->isMatch;
        }
        std::reverse(merged.begin(), merged.end());
        break;
    case SplitBehavior::Contiguous:
        for (const Span &s : spans) {
            if (s.isMatch == previousMatch && !merged.empty())
                merged.back().end = s.end;
            else
                merged.push_back(s);
            previousMatch = s.isMatch;
        }
        break;
    }
    for (const Span &s : merged)
        if (s.end > s.begin)
            out.emplace_back(text.substr(s.begin, s.end - s.begin));
}

class SplitPreTokenizer final : public PreTokenizer {
public:
    SplitPreTokenizer(const Json &config, const std::string &context)
        : m_pattern(requireField(config, "pattern", Json::value_t::object, context), context + ".pattern"),
          m_behavior(parseBehavior(requireField(config, "behavior", Json::value_t::string, context).get<std::string>(),
                                   context)),
          m_invert(config.value("invert", false)) {}
    void apply(std::vector<std::string> &pieces, bool) const override {
        std::vector<std::string> out;
        out.reserve(pieces.size() * 4);
        for (const std::string &piece : pieces)
            splitAt(piece, m_pattern.matches(piece), m_behavior, m_invert, out);
        pieces.swap(out);
    }

private:
    TokenizerPattern m_pattern;
    SplitBehavior m_behavior;
    bool m_invert;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
public:
    ByteLevelPreTokenizer(const Json &config, const std::string &context)
        : m_addPrefixSpace(config.value("add_prefix_space", false)) {
        if (config.value("use_regex", true))
            m_regex = std::make_unique<TokenizerRegex>(kGpt2Pattern, context);
    }
    void apply(std::vector<std::string> &pieces, bool) const override {
        std::vector<std::string> words;
        words.reserve(pieces.size());
        for (std::string &piece : pieces) {
            if (m_addPrefixSpace && (piece.empty() || piece[0] != ' '))
                piece.insert(piece.begin(), ' ');
            if (m_regex)
                splitAt(piece, m_regex->matches(piece), SplitBehavior::Isolated, false, words);
            else if (!piece.empty())
                words.push_back(std::move(piece));
        }
        const auto &table = unicode::byteToChar();
        for (std::string &word : words) {
            std::string mapped;
            mapped.reserve(word.size() * 2);
            for (char c : word)
                mapped += table[static_cast<unsigned char>(c)];
            word.swap(mapped);
        }
        pieces.swap(words);
    }

private:
    bool m_addPrefixSpace;
    std::unique_ptr<TokenizerRegex> m_regex;
};

enum class PrependScheme { Always, First, Never };

PrependScheme metaspaceScheme(const Json &config, const std::string &context) {
    // Before `tokenizers` 0.14 the choice was add_prefix_space alone.
    if (!config.contains("prepend_scheme"))
        return config.value("add_prefix_space", true) ? PrependScheme::Always : PrependScheme::Never;
    const std::string scheme = config["prepend_scheme"].is_string() ? config["prepend_scheme"].get<std::string>() : "";
    if (scheme == "always")
        return PrependScheme::Always;
    if (scheme == "first")
        return PrependScheme::First;
    if (scheme == "never")
        return PrependScheme::Never;
    throw invalidInput(context + ".prepend_scheme: \"" + scheme + "\" is not valid; valid: always, first, never");
}

class MetaspacePreTokenizer final : public PreTokenizer {
public:
    MetaspacePreTokenizer(const Json &config, const std::string &context)
        : m_replacement(config.value("replacement", std::string("\u2581"))), m_scheme(metaspaceScheme(config, context)),
          m_split(config.value("split", true)) {}
    void apply(std::vector<std::string> &pieces, bool atTextStart) const override {
        std::vector<std::string> out;
        for (size_t i = 0; i < pieces.size(); ++i) {
            std::string piece = unicode::replaceAll(pieces[i], " ", m_replacement);
            const bool startsWithReplacement = piece.compare(0, m_replacement.size(), m_replacement) == 0;
            if (!startsWithReplacement &&
                (m_scheme == PrependScheme::Always || (m_scheme == PrependScheme::First && atTextStart && i == 0)))
                piece.insert(0, m_replacement);
            if (!m_split) {
                out.push_back(std::move(piece));
                continue;
            }
            std::vector<std::pair<size_t, size_t>> matches;
            for (size_t pos = piece.find(m_replacement); pos != std::string::npos;
                 pos = piece.find(m_replacement, pos + m_replacement.size()))
                matches.emplace_back(pos, pos + m_replacement.size());
            splitAt(piece, matches, SplitBehavior::MergedWithNext, false, out);
        }
        pieces.swap(out);
    }

private:
    std::string m_replacement;
    PrependScheme m_scheme;
    bool m_split;
};

class DigitsPreTokenizer final : public PreTokenizer {
public:
    explicit DigitsPreTokenizer(bool individual) : m_individual(individual) {}
    void apply(std::vector<std::string> &pieces, bool) const override {
        std::vector<std::string> out;
        for (const std::string &piece : pieces) {
            std::vector<std::pair<size_t, size_t>> matches;
            for (size_t i = 0; i < piece.size();) {
                if (piece[i] < '0' || piece[i] > '9') {
                    ++i;
                    continue;
                }
                size_t end = i + 1;
                if (!m_individual)
                    while (end < piece.size() && piece[end] >= '0' && piece[end] <= '9')
                        ++end;
                matches.emplace_back(i, end);
                i = end;
            }
            splitAt(piece, matches, SplitBehavior::Isolated, false, out);
        }
        pieces.swap(out);
    }

private:
    bool m_individual;
};

class WhitespaceSplitPreTokenizer final : public PreTokenizer {
public:
    void apply(std::vector<std::string> &pieces, bool) const override {
        std::vector<std::string> out;
        for (const std::string &piece : pieces) {
            std::vector<std::pair<size_t, size_t>> matches;
            for (size_t pos = 0; pos < piece.size();) {
                const size_t start = pos;
                if (unicode::isWhitespace(unicode::nextCodePoint(piece, pos))) {
                    if (!matches.empty() && matches.back().second == start)
                        matches.back().second = pos;
                    else
                        matches.emplace_back(start, pos);
                }
            }
            splitAt(piece, matches, SplitBehavior::Removed, false, out);
        }
        pieces.swap(out);
    }
};

class SequencePreTokenizer final : public PreTokenizer {
public:
    explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> stages) : m_stages(std::move(stages)) {}
    void apply(std::vector<std::string> &pieces, bool atTextStart) const override {
        for (const auto &stage : m_stages)
            stage->apply(pieces, atTextStart);
    }

private:
    std::vector<std::unique_ptr<PreTokenizer>> m_stages;
};

} // namespace

std::unique_ptr<PreTokenizer> makePreTokenizer(const Json &config, const std::string &context) {
    if (config.is_null())
        return nullptr;
    const std::string type = requireField(config, "type", Json::value_t::string, context).get<std::string>();
    if (type == "Split")
        return std::make_unique<SplitPreTokenizer>(config, context);
    if (type == "ByteLevel")
        return std::make_unique<ByteLevelPreTokenizer>(config, context);
    if (type == "Metaspace")
        return std::make_unique<MetaspacePreTokenizer>(config, context);
    if (type == "Digits")
        return std::make_unique<DigitsPreTokenizer>(config.value("individual_digits", false));
    if (type == "WhitespaceSplit")
        return std::make_unique<WhitespaceSplitPreTokenizer>();
    if (type == "Sequence") {
        const Json &list = requireField(config, "pretokenizers", Json::value_t::array, context);
        std::vector<std::unique_ptr<PreTokenizer>> stages;
        for (size_t i = 0; i < list.size(); ++i)
            if (auto stage = makePreTokenizer(list[i], context + ".pretokenizers[" + std::to_string(i) + "]"))
                stages.push_back(std::move(stage));
        return std::make_unique<SequencePreTokenizer>(std::move(stages));
    }
    throw invalidInput(context + ": pre-tokenizer type \"" + type +
                       "\" is not supported; supported: Split, ByteLevel, Metaspace, Digits, WhitespaceSplit, "
                       "Sequence");
}

} // namespace headroom
