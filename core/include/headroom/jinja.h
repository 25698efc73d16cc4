// Jinja templates rendered the way transformers renders chat templates: Python's Jinja2 3.1 in an
// ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks on, the loop controls
// (break/continue) and the {% generation %} tag, `tojson` redefined as
// json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False), and the globals
// raise_exception(message) and strftime_now(format).
//
// Written by hand for Headroom (core/src/tokenizer/jinja): no Jinja library is packaged for
// Debian 12, and rendering a chat template must not need Python. It covers what chat templates
// use, with Python's semantics (values print as Python prints them, undefined names behave like
// Jinja2's default Undefined); everything outside that subset (an unknown statement, filter, test
// or method, `{% include %}`, a string's `%` formatting...) is an error, never a different
// rendering. Errors are headroom::Error (InvalidInput) reading "<name>:<line>:<column>: ...".
//
// Usage:
//   auto tmpl = jinja::Template::parse(source, "tokenizer_config.json: chat_template");
//   jinja::Object context;
//   context.set("messages", jinja::fromJson(messagesJson)); // parsed as nlohmann::ordered_json
//   context.set("add_generation_prompt", true);
//   std::string text = tmpl.render(jinja::Value(std::move(context)));
//
// transformers passes messages, tools (None without tools), documents, add_generation_prompt, the
// tokenizer's special tokens (bos_token, eos_token...) and the caller's keyword arguments
// (enable_thinking...) as the context. strftime_now() formats the time of SOURCE_DATE_EPOCH (UTC)
// when that variable is set, so renders can be reproduced; otherwise the local time now, as
// transformers does. A parsed Template does not change: it may render on several threads at once.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace headroom::jinja {

class Value;
class Object;
using Array = std::vector<Value>;

// The arguments of a call: f(1, x=2) has positional {1} and keywords {{"x", 2}}.
struct Arguments {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keywords;
};
using Function = std::function<Value(const Arguments &)>;

// A template value, with Python's types: Undefined is Jinja2's default Undefined (prints as
// nothing, is false, iterates as empty, fails when an attribute or item of it is read). A tuple is
// an array that prints as (1, 2) and differs from the list [1, 2]. Namespace is what namespace()
// makes: the one mutable kind ({% set ns.x = 1 %}), shared by every copy. Arrays and objects are
// immutable once made (the sandbox forbids append/update).
class Value {
public:
    enum class Kind { Undefined, None, Bool, Int, Float, String, Array, Object, Namespace, Function };

    Value() = default; // undefined
    Value(std::nullptr_t) : m_value(nullptr) {}
    Value(bool b) : m_value(b) {}
    Value(int i) : m_value(int64_t(i)) {}
    Value(int64_t i) : m_value(i) {}
    Value(double d) : m_value(d) {}
    Value(std::string s) : m_value(std::move(s)) {}
    Value(const char *s) : m_value(std::string(s)) {}
    Value(Array items);
    Value(Object items);
    // An undefined value that remembers why, for the error raised when it is used ("'x' is undefined").
    static Value undefined(std::string why);
    static Value tuple(Array items);
    static Value function(Function f);
    static Value makeNamespace(Object attributes);

    Kind kind() const { return static_cast<Kind>(m_value.index()); }
    bool isUndefined() const { return kind() == Kind::Undefined; }
    bool isNone() const { return kind() == Kind::None; }
    bool isBool() const { return kind() == Kind::Bool; }
    bool isInt() const { return kind() == Kind::Int; }
    bool isFloat() const { return kind() == Kind::Float; }
    bool isString() const { return kind() == Kind::String; }
    bool isArray() const { return kind() == Kind::Array; }
    bool isTuple() const { return isArray() && std::get<std::shared_ptr<const Sequence>>(m_value)->tuple; }
    bool isObject() const { return kind() == Kind::Object; }
    bool isNamespace() const { return kind() == Kind::Namespace; }
    bool isFunction() const { return kind() == Kind::Function; }
    // Python's numbers: bool, int and float.
    bool isNumber() const { return isBool() || isInt() || isFloat(); }

    // The accessors require the matching kind (std::bad_variant_access otherwise).
    bool asBool() const { return std::get<bool>(m_value); }
    int64_t asInt() const { return std::get<int64_t>(m_value); }
    double asFloat() const { return std::get<double>(m_value); }
    const std::string &asString() const { return std::get<std::string>(m_value); }
    const Array &asArray() const { return std::get<std::shared_ptr<const Sequence>>(m_value)->items; }
    const Object &asObject() const { return *std::get<std::shared_ptr<const Object>>(m_value); }
    // Mutable through any copy: every copy of a namespace is the same namespace.
    Object &namespaceAttributes() const { return *std::get<std::shared_ptr<Object>>(m_value); }
    const Function &asFunction() const { return *std::get<std::shared_ptr<const Function>>(m_value); }
    const std::string &undefinedReason() const { return std::get<UndefinedReason>(m_value).why; }

    bool truthy() const; // Python's bool()
    std::string str() const; // Python's str(): what {{ value }} prints
    std::string repr() const; // Python's repr(): how a value prints inside a list or dict

private:
    struct UndefinedReason {
        std::string why;
    };
    struct Sequence {
        Array items;
        bool tuple;
    };
    std::variant<UndefinedReason, std::nullptr_t, bool, int64_t, double, std::string, std::shared_ptr<const Sequence>,
                 std::shared_ptr<const Object>, std::shared_ptr<Object>, std::shared_ptr<const Function>>
        m_value;
};

// Python's ==: 1 == 1.0 == True, lists and dicts compare by content (dicts ignore order).
bool operator==(const Value &a, const Value &b);
inline bool operator!=(const Value &a, const Value &b) { return !(a == b); }

// A dictionary with string keys that keeps insertion order, like Python's dict.
class Object {
public:
    using Entry = std::pair<std::string, Value>;
    const Value *find(const std::string &key) const;
    // Replaces the value of an existing key in place, or appends the key.
    void set(const std::string &key, Value value);
    size_t size() const { return m_entries.size(); }
    bool empty() const { return m_entries.empty(); }
    std::vector<Entry>::const_iterator begin() const { return m_entries.begin(); }
    std::vector<Entry>::const_iterator end() const { return m_entries.end(); }

private:
    std::vector<Entry> m_entries;
};

// JSON to values: null -> None, integers -> Int, other numbers -> Float. ordered_json keeps the
// keys in the file's order, as Python's json.loads does (tojson prints them back in that order);
// nlohmann::json has already sorted them.
Value fromJson(const nlohmann::ordered_json &json);
Value fromJson(const nlohmann::json &json);

// Jinja2's whitespace settings; the defaults are transformers'.
struct Options {
    bool trimBlocks = true; // drop the first newline after a {% block %} or {# comment #}
    bool lstripBlocks = true; // drop spaces and tabs before a block or comment alone on its line
};

namespace detail {
struct Program;
}

class Template {
public:
    // Parses the whole template; a syntax error, an unknown statement, filter or test throws
    // invalidInput("<name>:<line>:<column>: ..."). `name` only labels the errors.
    static Template parse(const std::string &source, const std::string &name, Options options = {});
    // `context` is an object (or undefined: no variables): the template's variables, which shadow
    // the globals (range, namespace, dict, raise_exception, strftime_now). Errors as parse().
    std::string render(const Value &context) const;
    const std::string &name() const;

private:
    explicit Template(std::shared_ptr<const detail::Program> program) : m_program(std::move(program)) {}
    std::shared_ptr<const detail::Program> m_program;
};

} // namespace headroom::jinja
