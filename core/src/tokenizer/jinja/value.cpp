// Value and Object: Python's truthiness, str(), repr() and ==.
#include "headroom/jinja.h"

#include "tokenizer/jinja/failure.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/tokenizer_unicode.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace headroom::jinja {

namespace {

// Characters Python's repr() escapes besides the quote and the backslash: the C0/C1 controls and
// the non-printable characters (separators, format characters) that chat text can carry.
bool isUnprintable(char32_t cp) {
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD)
        return true;
    switch (cp) {
    case 0x1680:
    case 0x180E:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0xFEFF: return true;
    default:
        return (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F) ||
               (cp >= 0xE000 && cp <= 0xF8FF) || cp == unicode::kInvalid;
    }
}

std::string reprString(const std::string &s) {
    // Single quotes unless the text has a single quote and no double quote.
    const bool hasSingle = s.find('\'') != std::string::npos;
    const char quote = hasSingle && s.find('"') == std::string::npos ? '"' : '\'';
    std::string out(1, quote);
    for (size_t pos = 0; pos < s.size();) {
        const size_t start = pos;
        const char32_t cp = unicode::nextCodePoint(s, pos);
        char buf[16];
        if (cp == static_cast<char32_t>(quote) || cp == '\\') {
            out += '\\';
            out += static_cast<char>(cp);
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp == '\t') {
            out += "\\t";
        } else if (isUnprintable(cp)) {
            if (cp == unicode::kInvalid)
                throw Failure("a string is not valid UTF-8");
            std::snprintf(buf, sizeof buf, cp <= 0xFF ? "\\x%02x" : "\\u%04x", static_cast<unsigned>(cp));
            out += buf;
        } else {
            out.append(s, start, pos - start);
        }
    }
    out += quote;
    return out;
}

} // namespace

Value::Value(Array items) : m_value(std::make_shared<const Sequence>(Sequence{std::move(items), false})) {}
Value::Value(Object items) : m_value(std::make_shared<const Object>(std::move(items))) {}

Value Value::undefined(std::string why) {
    Value v;
    v.m_value = UndefinedReason{std::move(why)};
    return v;
}

Value Value::tuple(Array items) {
    Value v;
    v.m_value = std::make_shared<const Sequence>(Sequence{std::move(items), true});
    return v;
}

Value Value::function(Function f) {
    Value v;
    v.m_value = std::make_shared<const Function>(std::move(f));
    return v;
}

Value Value::makeNamespace(Object attributes) {
    Value v;
    v.m_value = std::make_shared<Object>(std::move(attributes));
    return v;
}

bool Value::truthy() const {
    switch (kind()) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return asBool();
    case Kind::Int: return asInt() != 0;
    case Kind::Float: return asFloat() != 0.0;
    case Kind::String: return !asString().empty();
    case Kind::Array: return !asArray().empty();
    case Kind::Object: return !asObject().empty();
    case Kind::Namespace:
    case Kind::Function: return true;
    }
    return false;
}

std::string Value::str() const {
    switch (kind()) {
    case Kind::Undefined: return "";
    case Kind::String: return asString();
    case Kind::Namespace: return "<Namespace " + Value(namespaceAttributes()).repr() + ">";
    default: return repr();
    }
}

std::string Value::repr() const {
    switch (kind()) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "None";
    case Kind::Bool: return asBool() ? "True" : "False";
    case Kind::Int: return std::to_string(asInt());
    case Kind::Float: return formatFloat(asFloat());
    case Kind::String: return reprString(asString());
    case Kind::Array: {
        std::string out;
        for (const auto &item : asArray())
            out += (out.empty() ? "" : ", ") + item.repr();
        if (!isTuple())
            return "[" + out + "]";
        return "(" + out + (asArray().size() == 1 ? ",)" : ")");
    }
    case Kind::Object: {
        std::string out = "{";
        for (const auto &[key, item] : asObject())
            out += (out.size() > 1 ? ", " : "") + reprString(key) + ": " + item.repr();
        return out + "}";
    }
    case Kind::Namespace: return str();
    case Kind::Function: throw Failure("a function cannot be printed");
    }
    return "";
}

bool operator==(const Value &a, const Value &b) {
    using Kind = Value::Kind;
    if (a.isNumber() && b.isNumber()) {
        if (a.isFloat() || b.isFloat()) {
            auto asDouble = [](const Value &v) {
                return v.isFloat() ? v.asFloat() : v.isInt() ? double(v.asInt()) : double(v.asBool());
            };
            return asDouble(a) == asDouble(b);
        }
        auto asInteger = [](const Value &v) { return v.isInt() ? v.asInt() : int64_t(v.asBool()); };
        return asInteger(a) == asInteger(b);
    }
    if (a.kind() != b.kind())
        return false;
    switch (a.kind()) {
    case Kind::Undefined:
    case Kind::None: return true;
    case Kind::String: return a.asString() == b.asString();
    case Kind::Array: return a.isTuple() == b.isTuple() && a.asArray() == b.asArray();
    case Kind::Object: {
        if (a.asObject().size() != b.asObject().size())
            return false;
        for (const auto &[key, item] : a.asObject()) {
            const Value *other = b.asObject().find(key);
            if (!other || *other != item)
                return false;
        }
        return true;
    }
    // Identity, as in Python.
    case Kind::Namespace: return &a.namespaceAttributes() == &b.namespaceAttributes();
    case Kind::Function: return &a.asFunction() == &b.asFunction();
    default: return false;
    }
}

const Value *Object::find(const std::string &key) const {
    for (const auto &entry : m_entries)
        if (entry.first == key)
            return &entry.second;
    return nullptr;
}

void Object::set(const std::string &key, Value value) {
    for (auto &entry : m_entries) {
        if (entry.first == key) {
            entry.second = std::move(value);
            return;
        }
    }
    m_entries.emplace_back(key, std::move(value));
}

std::string typeName(const Value &v) {
    switch (v.kind()) {
    case Value::Kind::Undefined: return "Undefined";
    case Value::Kind::None: return "NoneType";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Int: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::String: return "str";
    case Value::Kind::Array: return v.isTuple() ? "tuple" : "list";
    case Value::Kind::Object: return "dict";
    case Value::Kind::Namespace: return "Namespace";
    case Value::Kind::Function: return "function";
    }
    return "";
}

std::string formatFloat(double d) {
    if (std::isnan(d))
        return "nan";
    if (std::isinf(d))
        return d < 0 ? "-inf" : "inf";
    // The fewest significant digits that read back as the same double.
    char buf[40];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*e", precision - 1, d);
        if (std::strtod(buf, nullptr) == d)
            break;
    }
    // buf is "[-]d.ddde[+-]xx": split it into sign, digits and decimal exponent.
    std::string s(buf);
    const bool negative = s[0] == '-';
    if (negative)
        s.erase(0, 1);
    const size_t e = s.find('e');
    const int exponent = std::atoi(s.c_str() + e + 1);
    std::string digits = s.substr(0, e);
    digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
    while (digits.size() > 1 && digits.back() == '0')
        digits.pop_back();

    std::string out = negative ? "-" : "";
    if (exponent >= 16 || exponent < -4) { // Python's repr switches to scientific notation here
        out += digits.substr(0, 1);
        if (digits.size() > 1)
            out += "." + digits.substr(1);
        std::snprintf(buf, sizeof buf, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
        return out + buf;
    }
    if (exponent < 0)
        return out + "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    const size_t point = static_cast<size_t>(exponent) + 1;
    if (digits.size() <= point)
        return out + digits + std::string(point - digits.size(), '0') + ".0";
    return out + digits.substr(0, point) + "." + digits.substr(point);
}

[[noreturn]] void failUndefined(const Value &v) {
    const std::string &why = v.undefinedReason();
    throw Failure(why.empty() ? "an undefined value was used" : why);
}

} // namespace headroom::jinja
