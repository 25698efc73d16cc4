#include "tokenizer/jinja/operators.h"

#include "tokenizer/jinja/failure.h"

#include <cmath>

namespace headroom::jinja {

namespace {

bool isInteger(const Value &v) { return v.isInt() || v.isBool(); } // Python's bool is an int
int64_t integer(const Value &v) { return v.isInt() ? v.asInt() : int64_t(v.asBool()); }
double number(const Value &v) { return v.isFloat() ? v.asFloat() : double(integer(v)); }

[[noreturn]] void unsupported(const char *symbol, const Value &a, const Value &b) {
    throw Failure(std::string("unsupported operand type(s) for ") + symbol + ": '" + typeName(a) + "' and '" +
                  typeName(b) + "'");
}

void checkDefined(const Value &a, const Value &b) {
    if (a.isUndefined())
        failUndefined(a);
    if (b.isUndefined())
        failUndefined(b);
}

// Python's integers do not overflow; past int64 Headroom fails instead of wrapping around.
int64_t checkedAdd(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        throw Failure("integer result too large");
    return r;
}
int64_t checkedSubtract(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        throw Failure("integer result too large");
    return r;
}
int64_t checkedMultiply(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        throw Failure("integer result too large");
    return r;
}

template <typename T>
T repeat(const T &item, int64_t times) {
    T out;
    for (int64_t i = 0; i < times; ++i)
        out.insert(out.end(), item.begin(), item.end());
    return out;
}

Value repeatSequence(const Value &sequence, int64_t times) {
    if (sequence.isString())
        return repeat(sequence.asString(), times);
    Array items = repeat(sequence.asArray(), times);
    return sequence.isTuple() ? Value::tuple(std::move(items)) : Value(std::move(items));
}

// Python's floor division and modulo: the quotient rounds down, the remainder takes the divisor's sign.
int64_t floorDivide(int64_t a, int64_t b) {
    if (a == INT64_MIN && b == -1)
        throw Failure("integer result too large");
    const int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
int64_t modulo(int64_t a, int64_t b) {
    if (b == -1)
        return 0;
    const int64_t r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
double floatModulo(double a, double b) {
    double r = std::fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0)))
        r += b;
    return r == 0 ? std::copysign(0.0, b) : r;
}

Value power(const Value &a, const Value &b) {
    if (isInteger(a) && isInteger(b) && integer(b) >= 0) {
        // By squaring: the base is squared only while exponent bits remain, so an overflow there
        // would overflow the result too.
        int64_t result = 1, base = integer(a);
        for (int64_t e = integer(b); e > 0;) {
            if (e & 1)
                result = checkedMultiply(result, base);
            e >>= 1;
            if (e > 0)
                base = checkedMultiply(base, base);
        }
        return result;
    }
    if (number(a) == 0 && number(b) < 0)
        throw Failure("0.0 cannot be raised to a negative power");
    return std::pow(number(a), number(b));
}

} // namespace

Value binaryOperation(BinaryOp op, const Value &a, const Value &b) {
    checkDefined(a, b);
    const bool numbers = a.isNumber() && b.isNumber();
    const bool integers = isInteger(a) && isInteger(b);
    switch (op) {
    case BinaryOp::Add:
        if (integers)
            return checkedAdd(integer(a), integer(b));
        if (numbers)
            return number(a) + number(b);
        if (a.isString() && b.isString())
            return a.asString() + b.asString();
        if (a.isArray() && b.isArray() && a.isTuple() == b.isTuple()) {
            Array joined = a.asArray();
            joined.insert(joined.end(), b.asArray().begin(), b.asArray().end());
            return a.isTuple() ? Value::tuple(std::move(joined)) : Value(std::move(joined));
        }
        unsupported("+", a, b);
    case BinaryOp::Subtract:
        if (integers)
            return checkedSubtract(integer(a), integer(b));
        if (numbers)
            return number(a) - number(b);
        unsupported("-", a, b);
    case BinaryOp::Multiply:
        if (integers)
            return checkedMultiply(integer(a), integer(b));
        if (numbers)
            return number(a) * number(b);
        if ((a.isString() || a.isArray()) && isInteger(b))
            return repeatSequence(a, integer(b));
        if (isInteger(a) && (b.isString() || b.isArray()))
            return repeatSequence(b, integer(a));
        unsupported("*", a, b);
    case BinaryOp::Divide:
        if (!numbers)
            unsupported("/", a, b);
        if (number(b) == 0)
            throw Failure("division by zero");
        return number(a) / number(b);
    case BinaryOp::FloorDivide:
        if (!numbers)
            unsupported("//", a, b);
        if (number(b) == 0)
            throw Failure("integer division or modulo by zero");
        if (integers)
            return floorDivide(integer(a), integer(b));
        return std::floor(number(a) / number(b));
    case BinaryOp::Modulo:
        if (a.isString())
            throw Failure("formatting a string with % is not supported");
        if (!numbers)
            unsupported("%", a, b);
        if (number(b) == 0)
            throw Failure("integer division or modulo by zero");
        if (integers)
            return modulo(integer(a), integer(b));
        return floatModulo(number(a), number(b));
    case BinaryOp::Power:
        if (!numbers)
            unsupported("**", a, b);
        return power(a, b);
    }
    return {};
}

Value negate(const Value &v) {
    if (v.isUndefined())
        failUndefined(v);
    if (isInteger(v)) {
        if (integer(v) == INT64_MIN)
            throw Failure("integer result too large");
        return -integer(v);
    }
    if (v.isFloat())
        return -v.asFloat();
    throw Failure("bad operand type for unary -: '" + typeName(v) + "'");
}

Value unaryPlus(const Value &v) {
    if (v.isUndefined())
        failUndefined(v);
    if (isInteger(v))
        return integer(v);
    if (v.isFloat())
        return v;
    throw Failure("bad operand type for unary +: '" + typeName(v) + "'");
}

namespace {

// Python's <: numbers with numbers, strings by code point (the order of their UTF-8 bytes),
// lists element by element.
bool less(const Value &a, const Value &b, const char *symbol) {
    checkDefined(a, b);
    if (a.isNumber() && b.isNumber()) {
        if (isInteger(a) && isInteger(b))
            return integer(a) < integer(b);
        return number(a) < number(b);
    }
    if (a.isString() && b.isString())
        return a.asString() < b.asString();
    if (a.isArray() && b.isArray()) {
        const Array &x = a.asArray(), &y = b.asArray();
        for (size_t i = 0; i < x.size() && i < y.size(); ++i)
            if (x[i] != y[i])
                return less(x[i], y[i], symbol);
        return x.size() < y.size();
    }
    throw Failure(std::string("'") + symbol + "' not supported between instances of '" + typeName(a) + "' and '" +
                  typeName(b) + "'");
}

} // namespace

bool compare(CompareOp op, const Value &a, const Value &b) {
    switch (op) {
    case CompareOp::Equal: return a == b;
    case CompareOp::NotEqual: return a != b;
    case CompareOp::Less: return less(a, b, "<");
    case CompareOp::LessEqual: return less(a, b, "<=") || a == b;
    case CompareOp::Greater: return less(b, a, ">");
    case CompareOp::GreaterEqual: return less(b, a, ">=") || a == b;
    case CompareOp::In: return contains(b, a);
    case CompareOp::NotIn: return !contains(b, a);
    }
    return false;
}

bool contains(const Value &haystack, const Value &needle) {
    switch (haystack.kind()) {
    case Value::Kind::Undefined: return false; // iterates as empty
    case Value::Kind::String:
        if (!needle.isString())
            throw Failure("'in <string>' requires string as left operand, not " + typeName(needle));
        return haystack.asString().find(needle.asString()) != std::string::npos;
    case Value::Kind::Array:
        for (const auto &item : haystack.asArray())
            if (item == needle)
                return true;
        return false;
    case Value::Kind::Object: return needle.isString() && haystack.asObject().find(needle.asString()) != nullptr;
    default: throw Failure("argument of type '" + typeName(haystack) + "' is not iterable");
    }
}

} // namespace headroom::jinja
