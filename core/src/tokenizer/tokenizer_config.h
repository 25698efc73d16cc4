// What tokenizer_config.json and special_tokens_map.json say about a tokenizer: its special
// tokens, whether BOS/EOS are added, the chat template. Read by both tokenizer kinds.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace headroom {

// One entry of tokenizer.json's "added_tokens" or tokenizer_config.json's "added_tokens_decoder".
struct AddedTokenSpec {
    std::string content;
    int32_t id = -1;
    bool special = false;
    bool lstrip = false, rstrip = false, singleWord = false, normalized = false;
};

struct TokenizerConfig {
    std::optional<std::string> bosToken, eosToken, unkToken, padToken;
    std::optional<bool> addBosToken, addEosToken;
    std::optional<bool> cleanUpTokenizationSpaces;
    std::vector<std::string> additionalSpecialTokens;
    std::vector<AddedTokenSpec> addedTokensDecoder;
    std::string chatTemplate; // "" when none
    std::string tokenizerClass; // "LlamaTokenizer", "PreTrainedTokenizerFast", ...
};

// Reads <modelDir>/tokenizer_config.json and <modelDir>/special_tokens_map.json (and the chat
// template from chat_template.jinja / chat_template.json when the config has none); a missing file
// counts as empty, a corrupt one throws invalidInput naming it.
TokenizerConfig readTokenizerConfig(const std::string &modelDir);

// The string of a token field, which may be "text", {"content": "text", ...} or null.
std::optional<std::string> tokenContent(const nlohmann::json &value);

bool fileExists(const std::string &path);

} // namespace headroom
