// Text <-> token ids for the models Headroom fine-tunes, read from a Hugging Face model folder.
//
// Tokenizer::load(modelDir) picks the folder's tokenizer.json (the Hugging Face `tokenizers`
// format: BPE with byte-level or sentencepiece-style pre-processing, as in Llama 2/3, Qwen and
// Mistral) or, failing that, its tokenizer.model (sentencepiece, run through a plug-in because
// sentencepiece cannot share a process with LibTorch by plain linking; see docs/architecture.md). Either
// way tokenizer_config.json and special_tokens_map.json supply the special tokens, whether BOS/EOS
// are added, and the chat template source. The ids match Hugging Face's tokenizers (checked
// against reference goldens in tests/data/tokenizers).
//
//   auto tok = headroom::Tokenizer::load("models/llama");
//   std::vector<int32_t> ids = tok->encode("Hello", /*addSpecialTokens=*/true);
//   std::string text = tok->decode(ids, /*skipSpecialTokens=*/true);
//
// Special tokens written inside the text ("<|eot_id|>", "</s>") become their ids, as in
// transformers; this is how rendered chat templates are tokenized. encode() and decode() are const
// and safe to call from several threads at once (training data is tokenized in bulk). Problems
// with the files throw headroom::Error (InvalidInput) naming the file and what would be valid.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace headroom {

class Tokenizer {
public:
    // Loads from an HF model folder: tokenizer.json if present, else tokenizer.model
    // (sentencepiece via the plug-in); reads tokenizer_config.json and special_tokens_map.json
    // when present. Throws headroom::invalidInput naming the file for a missing or corrupt
    // tokenizer, runtimeFailure when the sentencepiece plug-in cannot be found or loaded.
    static std::unique_ptr<Tokenizer> load(const std::string &modelDir);

    virtual ~Tokenizer();
    Tokenizer(const Tokenizer &) = delete;
    Tokenizer &operator=(const Tokenizer &) = delete;

    // addSpecialTokens adds what the tokenizer's post-processor or config says (typically BOS).
    virtual std::vector<int32_t> encode(const std::string &text, bool addSpecialTokens = false) const = 0;
    // Ids outside the vocabulary are skipped. Bytes that do not form valid UTF-8 (a multi-byte
    // character cut in half) come out as U+FFFD.
    virtual std::string decode(const std::vector<int32_t> &ids, bool skipSpecialTokens = false) const = 0;
    // One past the largest id (model vocabulary plus added tokens).
    virtual int32_t vocabSize() const = 0;
    virtual std::string kind() const = 0; // "tokenizer.json" or "tokenizer.model"
    // The token's string as stored in the vocabulary ("Ġthe", "▁the", "<|eot_id|>"); nullopt for
    // an id out of range.
    virtual std::optional<std::string> idToToken(int32_t id) const = 0;

    std::optional<int32_t> bosId() const { return m_bosId; }
    std::optional<int32_t> eosId() const { return m_eosId; }
    std::optional<int32_t> padId() const { return m_padId; }
    // EOS plus the end-of-turn tokens (<|eot_id|>, <|eom_id|>, <|im_end|>, <end_of_turn>) that
    // exist in this vocabulary: generation stops at any of them.
    std::vector<int32_t> stopIds() const { return m_stopIds; }
    // Exact vocabulary or added-token lookup; nullopt when the string is not one token.
    std::optional<int32_t> tokenId(const std::string &token) const { return lookupToken(token); }
    bool isSpecial(int32_t id) const { return m_specialIds.count(id) > 0; }
    // The folder's default chat template (chat_template.jinja, else tokenizer_config.json's
    // chat_template, else chat_template.json's; "" if none), as ChatTemplate::forModel picks it.
    const std::string &chatTemplateSource() const { return m_chatTemplateSource; }
    // The folder this tokenizer was loaded from.
    const std::string &modelDir() const { return m_modelDir; }

protected:
    Tokenizer() = default;
    virtual std::optional<int32_t> lookupToken(const std::string &token) const = 0;

    // Filled by the loaders (tokenizer.cpp) once the subclass can look tokens up.
    std::string m_modelDir;
    std::optional<int32_t> m_bosId, m_eosId, m_padId;
    std::vector<int32_t> m_stopIds;
    std::unordered_set<int32_t> m_specialIds;
    std::string m_chatTemplateSource;

    friend struct TokenizerLoader;
};

} // namespace headroom
