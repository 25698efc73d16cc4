#include "tokenizer/tokenizer_config.h"

#include "headroom/error.h"
#include "io/json_text.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace headroom {

bool fileExists(const std::string &path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::optional<std::string> tokenContent(const nlohmann::json &value) {
    if (value.is_string())
        return value.get<std::string>();
    if (value.is_object() && value.contains("content") && value["content"].is_string())
        return value["content"].get<std::string>();
    return std::nullopt;
}

namespace {

void readSpecialTokens(const nlohmann::json &j, TokenizerConfig &config, bool overwrite) {
    const std::pair<const char *, std::optional<std::string> *> fields[] = {
        {"bos_token", &config.bosToken},  {"eos_token", &config.eosToken}, {"unk_token", &config.unkToken},
        {"pad_token", &config.padToken},  {"sep_token", &config.sepToken}, {"cls_token", &config.clsToken},
        {"mask_token", &config.maskToken}};
    for (const auto &[key, target] : fields) {
        if ((overwrite || !*target) && j.contains(key))
            *target = tokenContent(j[key]);
    }
    if ((overwrite || config.additionalSpecialTokens.empty()) && j.contains("additional_special_tokens") &&
        j["additional_special_tokens"].is_array()) {
        config.additionalSpecialTokens.clear();
        for (const auto &t : j["additional_special_tokens"])
            if (auto content = tokenContent(t))
                config.additionalSpecialTokens.push_back(*content);
    }
}

std::optional<bool> optionalBool(const nlohmann::json &j, const char *key) {
    if (j.contains(key) && j[key].is_boolean())
        return j[key].get<bool>();
    return std::nullopt;
}

void setChatTemplates(TokenizerConfig &config, std::vector<std::pair<std::string, std::string>> templates,
                      const char *file) {
    templates.erase(std::remove_if(templates.begin(), templates.end(), [](const auto &t) { return t.second.empty(); }),
                    templates.end());
    if (templates.empty())
        return;
    config.chatTemplates = std::move(templates);
    config.chatTemplateFile = file;
    config.chatTemplate = config.chatTemplates.front().second;
    for (const auto &[name, text] : config.chatTemplates)
        if (name == "default")
            config.chatTemplate = text;
}

} // namespace

std::vector<std::pair<std::string, std::string>> chatTemplatesOf(const nlohmann::json &value) {
    std::vector<std::pair<std::string, std::string>> templates;
    if (value.is_string())
        templates.emplace_back("default", value.get<std::string>());
    if (value.is_array())
        for (const auto &entry : value)
            if (entry.is_object() && entry.contains("template") && entry["template"].is_string())
                templates.emplace_back(entry.value("name", std::string()), entry["template"].get<std::string>());
    return templates;
}

TokenizerConfig readTokenizerConfig(const std::string &modelDir) {
    TokenizerConfig config;
    const std::string configPath = modelDir + "/tokenizer_config.json";
    if (fileExists(configPath)) {
        const nlohmann::json j = detail::readJsonFile(configPath);
        if (!j.is_object())
            throw invalidInput(configPath + ": expected a JSON object at the top level");
        readSpecialTokens(j, config, true);
        config.addBosToken = optionalBool(j, "add_bos_token");
        config.addEosToken = optionalBool(j, "add_eos_token");
        config.cleanUpTokenizationSpaces = optionalBool(j, "clean_up_tokenization_spaces");
        if (j.contains("chat_template"))
            setChatTemplates(config, chatTemplatesOf(j["chat_template"]), "tokenizer_config.json");
        if (j.contains("tokenizer_class") && j["tokenizer_class"].is_string())
            config.tokenizerClass = j["tokenizer_class"].get<std::string>();
        if (j.contains("added_tokens_decoder") && j["added_tokens_decoder"].is_object()) {
            for (const auto &[key, value] : j["added_tokens_decoder"].items()) {
                AddedTokenSpec spec;
                try {
                    spec.id = std::stoi(key);
                } catch (const std::exception &) {
                    throw invalidInput(configPath + ": added_tokens_decoder key '" + key +
                                       "' is not a token id; keys are decimal ids");
                }
                auto content = tokenContent(value);
                if (!content || !value.is_object())
                    throw invalidInput(configPath + ": added_tokens_decoder[" + key +
                                       "] must be an object with a \"content\" string");
                spec.content = *content;
                spec.special = value.value("special", false);
                spec.lstrip = value.value("lstrip", false);
                spec.rstrip = value.value("rstrip", false);
                spec.singleWord = value.value("single_word", false);
                spec.normalized = value.value("normalized", false);
                config.addedTokensDecoder.push_back(spec);
            }
        }
    }
    // Newer transformers save the template beside the config, and that file wins.
    const std::string jinjaPath = modelDir + "/chat_template.jinja";
    const std::string jsonPath = modelDir + "/chat_template.json";
    if (fileExists(jinjaPath)) {
        std::ifstream in(jinjaPath, std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        setChatTemplates(config, {{"default", text.str()}}, "chat_template.jinja");
    } else if (config.chatTemplates.empty() && fileExists(jsonPath)) {
        const nlohmann::json j = detail::readJsonFile(jsonPath);
        if (j.is_object() && j.contains("chat_template"))
            setChatTemplates(config, chatTemplatesOf(j["chat_template"]), "chat_template.json");
    }
    // special_tokens_map.json only fills what tokenizer_config.json left out.
    const std::string mapPath = modelDir + "/special_tokens_map.json";
    if (fileExists(mapPath)) {
        const nlohmann::json j = detail::readJsonFile(mapPath);
        if (!j.is_object())
            throw invalidInput(mapPath + ": expected a JSON object at the top level");
        readSpecialTokens(j, config, false);
    }
    return config;
}

} // namespace headroom
