// FieldDescriptor: describing, checking and parsing one training setting.
#include "headroom/error.h"
#include "headroom/train_config.h"

#include "io/json_text.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "config/format_number.h"
#include <sstream>

namespace headroom {

using detail::formatNumber;

namespace {

std::string joined(const std::vector<std::string> &items) {
    std::string out;
    for (const auto &item : items)
        out += (out.empty() ? "" : ", ") + item;
    return out;
}

std::string trimmed(const std::string &text) {
    const size_t begin = text.find_first_not_of(" \t\r\n");
    if (begin == std::string::npos)
        return {};
    return text.substr(begin, text.find_last_not_of(" \t\r\n") - begin + 1);
}

std::string lowercase(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
}

} // namespace

nlohmann::json FieldDescriptor::defaultValue() const { return get(TrainConfig{}); }

std::string FieldDescriptor::typeName() const {
    switch (type) {
    case Type::Bool: return "true or false";
    case Type::Integer: return "an integer";
    case Type::Number: return "a number";
    case Type::String: return "a string";
    case Type::StringList:
        return listKeyword.empty() ? "a list of strings" : "a list of strings or \"" + listKeyword + "\"";
    }
    return {};
}

std::string FieldDescriptor::constraintText() const {
    if (!choices.empty()) {
        if (type == Type::StringList)
            return "items from: " + joined(choices) + (listKeyword.empty() ? "" : "; or " + listKeyword);
        return "one of: " + joined(choices);
    }
    std::string text;
    if (minimum)
        text = (minimumExclusive ? "> " : ">= ") + formatNumber(*minimum);
    if (maximum)
        text += (text.empty() ? "" : " and ") + std::string(maximumExclusive ? "< " : "<= ") + formatNumber(*maximum);
    return text;
}

std::string FieldDescriptor::problem(const nlohmann::json &value) const {
    // "must be one of: nf4, fp4" for a choice; "must be a number > 0 and < 1" for a range.
    const std::string expected = "must be " + (choices.empty() ? typeName() + " " : "") + constraintText();
    if (type == Type::Integer || type == Type::Number) {
        const double number = value.get<double>();
        const bool tooLow = minimum && (minimumExclusive ? number <= *minimum : number < *minimum);
        const bool tooHigh = maximum && (maximumExclusive ? number >= *maximum : number > *maximum);
        const bool notAChoice =
            !choices.empty() && std::find(choices.begin(), choices.end(), value.dump()) == choices.end();
        if (tooLow || tooHigh || notAChoice || !std::isfinite(number))
            return expected + ", got " + detail::quoteForError(value);
    } else if (type == Type::String) {
        const auto &text = value.get_ref<const std::string &>();
        if (required && text.empty())
            return "must not be empty";
        if (!choices.empty() && std::find(choices.begin(), choices.end(), text) == choices.end())
            return expected + ", got " + detail::quoteForError(value);
    } else if (type == Type::StringList) {
        const auto items = value.is_string() ? std::vector<std::string>{value.get<std::string>()}
                                             : value.get<std::vector<std::string>>();
        if (items.empty())
            return "must not be empty (" + constraintText() + ")";
        if (!listKeyword.empty() && std::find(items.begin(), items.end(), listKeyword) != items.end()) {
            if (items.size() > 1)
                return "\"" + listKeyword + "\" stands for the whole list and cannot be combined with names";
            return {};
        }
        for (const auto &item : items) {
            if (!choices.empty() && std::find(choices.begin(), choices.end(), item) == choices.end())
                return "\"" + item + "\" is not valid (" + constraintText() + ")";
        }
    }
    return {};
}

nlohmann::json FieldDescriptor::parseText(const std::string &rawText) const {
    const std::string text = trimmed(rawText);
    auto refuse = [&]() { return invalidInput(path + " expects " + typeName() + ", got '" + rawText + "'"); };
    switch (type) {
    case Type::Bool: {
        const std::string word = lowercase(text);
        if (word == "true" || word == "1" || word == "yes" || word == "on")
            return true;
        if (word == "false" || word == "0" || word == "no" || word == "off")
            return false;
        throw refuse();
    }
    case Type::Integer: {
        char *end = nullptr;
        errno = 0;
        const long long value = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end != '\0' || errno == ERANGE)
            throw refuse();
        return static_cast<int64_t>(value);
    }
    case Type::Number: {
        char *end = nullptr;
        errno = 0;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(value))
            throw refuse();
        return value;
    }
    case Type::String:
        if (text.size() >= 2 && text.front() == '"') {
            const auto quoted = nlohmann::json::parse(text, nullptr, false);
            if (quoted.is_string())
                return quoted;
        }
        return rawText;
    case Type::StringList: {
        if (!text.empty() && text.front() == '[') {
            const auto list = nlohmann::json::parse(text, nullptr, false);
            if (list.is_discarded() || !list.is_array() ||
                !std::all_of(list.begin(), list.end(), [](const nlohmann::json &item) { return item.is_string(); }))
                throw refuse();
            return list;
        }
        if (!listKeyword.empty() && text == listKeyword)
            return text;
        nlohmann::json list = nlohmann::json::array();
        std::istringstream items(text);
        for (std::string item; std::getline(items, item, ',');) {
            if (!trimmed(item).empty())
                list.push_back(trimmed(item));
        }
        return list;
    }
    }
    throw refuse();
}

} // namespace headroom
