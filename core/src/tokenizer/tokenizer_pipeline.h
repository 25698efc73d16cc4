// The stages of a tokenizer.json pipeline around the BPE model, each built from its JSON object:
//   Normalizer    text -> text (NFC, Prepend, Replace, Lowercase, Strip, Sequence)
//   PreTokenizer  text -> words (Split, ByteLevel, Metaspace, Digits, WhitespaceSplit, Sequence)
//   Decoder       tokens -> text pieces (ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip,
//                 Sequence)
// Semantics follow Hugging Face `tokenizers`; where transformers.js (the golden reference)
// differs in a case the reference files do not use, the Rust library wins. Factories return
// nullptr for a JSON null and throw invalidInput("<context>: ...") for anything unsupported.
#pragma once

#include "tokenizer/tokenizer_regex.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace headroom {

// A "pattern" object of tokenizer.json: {"String": "..."} or {"Regex": "..."}.
class TokenizerPattern {
public:
    TokenizerPattern(const nlohmann::json &pattern, const std::string &context);
    // Non-overlapping, non-empty matches, left to right.
    std::vector<std::pair<size_t, size_t>> matches(std::string_view text) const;
    std::string replaceAll(std::string_view text, std::string_view replacement) const;

private:
    std::string m_literal;
    std::unique_ptr<TokenizerRegex> m_regex;
};

class Normalizer {
public:
    virtual ~Normalizer() = default;
    virtual std::string apply(std::string text) const = 0;
};
std::unique_ptr<Normalizer> makeNormalizer(const nlohmann::json &config, const std::string &context);

class PreTokenizer {
public:
    virtual ~PreTokenizer() = default;
    // Splits every piece further (or rewrites it). atTextStart: pieces[0] begins the input text
    // (Metaspace's prepend_scheme "first" only prepends there).
    virtual void apply(std::vector<std::string> &pieces, bool atTextStart) const = 0;
};
std::unique_ptr<PreTokenizer> makePreTokenizer(const nlohmann::json &config, const std::string &context);

class Decoder {
public:
    virtual ~Decoder() = default;
    virtual void apply(std::vector<std::string> &tokens) const = 0;
};
// addedTokens: contents of the added tokens, which the ByteLevel decoder passes through unmapped.
// The set must outlive the decoder.
std::unique_ptr<Decoder> makeDecoder(const nlohmann::json &config, const std::string &context,
                                     const std::unordered_set<std::string> &addedTokens);

// Reads a field that must be present with the given JSON type; throws invalidInput otherwise.
const nlohmann::json &requireField(const nlohmann::json &object, const char *key, nlohmann::json::value_t type,
                                   const std::string &context);

} // namespace headroom
