// Helpers for JSON read from user files (configs, datasets, adapters, checkpoints), private to the
// engine: whole files read with syntax errors located by line and column, values quoted safely in
// error messages.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace headroom::detail {

struct JsonSyntaxError {
    int64_t line = 1; // 1-based, within the parsed text
    int64_t column = 1; // 1-based byte column within that line
    std::string reason; // nlohmann's explanation without its prefix, printable ASCII
};

// Where in `text` parsing failed and why.
JsonSyntaxError locateSyntaxError(const nlohmann::json::parse_error &error, const std::string &text);

// `value` as compact JSON for an error message: ASCII only, cut after about 60 characters.
std::string quoteForError(const nlohmann::json &value);

// The JSON document in the file at `path`. Throws invalidInput naming the file: "<path>: cannot
// read (<missingHint>)" when it cannot be opened or is a folder (without the parenthesis when the
// hint is empty), "<path>:<line>:<column>: malformed JSON (<reason>)" at a syntax error.
nlohmann::json readJsonFile(const std::string &path, const std::string &missingHint = {});

} // namespace headroom::detail
