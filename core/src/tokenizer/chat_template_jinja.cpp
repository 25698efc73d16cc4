// The model's own chat template: read from the folder as transformers reads it (tokenizer_config.h
// says where from), parsed once, and rendered with the context apply_chat_template passes.
#include "tokenizer/chat_template_internal.h"

#include "tokenizer/tokenizer_config.h"
#include "headroom/error.h"
#include "io/json_text.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace headroom {

namespace {

TokenizerConfig readConfig(const std::string &modelDir) {
    try {
        return readTokenizerConfig(modelDir);
    } catch (const nlohmann::json::exception &e) {
        throw invalidInput(modelDir + "/tokenizer_config.json: unexpected content (" + e.what() + ")");
    }
}

// transformers' special_tokens_map: the special tokens that are set, in its attribute order.
jinja::Object specialTokensOf(const TokenizerConfig &config) {
    jinja::Object tokens;
    const std::pair<const char *, const std::optional<std::string> *> fields[] = {
        {"bos_token", &config.bosToken},  {"eos_token", &config.eosToken}, {"unk_token", &config.unkToken},
        {"sep_token", &config.sepToken},  {"pad_token", &config.padToken}, {"cls_token", &config.clsToken},
        {"mask_token", &config.maskToken}};
    for (const auto &[name, token] : fields)
        if (*token && !(*token)->empty())
            tokens.set(name, **token);
    if (!config.additionalSpecialTokens.empty()) {
        jinja::Array list(config.additionalSpecialTokens.begin(), config.additionalSpecialTokens.end());
        tokens.set("additional_special_tokens", jinja::Value(std::move(list)));
    }
    return tokens;
}

std::string readText(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw invalidInput(path + ": cannot read the chat template");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// `label` names the templates in errors: "<file>: chat_template" or the .jinja file's path.
std::shared_ptr<ChatTemplate::JinjaTemplates> parseTemplates(std::vector<std::pair<std::string, std::string>> sources,
                                                             std::string origin, const std::string &label,
                                                             const TokenizerConfig &config) {
    auto templates = std::make_shared<ChatTemplate::JinjaTemplates>();
    templates->origin = std::move(origin);
    templates->specialTokens = specialTokensOf(config);
    const bool several = sources.size() > 1;
    for (const auto &[name, text] : sources) {
        templates->names.push_back(name);
        const std::string where = several ? label + " '" + name + "'" : label;
        // Only the templates apply_chat_template picks by itself are parsed: another named one
        // with a construct outside the subset must not make the model unusable.
        if (name == "default")
            templates->defaultTemplate = jinja::Template::parse(text, where);
        else if (name == "tool_use")
            templates->toolUse = jinja::Template::parse(text, where);
    }
    const auto main = std::find_if(sources.begin(), sources.end(), [](const auto &s) { return s.first == "default"; });
    templates->family = ChatTemplate::familyOf((main == sources.end() ? sources.front() : *main).second);
    templates->sources = std::move(sources);
    return templates;
}

} // namespace

std::string ChatTemplate::JinjaTemplates::render(const ChatRequest &request) const {
    // As transformers' get_chat_template: "tool_use" when tools are given and there is one, else "default".
    const std::optional<jinja::Template> &chosen = !request.tools.is_null() && toolUse ? toolUse : defaultTemplate;
    if (!chosen) {
        std::string list;
        for (const std::string &name : names)
            list += (list.empty() ? "'" : ", '") + name + "'";
        throw invalidInput(origin + ": has several chat templates (" + list +
                           ") and none named 'default', which is the one transformers uses");
    }
    jinja::Object context;
    context.set("messages", jinja::fromJson(request.messages));
    context.set("tools", request.tools.is_null() ? jinja::Value(nullptr) : jinja::fromJson(request.tools));
    context.set("documents", request.documents.is_null() ? jinja::Value(nullptr) : jinja::fromJson(request.documents));
    context.set("add_generation_prompt", request.addGenerationPrompt);
    // {**special_tokens_map, **kwargs}: a keyword argument overrides a special token of the same name.
    for (const auto &[name, value] : specialTokens)
        context.set(name, value);
    for (const auto &[key, value] : request.kwargs.items())
        context.set(key, jinja::fromJson(value));
    return chosen->render(jinja::Value(std::move(context)));
}

ChatTemplate ChatTemplate::forModel(const std::string &modelDir) {
    const TokenizerConfig config = readConfig(modelDir);
    if (config.chatTemplates.empty())
        return ChatTemplate(Family::Plain);
    const std::string path = modelDir + "/" + config.chatTemplateFile;
    const bool inJson = config.chatTemplateFile != "chat_template.jinja";
    ChatTemplate tmpl(Family::Jinja);
    tmpl.m_jinja =
        parseTemplates(config.chatTemplates, config.chatTemplateFile, inJson ? path + ": chat_template" : path, config);
    return tmpl;
}

ChatTemplate ChatTemplate::fromFile(const std::string &path, const std::string &modelDir) {
    const TokenizerConfig config = readConfig(modelDir);
    std::vector<std::pair<std::string, std::string>> sources;
    std::string label = path;
    // A tokenizer_config.json or chat_template.json (another model's) lends its chat_template.
    if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
        const nlohmann::json j = detail::readJsonFile(path);
        if (j.is_object() && j.contains("chat_template"))
            sources = chatTemplatesOf(j["chat_template"]);
        if (sources.empty())
            throw invalidInput(path + ": has no chat_template (a string, or a list of {name, template})");
        label += ": chat_template";
    } else {
        sources.emplace_back("default", readText(path));
    }
    ChatTemplate tmpl(Family::Jinja);
    tmpl.m_jinja = parseTemplates(std::move(sources), path, label, config);
    return tmpl;
}

} // namespace headroom
