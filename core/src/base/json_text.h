// Helpers for JSON read from user files (configs, datasets), private to headroom_base: syntax
// errors located by line and column, values quoted safely in error messages.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace headroom::detail {

struct JsonSyntaxError {
    int64_t line = 1;     // 1-based, within the parsed text
    int64_t column = 1;   // 1-based byte column within that line
    std::string reason;   // nlohmann's explanation without its prefix, printable ASCII
};

// Where in `text` parsing failed and why.
JsonSyntaxError locateSyntaxError(const nlohmann::json::parse_error &error, const std::string &text);

// `value` as compact JSON for an error message: ASCII only, cut after about 60 characters.
std::string quoteForError(const nlohmann::json &value);

} // namespace headroom::detail
