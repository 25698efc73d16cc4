// Python's operators on template values (what Jinja2 compiles its expressions to): arithmetic,
// ordering and `in`. Unsupported operand types throw Failure with Python's wording.
#pragma once

#include "headroom/jinja.h"

#include <string>

namespace headroom::jinja {

enum class BinaryOp { Add, Subtract, Multiply, Divide, FloorDivide, Modulo, Power };
enum class CompareOp { Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual, In, NotIn };

Value binaryOperation(BinaryOp op, const Value &a, const Value &b);
Value negate(const Value &v);
Value unaryPlus(const Value &v);
bool compare(CompareOp op, const Value &a, const Value &b);
// Python's `needle in haystack`.
bool contains(const Value &haystack, const Value &needle);

// Python's type names, for messages: "str", "int", "dict", "NoneType"...
std::string typeName(const Value &v);
// Python's repr() of a float: the shortest string that reads back the same ("0.1", "1e+16", "1.0").
std::string formatFloat(double d);
// The Failure an undefined value raises when it is used.
[[noreturn]] void failUndefined(const Value &v);

} // namespace headroom::jinja
