// TokenizerPattern and requireField: the small shared parts of the tokenizer.json stage factories.
#include "tokenizer/tokenizer_pipeline.h"

#include "headroom/error.h"

namespace headroom {

namespace {

const char *typeName(nlohmann::json::value_t type) {
    switch (type) {
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "true or false";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    default: return "a value";
    }
}

bool hasType(const nlohmann::json &value, nlohmann::json::value_t type) {
    if (type == nlohmann::json::value_t::number_integer || type == nlohmann::json::value_t::number_unsigned)
        return value.is_number_integer();
    return value.type() == type;
}

} // namespace

const nlohmann::json &requireField(const nlohmann::json &object, const char *key, nlohmann::json::value_t type,
                                   const std::string &context) {
    if (!object.is_object() || !object.contains(key))
        throw invalidInput(context + ": missing field \"" + key + "\" (" + typeName(type) + ")");
    const nlohmann::json &value = object[key];
    if (!hasType(value, type))
        throw invalidInput(context + "." + key + ": expected " + typeName(type) + ", found " + value.type_name());
    return value;
}

TokenizerPattern::TokenizerPattern(const nlohmann::json &pattern, const std::string &context) {
    if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string()) {
        m_literal = pattern["String"].get<std::string>();
        if (m_literal.empty())
            throw invalidInput(context + ": the String pattern is empty; a non-empty string is needed");
    } else if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string()) {
        m_regex = std::make_unique<TokenizerRegex>(pattern["Regex"].get<std::string>(), context);
    } else {
        throw invalidInput(context + ": expected a pattern {\"String\": \"...\"} or {\"Regex\": \"...\"}, found " +
                           pattern.dump());
    }
}

std::vector<std::pair<size_t, size_t>> TokenizerPattern::matches(std::string_view text) const {
    if (m_regex)
        return m_regex->matches(text);
    std::vector<std::pair<size_t, size_t>> out;
    for (size_t pos = text.find(m_literal); pos != std::string_view::npos;
         pos = text.find(m_literal, pos + m_literal.size()))
        out.emplace_back(pos, pos + m_literal.size());
    return out;
}

std::string TokenizerPattern::replaceAll(std::string_view text, std::string_view replacement) const {
    if (m_regex)
        return m_regex->replaceAll(text, replacement);
    return unicode::replaceAll(text, m_literal, replacement);
}

} // namespace headroom
