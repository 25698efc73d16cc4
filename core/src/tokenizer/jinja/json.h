// The tojson filter as transformers defines it: Python's json.dumps(x, ensure_ascii=False,
// indent=None, separators=None, sort_keys=False), each of those a keyword the template may set.
#pragma once

#include "headroom/jinja.h"

#include <optional>
#include <string>

namespace headroom::jinja {

struct JsonStyle {
    std::optional<std::string> indent; // absent: all on one line
    std::string itemSeparator = ", "; // json.dumps' default is "," when indenting
    std::string keySeparator = ": ";
    bool ensureAscii = false;
    bool sortKeys = false;
};

// Throws Failure for what JSON cannot hold (undefined values, namespaces, functions).
std::string toJson(const Value &value, const JsonStyle &style);

} // namespace headroom::jinja
