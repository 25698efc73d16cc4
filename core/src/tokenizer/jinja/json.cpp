// JSON in (fromJson) and out (json.dumps, for tojson).
#include "tokenizer/jinja/json.h"

#include "headroom/error.h"
#include "tokenizer/jinja/failure.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/tokenizer_unicode.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace headroom::jinja {

namespace {

template <typename Json>
Value convert(const Json &json) {
    switch (json.type()) {
    case nlohmann::json::value_t::null: return nullptr;
    case nlohmann::json::value_t::boolean: return json.template get<bool>();
    case nlohmann::json::value_t::number_integer: return json.template get<int64_t>();
    case nlohmann::json::value_t::number_unsigned: {
        const auto u = json.template get<uint64_t>();
        if (u > static_cast<uint64_t>(INT64_MAX))
            throw invalidInput("the integer " + std::to_string(u) + " is too large for a template value");
        return static_cast<int64_t>(u);
    }
    case nlohmann::json::value_t::number_float: return json.template get<double>();
    case nlohmann::json::value_t::string: return json.template get<std::string>();
    case nlohmann::json::value_t::array: {
        Array items;
        items.reserve(json.size());
        for (const auto &item : json)
            items.push_back(convert(item));
        return items;
    }
    case nlohmann::json::value_t::object: {
        Object object;
        for (const auto &[key, item] : json.items())
            object.set(key, convert(item));
        return object;
    }
    default: throw invalidInput("binary JSON values cannot be template values");
    }
}

void appendEscaped(std::string &out, const std::string &s, bool ensureAscii) {
    out += '"';
    char buf[16];
    for (size_t pos = 0; pos < s.size();) {
        const size_t start = pos;
        const char32_t cp = unicode::nextCodePoint(s, pos);
        switch (cp) {
        case '"': out += "\\\""; continue;
        case '\\': out += "\\\\"; continue;
        case '\n': out += "\\n"; continue;
        case '\r': out += "\\r"; continue;
        case '\t': out += "\\t"; continue;
        case '\b': out += "\\b"; continue;
        case '\f': out += "\\f"; continue;
        default: break;
        }
        if (cp == unicode::kInvalid)
            throw Failure("a string is not valid UTF-8");
        if (cp < 0x20 || (ensureAscii && cp > 0x7E)) {
            if (cp > 0xFFFF) { // a surrogate pair, as Python writes it
                const char32_t v = cp - 0x10000;
                std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", unsigned(0xD800 + (v >> 10)),
                              unsigned(0xDC00 + (v & 0x3FF)));
            } else {
                std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(cp));
            }
            out += buf;
        } else {
            out.append(s, start, pos - start);
        }
    }
    out += '"';
}

void dump(const Value &v, const JsonStyle &style, int depth, std::string &out) {
    // With an indent, each item goes on its own line: separator + newline + indent per level.
    auto newline = [&](int level) {
        if (!style.indent)
            return;
        out += '\n';
        for (int i = 0; i < level; ++i)
            out += *style.indent;
    };
    switch (v.kind()) {
    case Value::Kind::None: out += "null"; return;
    case Value::Kind::Bool: out += v.asBool() ? "true" : "false"; return;
    case Value::Kind::Int: out += std::to_string(v.asInt()); return;
    case Value::Kind::Float: {
        const double d = v.asFloat();
        if (std::isnan(d))
            out += "NaN";
        else if (std::isinf(d))
            out += d < 0 ? "-Infinity" : "Infinity";
        else
            out += formatFloat(d);
        return;
    }
    case Value::Kind::String: appendEscaped(out, v.asString(), style.ensureAscii); return;
    case Value::Kind::Array: {
        const Array &items = v.asArray();
        if (items.empty()) {
            out += "[]";
            return;
        }
        out += '[';
        for (size_t i = 0; i < items.size(); ++i) {
            if (i > 0)
                out += style.itemSeparator;
            newline(depth + 1);
            dump(items[i], style, depth + 1, out);
        }
        newline(depth);
        out += ']';
        return;
    }
    case Value::Kind::Object: {
        std::vector<const Object::Entry *> entries;
        for (const auto &entry : v.asObject())
            entries.push_back(&entry);
        if (entries.empty()) {
            out += "{}";
            return;
        }
        if (style.sortKeys)
            std::stable_sort(entries.begin(), entries.end(), [](auto *a, auto *b) { return a->first < b->first; });
        out += '{';
        for (size_t i = 0; i < entries.size(); ++i) {
            if (i > 0)
                out += style.itemSeparator;
            newline(depth + 1);
            appendEscaped(out, entries[i]->first, style.ensureAscii);
            out += style.keySeparator;
            dump(entries[i]->second, style, depth + 1, out);
        }
        newline(depth);
        out += '}';
        return;
    }
    case Value::Kind::Undefined: throw Failure("Object of type Undefined is not JSON serializable");
    default: throw Failure("Object of type " + typeName(v) + " is not JSON serializable");
    }
}

} // namespace

Value fromJson(const nlohmann::ordered_json &json) { return convert(json); }
Value fromJson(const nlohmann::json &json) { return convert(json); }

std::string toJson(const Value &value, const JsonStyle &style) {
    std::string out;
    dump(value, style, 0, out);
    return out;
}

} // namespace headroom::jinja
