// Typed reads of config.json fields with errors that name the field and the file, shared by the
// model config's parsers (model_config.cpp, model_config_rope.cpp, model_config_families.cpp).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "headroom/error.h"

namespace headroom::detail {

inline bool hasValue(const nlohmann::json &json, const char *field) {
    return json.contains(field) && !json.at(field).is_null();
}

inline int64_t requirePositiveField(const nlohmann::json &json, const char *field, const std::string &context) {
    if (!json.contains(field))
        throw invalidInput(context + ": missing field '" + field + "' (a positive integer)");
    const auto &value = json.at(field);
    if (!value.is_number_integer() || value.get<int64_t>() <= 0)
        throw invalidInput(context + ": field '" + field + "' must be a positive integer, got " + value.dump());
    return value.get<int64_t>();
}

template <typename T>
T optionalField(const nlohmann::json &json, const char *field, T fallback, const std::string &context) {
    if (!hasValue(json, field))
        return fallback;
    try {
        return json.at(field).get<T>();
    } catch (const nlohmann::json::exception &) {
        throw invalidInput(context + ": field '" + field + "' has the wrong type: " + json.at(field).dump());
    }
}

} // namespace headroom::detail
