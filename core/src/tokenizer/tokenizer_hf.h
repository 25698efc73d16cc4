// The tokenizer.json kind of Tokenizer: added-token matching, normalizer, pre-tokenizer, BPE
// model, post-processor (BOS/EOS for addSpecialTokens) and decoder, wired as Hugging Face
// `tokenizers` runs them, plus transformers' clean_up_tokenization_spaces on decode.
#pragma once

#include "tokenizer/tokenizer_added_tokens.h"
#include "tokenizer/tokenizer_bpe.h"
#include "tokenizer/tokenizer_config.h"
#include "tokenizer/tokenizer_pipeline.h"
#include "headroom/tokenizer.h"

#include <memory>
#include <unordered_map>
#include <unordered_set>

namespace headroom {

class HfTokenizer final : public Tokenizer {
public:
    // path: the tokenizer.json; config: what tokenizer_config.json says. Throws invalidInput
    // naming the file and the JSON path of anything wrong or unsupported.
    HfTokenizer(const std::string &path, const TokenizerConfig &config);
    ~HfTokenizer() override;

    std::vector<int32_t> encode(const std::string &text, bool addSpecialTokens = false) const override;
    std::string decode(const std::vector<int32_t> &ids, bool skipSpecialTokens = false) const override;
    int32_t vocabSize() const override;
    std::string kind() const override { return "tokenizer.json"; }
    std::optional<std::string> idToToken(int32_t id) const override;

private:
    std::optional<int32_t> lookupToken(const std::string &token) const override;
    void readAddedTokens(const nlohmann::json &root, const TokenizerConfig &config, const std::string &path);
    void readPostProcessor(const nlohmann::json &config, const std::string &context);
    void applyLlamaPostProcessor(const TokenizerConfig &config);
    const std::string *tokenString(int32_t id) const;

    std::unique_ptr<BpeModel> m_model;
    std::vector<AddedTokenSpec> m_addedTokens;
    std::unordered_map<std::string, int32_t> m_addedIdByContent;
    std::unordered_map<int32_t, std::string> m_addedContentById;
    std::unordered_set<std::string> m_addedContents; // the ByteLevel decoder keeps a reference
    AddedTokenMatcher m_matcher;
    std::unique_ptr<Normalizer> m_normalizer;
    std::unique_ptr<PreTokenizer> m_preTokenizer;
    std::unique_ptr<Decoder> m_decoder;
    std::vector<int32_t> m_prefixIds, m_suffixIds; // what addSpecialTokens puts around the text
    bool m_cleanUpSpaces = false;
};

} // namespace headroom
