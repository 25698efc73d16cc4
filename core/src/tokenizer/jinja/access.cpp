// Reading into values: attributes, items, slices, iteration, and the str/dict methods templates
// call (text.split(...), message.get(...), tools.items()).
#include "tokenizer/jinja/builtins.h"

#include "tokenizer/jinja/failure.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/jinja/text.h"

#include <algorithm>

namespace headroom::jinja {

namespace {

template <typename Names>
bool isOneOf(const std::string &name, const Names &names) {
    return std::any_of(std::begin(names), std::end(names), [&](const char *n) { return name == n; });
}
bool isOneOf(const std::string &name, std::initializer_list<const char *> names) {
    return isOneOf<std::initializer_list<const char *>>(name, names);
}

// Python's str methods that Headroom does not implement: calling one is an error rather than the
// undefined value a missing attribute gives.
const char *const kOtherStringMethods[] = {
    "casefold",     "center",  "count",      "encode",      "expandtabs",   "find",         "format",
    "format_map",   "index",   "isalnum",    "isalpha",     "isascii",      "isdecimal",    "isdigit",
    "isidentifier", "islower", "isnumeric",  "isprintable", "isspace",      "istitle",      "isupper",
    "join",         "ljust",   "maketrans",  "partition",   "removeprefix", "removesuffix", "rfind",
    "rindex",       "rjust",   "rpartition", "splitlines",  "swapcase",     "translate",    "zfill"};

std::optional<std::string> optionalString(const std::optional<Value> &v, const char *what) {
    if (!v || v->isNone())
        return std::nullopt;
    if (!v->isString())
        throw Failure(std::string(what) + " must be a string or None, not " + typeName(*v));
    return v->asString();
}

int64_t integerArgument(const Value &v, const char *what) {
    if (v.isInt())
        return v.asInt();
    if (v.isBool())
        return v.asBool();
    throw Failure(std::string(what) + " must be an integer, not " + typeName(v));
}

bool affixMatches(const std::string &self, const Value &affix, bool atStart, const char *method) {
    auto matches = [&](const Value &candidate) {
        if (!candidate.isString())
            throw Failure(std::string(method) + "() takes a string or a tuple of strings, not " + typeName(candidate));
        const std::string &a = candidate.asString();
        if (a.size() > self.size())
            return false;
        return self.compare(atStart ? 0 : self.size() - a.size(), a.size(), a) == 0;
    };
    if (affix.isArray())
        return std::any_of(affix.asArray().begin(), affix.asArray().end(), matches);
    return matches(affix);
}

Value stringMethod(const std::string &self, const std::string &name, const Arguments &arguments) {
    const std::string what = "str." + name + "()";
    if (name == "startswith" || name == "endswith") {
        Parameters p(arguments, what, {"prefix", "start", "end"});
        if (!p[0])
            throw Failure(what + " takes a prefix");
        if (p[1] || p[2])
            throw Failure(what + " with start or end is not supported");
        return affixMatches(self, *p[0], name == "startswith", name.c_str());
    }
    if (name == "split" || name == "rsplit") {
        Parameters p(arguments, what, {"sep", "maxsplit"});
        Array parts;
        for (auto &part : text::split(self, optionalString(p[0], "the separator"),
                                      integerArgument(p.get(1, -1), "maxsplit"), name == "rsplit"))
            parts.emplace_back(std::move(part));
        return parts;
    }
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
        Parameters p(arguments, what, {"chars"});
        return text::strip(self, optionalString(p[0], "chars"), name != "rstrip", name != "lstrip");
    }
    if (name == "replace") {
        Parameters p(arguments, what, {"old", "new", "count"});
        if (!p[0] || !p[1] || !p[0]->isString() || !p[1]->isString())
            throw Failure(what + " takes two strings");
        return text::replace(self, p[0]->asString(), p[1]->asString(), integerArgument(p.get(2, -1), "count"));
    }
    expectNoArguments(arguments, what);
    if (name == "upper")
        return text::upper(self);
    if (name == "lower")
        return text::lower(self);
    if (name == "title")
        return text::title(self);
    return text::capitalize(self);
}

Value dictMethod(const Value &self, const std::string &name, const Arguments &arguments) {
    const std::string what = "dict." + name + "()";
    if (name == "get") {
        Parameters p(arguments, what, {"key", "default"});
        if (!p[0])
            throw Failure(what + " takes a key");
        const Value *found = p[0]->isString() ? self.asObject().find(p[0]->asString()) : nullptr;
        return found ? *found : p.get(1, nullptr);
    }
    expectNoArguments(arguments, what);
    Array out;
    for (const auto &[key, value] : self.asObject()) {
        if (name == "keys")
            out.emplace_back(key);
        else if (name == "values")
            out.push_back(value);
        else
            out.push_back(Value::tuple({key, value}));
    }
    return out;
}

[[noreturn]] void failUnsafe(const std::string &name, const char *type) {
    throw Failure(std::string("access to attribute '") + name + "' of '" + type +
                  "' object is unsafe (transformers renders in Jinja2's immutable sandbox)");
}

Value missing(const Value &object, const std::string &name) {
    return Value::undefined("'" + typeName(object) + " object' has no attribute '" + name + "'");
}

} // namespace

Value getAttribute(const Value &object, const std::string &name) {
    switch (object.kind()) {
    case Value::Kind::Undefined: failUndefined(object);
    case Value::Kind::String:
        if (isOneOf(name, {"startswith", "endswith", "split", "rsplit", "strip", "lstrip", "rstrip", "replace", "upper",
                           "lower", "title", "capitalize"}))
            return Value::function([self = object.asString(), name](const Arguments &arguments) {
                return stringMethod(self, name, arguments);
            });
        if (isOneOf(name, kOtherStringMethods))
            throw Failure("str." + name + "() is not supported");
        return missing(object, name);
    case Value::Kind::Object:
        if (isOneOf(name, {"items", "keys", "values", "get"}))
            return Value::function(
                [object, name](const Arguments &arguments) { return dictMethod(object, name, arguments); });
        if (isOneOf(name, {"pop", "popitem", "setdefault", "update", "clear"}))
            failUnsafe(name, "dict");
        if (isOneOf(name, {"copy", "fromkeys"}))
            throw Failure("dict." + name + "() is not supported");
        if (const Value *v = object.asObject().find(name))
            return *v;
        return missing(object, name);
    case Value::Kind::Namespace:
        if (const Value *v = object.namespaceAttributes().find(name))
            return *v;
        return missing(object, name);
    case Value::Kind::Array:
        if (isOneOf(name, {"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"}))
            failUnsafe(name, "list");
        if (isOneOf(name, {"copy", "count", "index"}))
            throw Failure("list." + name + "() is not supported");
        return missing(object, name);
    default: return missing(object, name);
    }
}

Value getItem(const Value &object, const Value &key) {
    if (object.isUndefined())
        failUndefined(object);
    if ((object.isArray() || object.isString()) && (key.isInt() || key.isBool())) {
        const int64_t size =
            object.isArray() ? int64_t(object.asArray().size()) : int64_t(text::length(object.asString()));
        int64_t i = key.isInt() ? key.asInt() : key.asBool();
        if (i < 0)
            i += size;
        if (i < 0 || i >= size)
            return Value::undefined(typeName(object) + " object has no element " + key.repr());
        if (object.isArray())
            return object.asArray()[size_t(i)];
        return slice(object, i, i + 1, 1);
    }
    if (object.isObject() && key.isString())
        if (const Value *v = object.asObject().find(key.asString()))
            return *v;
    // Jinja2 falls back to the attribute of that name.
    if (key.isString())
        return getAttribute(object, key.asString());
    return Value::undefined(typeName(object) + " object has no element " + key.repr());
}

Value slice(const Value &sequence, const Value &start, const Value &stop, const Value &step) {
    if (sequence.isUndefined())
        failUndefined(sequence);
    if (!sequence.isArray() && !sequence.isString())
        throw Failure("'" + typeName(sequence) + "' object is not subscriptable");
    auto index = [](const Value &v, int64_t fallback) {
        if (v.isNone())
            return fallback;
        if (v.isInt() || v.isBool())
            return v.isInt() ? v.asInt() : int64_t(v.asBool());
        throw Failure("slice indices must be integers or None, not " + typeName(v));
    };
    const int64_t by = index(step, 1);
    if (by == 0)
        throw Failure("slice step cannot be zero");
    std::vector<char32_t> cps;
    if (sequence.isString())
        cps = text::codePoints(sequence.asString());
    const int64_t n = sequence.isString() ? int64_t(cps.size()) : int64_t(sequence.asArray().size());
    // Python's slice.indices(): negative counts from the end, then clamp to the sequence.
    auto clamp = [&](int64_t i) {
        if (i < 0) {
            i += n;
            if (i < 0)
                i = by < 0 ? -1 : 0;
        } else if (i >= n) {
            i = by < 0 ? n - 1 : n;
        }
        return i;
    };
    const int64_t from = start.isNone() ? (by < 0 ? n - 1 : 0) : clamp(index(start, 0));
    const int64_t to = stop.isNone() ? (by < 0 ? -1 : n) : clamp(index(stop, 0));
    std::vector<int64_t> picked;
    for (int64_t i = from; by > 0 ? i < to : i > to; i += by)
        picked.push_back(i);
    if (sequence.isString()) {
        std::vector<char32_t> out;
        for (int64_t i : picked)
            out.push_back(cps[size_t(i)]);
        return text::fromCodePoints(out);
    }
    Array out;
    for (int64_t i : picked)
        out.push_back(sequence.asArray()[size_t(i)]);
    return sequence.isTuple() ? Value::tuple(std::move(out)) : Value(std::move(out));
}

Array iterate(const Value &value) {
    switch (value.kind()) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::Array: return value.asArray();
    case Value::Kind::Object: {
        Array keys;
        for (const auto &entry : value.asObject())
            keys.emplace_back(entry.first);
        return keys;
    }
    case Value::Kind::String: {
        Array characters;
        for (char32_t cp : text::codePoints(value.asString()))
            characters.emplace_back(text::fromCodePoints({cp}));
        return characters;
    }
    default: throw Failure("'" + typeName(value) + "' object is not iterable");
    }
}

void expectNoArguments(const Arguments &arguments, const std::string &what) {
    static_cast<void>(Parameters(arguments, what, {}));
}

Parameters::Parameters(const Arguments &arguments, const std::string &what, std::vector<std::string> names)
    : m_values(names.size()) {
    if (arguments.positional.size() > names.size())
        throw Failure(what + " takes at most " + std::to_string(names.size()) + " argument(s) (" +
                      std::to_string(arguments.positional.size()) + " given)");
    for (size_t i = 0; i < arguments.positional.size(); ++i)
        m_values[i] = arguments.positional[i];
    for (const auto &[key, value] : arguments.keywords) {
        const auto it = std::find(names.begin(), names.end(), key);
        if (it == names.end())
            throw Failure(what + " got an unexpected keyword argument '" + key + "'");
        auto &slot = m_values[size_t(it - names.begin())];
        if (slot)
            throw Failure(what + " got multiple values for argument '" + key + "'");
        slot = value;
    }
}

} // namespace headroom::jinja
