#include "tokenizer/tokenizer_hf.h"

#include "headroom/error.h"
#include "io/json_text.h"

#include <algorithm>

namespace headroom {

using Json = nlohmann::json;

namespace {

// transformers' clean_up_tokenization(): removes the space a word-level detokenizer would leave
// before punctuation and English contractions. Applied on decode when the config asks for it.
std::string cleanUpTokenizationSpaces(std::string text) {
    static const std::pair<const char *, const char *> kRules[] = {
        {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto &[from, to] : kRules)
        if (text.find(from) != std::string::npos)
            text = unicode::replaceAll(text, from, to);
    return text;
}

// transformers rebuilds the post-processor of these classes from add_bos_token/add_eos_token.
bool isLlamaStyleClass(const std::string &tokenizerClass) {
    static const char *const kClasses[] = {"LlamaTokenizer",         "LlamaTokenizerFast", "CodeLlamaTokenizer",
                                           "CodeLlamaTokenizerFast", "GemmaTokenizer",     "GemmaTokenizerFast"};
    for (const char *name : kClasses)
        if (tokenizerClass == name)
            return true;
    return false;
}

} // namespace

HfTokenizer::HfTokenizer(const std::string &path, const TokenizerConfig &config) {
    const Json root = detail::readJsonFile(path);
    if (!root.is_object())
        throw invalidInput(path + ": expected a JSON object at the top level (a Hugging Face tokenizer.json)");
    m_model = std::make_unique<BpeModel>(requireField(root, "model", Json::value_t::object, path), path + ": model");
    readAddedTokens(root, config, path);
    m_normalizer = makeNormalizer(root.value("normalizer", Json()), path + ": normalizer");
    m_preTokenizer = makePreTokenizer(root.value("pre_tokenizer", Json()), path + ": pre_tokenizer");
    m_decoder = makeDecoder(root.value("decoder", Json()), path + ": decoder", m_addedContents);
    readPostProcessor(root.value("post_processor", Json()), path + ": post_processor");
    if (isLlamaStyleClass(config.tokenizerClass))
        applyLlamaPostProcessor(config);
    // Off unless the config asks for it: transformers announced false as its default from 4.45.
    m_cleanUpSpaces = config.cleanUpTokenizationSpaces.value_or(false);
}

HfTokenizer::~HfTokenizer() = default;

void HfTokenizer::readAddedTokens(const Json &root, const TokenizerConfig &config, const std::string &path) {
    if (root.contains("added_tokens") && !root["added_tokens"].is_null()) {
        const Json &list = requireField(root, "added_tokens", Json::value_t::array, path);
        for (size_t i = 0; i < list.size(); ++i) {
            const std::string context = path + ": added_tokens[" + std::to_string(i) + "]";
            const Json &entry = list[i];
            AddedTokenSpec spec;
            spec.id = requireField(entry, "id", Json::value_t::number_integer, context).get<int32_t>();
            spec.content = requireField(entry, "content", Json::value_t::string, context).get<std::string>();
            if (spec.id < 0 || spec.content.empty())
                throw invalidInput(context + ": needs a non-negative id and non-empty content");
            spec.special = entry.value("special", false);
            spec.lstrip = entry.value("lstrip", false);
            spec.rstrip = entry.value("rstrip", false);
            spec.singleWord = entry.value("single_word", false);
            spec.normalized = entry.value("normalized", false);
            m_addedTokens.push_back(spec);
        }
    }
    // tokenizer_config.json may know added tokens the tokenizer.json lacks (transformers adds them).
    for (const AddedTokenSpec &spec : config.addedTokensDecoder) {
        const bool known = std::any_of(m_addedTokens.begin(), m_addedTokens.end(), [&](const AddedTokenSpec &t) {
            return t.content == spec.content || t.id == spec.id;
        });
        if (!known && !spec.content.empty())
            m_addedTokens.push_back(spec);
    }
    for (const AddedTokenSpec &spec : m_addedTokens) {
        m_addedIdByContent.emplace(spec.content, spec.id);
        m_addedContentById.emplace(spec.id, spec.content);
        m_addedContents.insert(spec.content);
        if (spec.special)
            m_specialIds.insert(spec.id);
    }
    for (const std::string &token : config.additionalSpecialTokens)
        if (auto id = lookupToken(token))
            m_specialIds.insert(*id);
    m_matcher = AddedTokenMatcher(m_addedTokens);
}

void HfTokenizer::readPostProcessor(const Json &config, const std::string &context) {
    if (config.is_null())
        return;
    const std::string type = requireField(config, "type", Json::value_t::string, context).get<std::string>();
    auto idOf = [&](const std::string &token, const std::string &where) {
        const auto id = lookupToken(token);
        if (!id)
            throw invalidInput(where + ": token \"" + token + "\" is not in the vocabulary");
        return *id;
    };
    if (type == "TemplateProcessing") {
        const Json &single = requireField(config, "single", Json::value_t::array, context);
        const Json specialTokens = config.value("special_tokens", Json::object());
        bool afterSequence = false;
        for (size_t i = 0; i < single.size(); ++i) {
            const Json &item = single[i];
            const std::string where = context + ".single[" + std::to_string(i) + "]";
            if (item.contains("Sequence")) {
                afterSequence = true;
                continue;
            }
            const auto name = requireField(requireField(item, "SpecialToken", Json::value_t::object, where), "id",
                                           Json::value_t::string, where + ".SpecialToken")
                                  .get<std::string>();
            std::vector<int32_t> ids;
            if (specialTokens.contains(name) && specialTokens[name].contains("ids"))
                ids = specialTokens[name]["ids"].get<std::vector<int32_t>>();
            else
                ids.push_back(idOf(name, where));
            auto &target = afterSequence ? m_suffixIds : m_prefixIds;
            target.insert(target.end(), ids.begin(), ids.end());
        }
    } else if (type == "RobertaProcessing" || type == "BertProcessing") {
        // "cls": ["<s>", 0], "sep": ["</s>", 2]
        const Json &cls = requireField(config, "cls", Json::value_t::array, context);
        const Json &sep = requireField(config, "sep", Json::value_t::array, context);
        if (cls.size() != 2 || !cls[1].is_number_integer() || sep.size() != 2 || !sep[1].is_number_integer())
            throw invalidInput(context + ": cls and sep must be [token, id] pairs");
        m_prefixIds.push_back(cls[1].get<int32_t>());
        m_suffixIds.push_back(sep[1].get<int32_t>());
    } else if (type == "Sequence") {
        const Json &list = requireField(config, "processors", Json::value_t::array, context);
        for (size_t i = 0; i < list.size(); ++i)
            readPostProcessor(list[i], context + ".processors[" + std::to_string(i) + "]");
    } else if (type != "ByteLevel") { // ByteLevel only adjusts offsets
        throw invalidInput(context + ": post-processor type \"" + type +
                           "\" is not supported; supported: TemplateProcessing, ByteLevel, RobertaProcessing, "
                           "BertProcessing, Sequence");
    }
}

void HfTokenizer::applyLlamaPostProcessor(const TokenizerConfig &config) {
    // As LlamaTokenizerFast.update_post_processor(): BOS unless add_bos_token is false, EOS only
    // when add_eos_token is true.
    const auto bos = config.bosToken ? lookupToken(*config.bosToken) : std::nullopt;
    const auto eos = config.eosToken ? lookupToken(*config.eosToken) : std::nullopt;
    m_prefixIds.clear();
    m_suffixIds.clear();
    if (config.addBosToken.value_or(true) && bos)
        m_prefixIds.push_back(*bos);
    if (config.addEosToken.value_or(false) && eos)
        m_suffixIds.push_back(*eos);
}

std::vector<int32_t> HfTokenizer::encode(const std::string &text, bool addSpecialTokens) const {
    std::vector<int32_t> ids;
    ids.reserve(text.size() / 3 + m_prefixIds.size() + m_suffixIds.size() + 1);
    if (addSpecialTokens)
        ids = m_prefixIds;
    std::vector<AddedTokenMatcher::Section> sections;
    if (m_matcher.empty())
        sections.push_back({text});
    else
        sections = m_matcher.split(text);

    std::vector<std::string> pieces;
    for (const auto &section : sections) {
        if (section.id >= 0) {
            ids.push_back(section.id);
            continue;
        }
        std::string normalized(section.text);
        if (m_normalizer)
            normalized = m_normalizer->apply(std::move(normalized));
        if (normalized.empty())
            continue;
        pieces.clear();
        pieces.push_back(std::move(normalized));
        if (m_preTokenizer)
            m_preTokenizer->apply(pieces, section.text.data() == text.data());
        for (const std::string &piece : pieces)
            m_model->encodeWord(piece, ids);
    }
    if (addSpecialTokens)
        ids.insert(ids.end(), m_suffixIds.begin(), m_suffixIds.end());
    return ids;
}

const std::string *HfTokenizer::tokenString(int32_t id) const {
    if (const auto it = m_addedContentById.find(id); it != m_addedContentById.end())
        return &it->second;
    return m_model->idToToken(id);
}

std::string HfTokenizer::decode(const std::vector<int32_t> &ids, bool skipSpecialTokens) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int32_t id : ids) {
        if (skipSpecialTokens && isSpecial(id))
            continue;
        if (const std::string *token = tokenString(id))
            tokens.push_back(*token);
    }
    std::string text;
    if (m_decoder) {
        m_decoder->apply(tokens);
        for (const std::string &t : tokens)
            text += t;
    } else { // `tokenizers` joins undecoded tokens with spaces
        for (size_t i = 0; i < tokens.size(); ++i)
            text += (i ? " " : "") + tokens[i];
    }
    return m_cleanUpSpaces ? cleanUpTokenizationSpaces(std::move(text)) : text;
}

int32_t HfTokenizer::vocabSize() const {
    int32_t size = m_model->size();
    for (const AddedTokenSpec &spec : m_addedTokens)
        size = std::max(size, spec.id + 1);
    return size;
}

std::optional<std::string> HfTokenizer::idToToken(int32_t id) const {
    if (const std::string *token = tokenString(id))
        return *token;
    return std::nullopt;
}

std::optional<int32_t> HfTokenizer::lookupToken(const std::string &token) const {
    if (const auto it = m_addedIdByContent.find(token); it != m_addedIdByContent.end())
        return it->second;
    return m_model->tokenToId(token);
}

} // namespace headroom
