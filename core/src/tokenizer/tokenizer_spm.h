// The tokenizer.model kind of Tokenizer: a sentencepiece model run by the plug-in
// libheadroom_sentencepiece.so (see tokenizer_spm_api.h for why it is a plug-in).
//
// Behaves like transformers' slow LlamaTokenizer in legacy mode: special tokens written in the text
// (the model's control pieces, <unk>, and the config's special/added tokens) are cut out first,
// and each stretch of text between them is encoded by sentencepiece on its own. Decoding joins
// sentencepiece's decoding of each run of ordinary ids with the special tokens' text.
//
// The plug-in is looked for next to the running executable, then in ../lib/headroom/ and
// ../lib/<multiarch>/headroom/ relative to it, then in $HEADROOM_PLUGIN_DIR; it is loaded once per
// process with dlopen(RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND).
#pragma once

#include "tokenizer/tokenizer_added_tokens.h"
#include "tokenizer/tokenizer_config.h"
#include "headroom/tokenizer.h"

#include <unordered_map>

struct HeadroomSpmModel;

namespace headroom {

struct SpmPlugin;

class SpmTokenizer final : public Tokenizer {
public:
    // Throws runtimeFailure when the plug-in is missing or unusable, invalidInput when the file
    // is not a sentencepiece model.
    SpmTokenizer(const std::string &path, const TokenizerConfig &config);
    ~SpmTokenizer() override;

    std::vector<int32_t> encode(const std::string &text, bool addSpecialTokens = false) const override;
    std::string decode(const std::vector<int32_t> &ids, bool skipSpecialTokens = false) const override;
    int32_t vocabSize() const override;
    std::string kind() const override { return "tokenizer.model"; }
    std::optional<std::string> idToToken(int32_t id) const override;

    // Where the plug-in was loaded from (loading it if needed); throws like the constructor.
    static std::string pluginPath();

private:
    std::optional<int32_t> lookupToken(const std::string &token) const override;
    void encodeText(std::string_view text, std::vector<int32_t> &out) const;

    const SpmPlugin *m_plugin = nullptr;
    HeadroomSpmModel *m_model = nullptr;
    std::string m_path;
    int32_t m_pieceCount = 0;
    std::unordered_map<int32_t, std::string> m_addedContentById; // tokens written as text in decode
    std::unordered_map<std::string, int32_t> m_addedIdByContent;
    AddedTokenMatcher m_matcher;
    bool m_addBos = true, m_addEos = false;
};

} // namespace headroom
