// Tokenizer::load: picks the tokenizer kind of a model folder and fills in what both kinds share
// (special token ids, stop ids, chat template) from tokenizer_config.json.
#include "headroom/tokenizer.h"

#include "tokenizer/tokenizer_config.h"
#include "tokenizer/tokenizer_hf.h"
#include "tokenizer/tokenizer_spm.h"
#include "headroom/error.h"

#include <sys/stat.h>

#include <algorithm>

namespace headroom {

Tokenizer::~Tokenizer() = default;

// The end-of-turn tokens of the chat formats Headroom knows; generation stops at any of them.
static const char *const kEndOfTurnTokens[] = {"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<end_of_turn>"};

struct TokenizerLoader {
    static void finish(Tokenizer &tok, const std::string &modelDir, const TokenizerConfig &config) {
        tok.m_modelDir = modelDir;
        tok.m_chatTemplateSource = config.chatTemplate;
        // A config token missing from the vocabulary leaves the kind's own default (if any).
        auto resolve = [&](const std::optional<std::string> &token, std::optional<int32_t> &target) {
            if (token)
                if (auto id = tok.lookupToken(*token))
                    target = id;
        };
        resolve(config.bosToken, tok.m_bosId);
        resolve(config.eosToken, tok.m_eosId);
        resolve(config.padToken, tok.m_padId);
        for (const auto &token : {config.bosToken, config.eosToken, config.unkToken, config.padToken})
            if (token)
                if (auto id = tok.lookupToken(*token))
                    tok.m_specialIds.insert(*id);

        if (tok.m_eosId)
            tok.m_stopIds.push_back(*tok.m_eosId);
        for (const char *token : kEndOfTurnTokens) {
            const auto id = tok.lookupToken(token);
            if (id && std::find(tok.m_stopIds.begin(), tok.m_stopIds.end(), *id) == tok.m_stopIds.end())
                tok.m_stopIds.push_back(*id);
        }
    }
};

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string &modelDir) {
    struct stat st {};
    if (::stat(modelDir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw invalidInput(modelDir + ": not a folder; expected a Hugging Face model folder with a tokenizer.json "
                                      "or tokenizer.model");
    // The parsers check the fields they rely on; a JSON type error anywhere else (a number where a
    // flag belongs) still becomes an error naming the file.
    TokenizerConfig config;
    try {
        config = readTokenizerConfig(modelDir);
    } catch (const nlohmann::json::exception &e) {
        throw invalidInput(modelDir + "/tokenizer_config.json: unexpected content (" + e.what() + ")");
    }
    std::unique_ptr<Tokenizer> tok;
    const std::string json = modelDir + "/tokenizer.json", model = modelDir + "/tokenizer.model";
    if (fileExists(json)) {
        try {
            tok = std::make_unique<HfTokenizer>(json, config);
        } catch (const nlohmann::json::exception &e) {
            throw invalidInput(json + ": unexpected content (" + e.what() + ")");
        }
    } else if (fileExists(model)) {
        tok = std::make_unique<SpmTokenizer>(model, config);
    } else {
        throw invalidInput(modelDir + ": has no tokenizer.json or tokenizer.model; a Hugging Face model folder needs "
                                      "one of them");
    }
    TokenizerLoader::finish(*tok, modelDir, config);
    return tok;
}

} // namespace headroom
