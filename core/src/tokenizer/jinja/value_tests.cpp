// The tests (value is name), as Jinja2 3.1 defines them over Python's types.
#include "tokenizer/jinja/builtins.h"

#include "tokenizer/jinja/failure.h"
#include "tokenizer/jinja/operators.h"

#include <map>

namespace headroom::jinja {

namespace {

// The one argument of a test such as divisibleby(3) or equalto("x").
Value operand(const Arguments &arguments, const char *name) {
    Parameters p(arguments, name, {"other"});
    if (!p[0])
        throw Failure(std::string("the test '") + name + "' needs a value to compare with");
    return *p[0];
}

template <Value::Kind... kinds>
bool isKind(const Value &value, const Arguments &arguments) {
    expectNoArguments(arguments, "the test");
    return ((value.kind() == kinds) || ...);
}

bool isDefined(const Value &v, const Arguments &a) { return !isKind<Value::Kind::Undefined>(v, a); }

bool isTrue(const Value &v, const Arguments &a) { return isKind<Value::Kind::Bool>(v, a) && v.asBool(); }
bool isFalse(const Value &v, const Arguments &a) { return isKind<Value::Kind::Bool>(v, a) && !v.asBool(); }

bool isOdd(const Value &v, const Arguments &a) {
    expectNoArguments(a, "odd");
    return binaryOperation(BinaryOp::Modulo, v, 2) == Value(1);
}
bool isEven(const Value &v, const Arguments &a) {
    expectNoArguments(a, "even");
    return binaryOperation(BinaryOp::Modulo, v, 2) == Value(0);
}
bool isDivisibleBy(const Value &v, const Arguments &a) {
    return binaryOperation(BinaryOp::Modulo, v, operand(a, "divisibleby")) == Value(0);
}

template <CompareOp op>
bool compares(const Value &v, const Arguments &a) {
    return compare(op, v, operand(a, "comparison"));
}

bool isIn(const Value &v, const Arguments &a) { return contains(operand(a, "in"), v); }

// Python's `is`: only None, True, False (and undefined) have an identity a template can rely on.
bool isSameAs(const Value &v, const Arguments &a) {
    const Value other = operand(a, "sameas");
    auto singleton = [](const Value &x) { return x.isNone() || x.isBool() || x.isUndefined(); };
    if (!singleton(v) && !singleton(other))
        throw Failure("sameas is only supported against none, true or false");
    return singleton(v) && singleton(other) && v.kind() == other.kind() && v == other;
}

const std::map<std::string, TestFunction> &tests() {
    using K = Value::Kind;
    static const std::map<std::string, TestFunction> table = {
        {"!=", compares<CompareOp::NotEqual>},
        {"<", compares<CompareOp::Less>},
        {"<=", compares<CompareOp::LessEqual>},
        {"==", compares<CompareOp::Equal>},
        {">", compares<CompareOp::Greater>},
        {">=", compares<CompareOp::GreaterEqual>},
        {"boolean", isKind<K::Bool>},
        {"callable", isKind<K::Function, K::Undefined>}, // Undefined has __call__ (it fails)
        {"defined", isDefined},
        {"divisibleby", isDivisibleBy},
        {"eq", compares<CompareOp::Equal>},
        {"equalto", compares<CompareOp::Equal>},
        {"even", isEven},
        {"false", isFalse},
        {"float", isKind<K::Float>},
        {"ge", compares<CompareOp::GreaterEqual>},
        {"greaterthan", compares<CompareOp::Greater>},
        {"gt", compares<CompareOp::Greater>},
        {"in", isIn},
        {"integer", isKind<K::Int>},
        {"iterable", isKind<K::Undefined, K::String, K::Array, K::Object>},
        {"le", compares<CompareOp::LessEqual>},
        {"lessthan", compares<CompareOp::Less>},
        {"lt", compares<CompareOp::Less>},
        {"mapping", isKind<K::Object>},
        {"ne", compares<CompareOp::NotEqual>},
        {"none", isKind<K::None>},
        {"number", isKind<K::Bool, K::Int, K::Float>},
        {"odd", isOdd},
        {"sameas", isSameAs},
        {"sequence", isKind<K::Undefined, K::String, K::Array, K::Object>},
        {"string", isKind<K::String>},
        {"true", isTrue},
        {"undefined", isKind<K::Undefined>},
    };
    return table;
}

} // namespace

TestFunction findTest(const std::string &name) {
    const auto it = tests().find(name);
    return it == tests().end() ? nullptr : it->second;
}

} // namespace headroom::jinja
