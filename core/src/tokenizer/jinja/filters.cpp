// The filters, each as Jinja2 3.1 defines it (tojson as transformers redefines it). Jinja2 turns
// its input into text with str() where it expects text (soft_str), so an undefined value is "".
#include "tokenizer/jinja/builtins.h"

#include "tokenizer/jinja/failure.h"
#include "tokenizer/jinja/json.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/jinja/text.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>

namespace headroom::jinja {

namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

std::optional<std::string> optionalText(const std::optional<Value> &v) {
    if (!v || v->isNone())
        return std::nullopt;
    return v->str();
}

Value trim(const Value &value, const Arguments &arguments) {
    Parameters p(arguments, "trim", {"chars"});
    return text::strip(value.str(), optionalText(p[0]), true, true);
}

Value tojson(const Value &value, const Arguments &arguments) {
    Parameters p(arguments, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
    JsonStyle style;
    style.ensureAscii = p.get(0, false).truthy();
    style.sortKeys = p.get(3, false).truthy();
    const Value indent = p.get(1, nullptr);
    if (indent.isInt() || indent.isBool()) {
        const int64_t width = indent.isInt() ? indent.asInt() : indent.asBool();
        style.indent = std::string(size_t(std::max<int64_t>(width, 0)), ' ');
    } else if (indent.isString()) {
        style.indent = indent.asString();
    } else if (!indent.isNone()) {
        throw Failure("tojson's indent must be an integer, a string or None");
    }
    if (style.indent)
        style.itemSeparator = ",";
    const Value separators = p.get(2, nullptr);
    if (!separators.isNone()) {
        if (!separators.isArray() || separators.asArray().size() != 2 || !separators.asArray()[0].isString() ||
            !separators.asArray()[1].isString())
            throw Failure("tojson's separators must be two strings");
        style.itemSeparator = separators.asArray()[0].asString();
        style.keySeparator = separators.asArray()[1].asString();
    }
    return toJson(value, style);
}

Value length(const Value &value, const Arguments &arguments) {
    expectNoArguments(arguments, "length");
    switch (value.kind()) {
    case Value::Kind::Undefined: return 0;
    case Value::Kind::String: return int64_t(text::length(value.asString()));
    case Value::Kind::Array: return int64_t(value.asArray().size());
    case Value::Kind::Object: return int64_t(value.asObject().size());
    default: throw Failure("object of type '" + typeName(value) + "' has no len()");
    }
}

Value upper(const Value &value, const Arguments &arguments) {
    expectNoArguments(arguments, "upper");
    return text::upper(value.str());
}

Value lower(const Value &value, const Arguments &arguments) {
    expectNoArguments(arguments, "lower");
    return text::lower(value.str());
}

// Jinja2's title, not str.title(): a word starts after '-', '(', '{', '[', '<' or whitespace; its
// first character goes upper case, the rest lower case.
Value title(const Value &value, const Arguments &arguments) {
    expectNoArguments(arguments, "title");
    std::string out;
    bool wordStart = true;
    for (char32_t cp : text::codePoints(value.str())) {
        const std::string c = text::fromCodePoints({cp});
        if (text::isSpace(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<') {
            out += c;
            wordStart = true;
        } else {
            out += wordStart ? text::upper(c) : text::lower(c);
            wordStart = false;
        }
    }
    return out;
}

Value capitalize(const Value &value, const Arguments &arguments) {
    expectNoArguments(arguments, "capitalize");
    return text::capitalize(value.str());
}

Value defaultValue(const Value &value, const Arguments &arguments) {
    Parameters p(arguments, "default", {"default_value", "boolean"});
    if (value.isUndefined() || (p.get(1, false).truthy() && !value.truthy()))
        return p.get(0, "");
    return value;
}

// Jinja2's make_attrgetter: "a.b.0" reads item a, then b, then 0 (digits are indexes); a default
// replaces an undefined value at each step.
Value readPath(const Value &item, const Value &attribute, const Value &fallback = Value()) {
    std::vector<Value> parts;
    if (attribute.isInt()) {
        parts.push_back(attribute);
    } else {
        for (const auto &part : text::split(attribute.str(), std::string("."), -1, false)) {
            const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), isDigit);
            parts.push_back(digits ? Value(int64_t(std::strtoll(part.c_str(), nullptr, 10))) : Value(part));
        }
    }
    Value current = item;
    for (const auto &part : parts) {
        current = getItem(current, part);
        if (current.isUndefined() && !fallback.isUndefined() && !fallback.isNone())
            current = fallback;
    }
    return current;
}

Value join(const Value &value, const Arguments &arguments) {
    Parameters p(arguments, "join", {"d", "attribute"});
    const std::string separator = p.get(0, "").str();
    std::string out;
    bool first = true;
    for (const auto &item : iterate(value)) {
        if (!first)
            out += separator;
        first = false;
        out += (p[1] && !p[1]->isNone() ? readPath(item, *p[1]) : item).str();
    }
    return out;
}

Value first(const Value &value, const Arguments &arguments) {
    expectNoArguments(arguments, "first");
    const Array items = iterate(value);
    return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value last(const Value &value, const Arguments &arguments) {
    expectNoArguments(arguments, "last");
    const Array items = iterate(value);
    return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

// The positional arguments from `from` on, for a filter or test called by name.
Arguments rest(const Arguments &arguments, size_t from) {
    Arguments out;
    out.positional.assign(arguments.positional.begin() + std::min(from, arguments.positional.size()),
                          arguments.positional.end());
    out.keywords = arguments.keywords;
    return out;
}

Value map(const Value &value, const Arguments &arguments) {
    Array out;
    if (!value.truthy())
        return out;
    if (arguments.positional.empty()) { // map(attribute="name", default=...)
        Parameters p(arguments, "map", {"attribute", "default"});
        if (!p[0])
            throw Failure("map needs a filter name or attribute=");
        for (const auto &item : iterate(value))
            out.push_back(readPath(item, *p[0], p.get(1, nullptr)));
        return out;
    }
    const std::string name = arguments.positional[0].str();
    const FilterFunction filter = findFilter(name);
    if (!filter)
        throw Failure("no filter named '" + name + "'");
    const Arguments filterArguments = rest(arguments, 1);
    for (const auto &item : iterate(value))
        out.push_back(filter(item, filterArguments));
    return out;
}

// select/reject(test, args...) and selectattr/rejectattr(attribute, test, args...); without a test
// an item is kept by its truth.
Value selectOrReject(const Value &value, const Arguments &arguments, bool keep, bool byAttribute, const char *what) {
    Array out;
    if (!value.truthy())
        return out;
    size_t next = 0;
    std::optional<Value> attribute;
    if (byAttribute) {
        if (arguments.positional.empty())
            throw Failure(std::string(what) + " needs an attribute");
        attribute = arguments.positional[next++];
    }
    TestFunction test = nullptr;
    if (next < arguments.positional.size()) {
        const std::string name = arguments.positional[next++].str();
        test = findTest(name);
        if (!test)
            throw Failure("no test named '" + name + "'");
    }
    const Arguments testArguments = rest(arguments, next);
    for (const auto &item : iterate(value)) {
        const Value subject = attribute ? readPath(item, *attribute) : item;
        const bool passes = test ? test(subject, testArguments) : subject.truthy();
        if (passes == keep)
            out.push_back(item);
    }
    return out;
}

Value select(const Value &v, const Arguments &a) { return selectOrReject(v, a, true, false, "select"); }
Value reject(const Value &v, const Arguments &a) { return selectOrReject(v, a, false, false, "reject"); }
Value selectattr(const Value &v, const Arguments &a) { return selectOrReject(v, a, true, true, "selectattr"); }
Value rejectattr(const Value &v, const Arguments &a) { return selectOrReject(v, a, false, true, "rejectattr"); }

// Jinja2's unique: the first of equal items, strings compared without case unless case_sensitive.
Value unique(const Value &value, const Arguments &arguments) {
    Parameters p(arguments, "unique", {"case_sensitive", "attribute"});
    const bool caseSensitive = p.get(0, false).truthy();
    Array out, seen;
    for (const auto &item : iterate(value)) {
        Value key = p[1] && !p[1]->isNone() ? readPath(item, *p[1]) : item;
        if (key.isArray() || key.isObject() || key.isNamespace())
            throw Failure("unhashable type: '" + typeName(key) + "'");
        if (key.isString() && !caseSensitive)
            key = text::lower(key.asString());
        if (std::find(seen.begin(), seen.end(), key) == seen.end()) {
            seen.push_back(std::move(key));
            out.push_back(item);
        }
    }
    return out;
}

Value items(const Value &value, const Arguments &arguments) {
    expectNoArguments(arguments, "items");
    Array out;
    if (value.isUndefined())
        return out;
    if (!value.isObject())
        throw Failure("Can only get item pairs from a mapping.");
    for (const auto &[key, item] : value.asObject())
        out.push_back(Value::tuple({key, item}));
    return out;
}

Value list(const Value &value, const Arguments &arguments) {
    expectNoArguments(arguments, "list");
    return iterate(value);
}

Value string(const Value &value, const Arguments &arguments) {
    expectNoArguments(arguments, "string");
    return value.str();
}

// Python's int("...") and float("..."): surrounding whitespace allowed, "_" only between digits.
std::optional<std::string> numberText(const std::string &s) {
    const std::string t = text::strip(s, std::nullopt, true, true);
    std::string out;
    for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] == '_') {
            if (i == 0 || i + 1 == t.size() || !isDigit(t[i - 1]) || !isDigit(t[i + 1]))
                return std::nullopt;
            continue;
        }
        out += t[i];
    }
    if (out.empty())
        return std::nullopt;
    return out;
}

std::optional<int64_t> parseInt(const std::string &s) {
    const auto t = numberText(s);
    if (!t)
        return std::nullopt;
    const size_t digitsFrom = (*t)[0] == '+' || (*t)[0] == '-' ? 1 : 0;
    if (digitsFrom == t->size() || !std::all_of(t->begin() + long(digitsFrom), t->end(), isDigit))
        return std::nullopt;
    errno = 0;
    const long long v = std::strtoll(t->c_str(), nullptr, 10);
    if (errno == ERANGE)
        throw Failure("the integer " + s + " is too large");
    return int64_t(v);
}

std::optional<double> parseFloat(const std::string &s) {
    const auto t = numberText(s);
    if (!t || t->find_first_of("xX") != std::string::npos) // strtod would read hexadecimal, Python does not
        return std::nullopt;
    char *end = nullptr;
    const double d = std::strtod(t->c_str(), &end);
    if (end != t->c_str() + t->size())
        return std::nullopt;
    return d;
}

std::optional<double> asFloat(const Value &value) {
    if (value.isFloat())
        return value.asFloat();
    if (value.isInt())
        return double(value.asInt());
    if (value.isBool())
        return double(value.asBool());
    if (value.isString())
        return parseFloat(value.asString());
    return std::nullopt;
}

Value toInt(const Value &value, const Arguments &arguments) {
    Parameters p(arguments, "int", {"default", "base"});
    if (p[1] && *p[1] != Value(10))
        throw Failure("int with a base other than 10 is not supported");
    if (value.isUndefined()) // Undefined's __int__ fails
        failUndefined(value);
    if (value.isInt() || value.isBool())
        return value.isInt() ? value.asInt() : int64_t(value.asBool());
    if (value.isString())
        if (const auto i = parseInt(value.asString()))
            return *i;
    // Jinja2 then tries int(float(value)).
    if (const auto d = asFloat(value)) {
        if (std::isinf(*d))
            throw Failure("cannot convert float infinity to integer");
        if (!std::isnan(*d)) {
            if (std::fabs(*d) >= 9.2e18)
                throw Failure("the integer is too large");
            return int64_t(*d);
        }
    }
    return p.get(0, 0);
}

Value toFloat(const Value &value, const Arguments &arguments) {
    Parameters p(arguments, "float", {"default"});
    if (value.isUndefined())
        failUndefined(value);
    if (const auto d = asFloat(value))
        return *d;
    return p.get(0, 0.0);
}

Value absolute(const Value &value, const Arguments &arguments) {
    expectNoArguments(arguments, "abs");
    if (value.isFloat())
        return std::fabs(value.asFloat());
    if (value.isInt() || value.isBool()) {
        const int64_t i = value.isInt() ? value.asInt() : value.asBool();
        return i < 0 ? negate(i) : Value(i);
    }
    throw Failure("bad operand type for abs(): '" + typeName(value) + "'");
}

Value replace(const Value &value, const Arguments &arguments) {
    Parameters p(arguments, "replace", {"old", "new", "count"});
    if (!p[0] || !p[1])
        throw Failure("replace needs the old and the new text");
    const Value count = p.get(2, nullptr);
    if (!count.isNone() && !count.isInt())
        throw Failure("replace's count must be an integer");
    return text::replace(value.str(), p[0]->str(), p[1]->str(), count.isNone() ? -1 : count.asInt());
}

Value indent(const Value &value, const Arguments &arguments) {
    Parameters p(arguments, "indent", {"width", "first", "blank"});
    if (!value.isString())
        throw Failure("indent needs a string, not " + typeName(value));
    const Value width = p.get(0, 4);
    std::string indention;
    if (width.isString())
        indention = width.asString();
    else if (width.isInt())
        indention = std::string(size_t(std::max<int64_t>(width.asInt(), 0)), ' ');
    else
        throw Failure("indent's width must be an integer or a string");
    // Jinja2 appends a newline first, so a final newline leaves no indented empty line behind.
    const auto lines = text::splitLines(value.asString() + "\n");
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (i > 0)
            out += '\n';
        const bool indented = i > 0 && (p.get(2, false).truthy() || !lines[i].empty());
        out += (indented ? indention : "") + lines[i];
    }
    if (p.get(1, false).truthy())
        out = indention + out;
    return out;
}

Value safe(const Value &value, const Arguments &arguments) {
    expectNoArguments(arguments, "safe");
    return value.str();
}

// markupsafe's escape.
Value escape(const Value &value, const Arguments &arguments) {
    expectNoArguments(arguments, "escape");
    std::string out;
    for (char c : value.str()) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&#34;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

Value dictsort(const Value &value, const Arguments &arguments) {
    Parameters p(arguments, "dictsort", {"case_sensitive", "by", "reverse"});
    if (!value.isObject())
        throw Failure("dictsort needs a mapping, not " + typeName(value));
    const bool caseSensitive = p.get(0, false).truthy();
    const std::string by = p.get(1, "key").str();
    if (by != "key" && by != "value")
        throw Failure("You can only sort by either 'key' or 'value'");
    Array pairs = items(value, {}).asArray();
    auto sortKey = [&](const Value &pair) {
        const Value &v = pair.asArray()[by == "key" ? 0 : 1];
        return v.isString() && !caseSensitive ? Value(text::lower(v.asString())) : v;
    };
    std::stable_sort(pairs.begin(), pairs.end(),
                     [&](const Value &a, const Value &b) { return compare(CompareOp::Less, sortKey(a), sortKey(b)); });
    if (p.get(2, false).truthy())
        std::reverse(pairs.begin(), pairs.end());
    return pairs;
}

const std::map<std::string, FilterFunction> &filters() {
    static const std::map<std::string, FilterFunction> table = {
        {"abs", absolute},
        {"capitalize", capitalize},
        {"count", length},
        {"d", defaultValue},
        {"default", defaultValue},
        {"dictsort", dictsort},
        {"e", escape},
        {"escape", escape},
        {"first", first},
        {"float", toFloat},
        {"indent", indent},
        {"int", toInt},
        {"items", items},
        {"join", join},
        {"last", last},
        {"length", length},
        {"list", list},
        {"lower", lower},
        {"map", map},
        {"reject", reject},
        {"rejectattr", rejectattr},
        {"replace", replace},
        {"safe", safe},
        {"select", select},
        {"selectattr", selectattr},
        {"string", string},
        {"title", title},
        {"tojson", tojson},
        {"trim", trim},
        {"unique", unique},
        {"upper", upper},
    };
    return table;
}

} // namespace

FilterFunction findFilter(const std::string &name) {
    const auto it = filters().find(name);
    return it == filters().end() ? nullptr : it->second;
}

} // namespace headroom::jinja
