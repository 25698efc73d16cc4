// What tokenizer_config.json and special_tokens_map.json say about a tokenizer: its special
// tokens, whether BOS/EOS are added, the chat template. Read by both tokenizer kinds.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
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
    std::optional<std::string> bosToken, eosToken, unkToken, padToken, sepToken, clsToken, maskToken;
    std::optional<bool> addBosToken, addEosToken;
    std::optional<bool> cleanUpTokenizationSpaces;
    std::vector<std::string> additionalSpecialTokens;
    std::vector<AddedTokenSpec> addedTokensDecoder;
    // The chat templates by name; a plain string is the one named "default". Read as transformers
    // reads them: chat_template.jinja beside the config replaces tokenizer_config.json's
    // chat_template; chat_template.json (a processor's file, which AutoTokenizer ignores) is read
    // only when neither has one, so that a multimodal folder that keeps its template there has one.
    std::vector<std::pair<std::string, std::string>> chatTemplates;
    std::string chatTemplateFile; // where they came from: "chat_template.jinja", ...; "" when none
    std::string chatTemplate; // the "default" one, else the first ("" when none)
    std::string tokenizerClass; // "LlamaTokenizer", "PreTrainedTokenizerFast", ...
};

// Reads <modelDir>/tokenizer_config.json and <modelDir>/special_tokens_map.json, and the chat
// templates as described above; a missing file counts as empty, a corrupt one throws invalidInput
// naming it.
TokenizerConfig readTokenizerConfig(const std::string &modelDir);

// A chat_template field's templates by name: a string is the one named "default", a list holds
// {"name", "template"} objects.
std::vector<std::pair<std::string, std::string>> chatTemplatesOf(const nlohmann::json &value);

// The string of a token field, which may be "text", {"content": "text", ...} or null.
std::optional<std::string> tokenContent(const nlohmann::json &value);

bool fileExists(const std::string &path);

} // namespace headroom
