// The parsed template: expressions and statements, each with the offset of its first token in the
// source for error messages. Filters and tests are resolved when parsing, so an unknown one is a
// syntax error.
#pragma once

#include "headroom/jinja.h"
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/jinja/source.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace headroom::jinja {

struct Expr {
    enum class Kind {
        Literal,
        Name,
        List, // list and tuple literals
        Dict,
        Attribute,
        Item,
        Slice,
        Call,
        Filter,
        Test,
        Negate,
        Plus,
        Not,
        Binary,
        And,
        Or,
        Concat,
        Compare,
        Conditional
    };
    Expr(Kind kind, size_t offset) : kind(kind), offset(offset) {}
    virtual ~Expr() = default;
    const Kind kind;
    const size_t offset;
};
using ExprPtr = std::unique_ptr<Expr>;

struct CallArguments {
    std::vector<ExprPtr> positional;
    std::vector<std::pair<std::string, ExprPtr>> keywords;
};

struct Literal : Expr {
    Literal(size_t offset, Value value) : Expr(Kind::Literal, offset), value(std::move(value)) {}
    Value value;
};

struct Name : Expr {
    Name(size_t offset, std::string name) : Expr(Kind::Name, offset), name(std::move(name)) {}
    std::string name;
};

struct ListExpr : Expr {
    explicit ListExpr(size_t offset, bool tuple) : Expr(Kind::List, offset), tuple(tuple) {}
    std::vector<ExprPtr> items;
    bool tuple;
};

struct DictExpr : Expr {
    explicit DictExpr(size_t offset) : Expr(Kind::Dict, offset) {}
    std::vector<std::pair<ExprPtr, ExprPtr>> entries;
};

// object.name
struct Attribute : Expr {
    Attribute(size_t offset, ExprPtr object, std::string name)
        : Expr(Kind::Attribute, offset), object(std::move(object)), name(std::move(name)) {}
    ExprPtr object;
    std::string name;
};

// object[key]
struct Item : Expr {
    Item(size_t offset, ExprPtr object, ExprPtr key)
        : Expr(Kind::Item, offset), object(std::move(object)), key(std::move(key)) {}
    ExprPtr object, key;
};

// object[start:stop:step], the parts left out null
struct Slice : Expr {
    explicit Slice(size_t offset) : Expr(Kind::Slice, offset) {}
    ExprPtr object, start, stop, step;
};

struct Call : Expr {
    Call(size_t offset, ExprPtr callee) : Expr(Kind::Call, offset), callee(std::move(callee)) {}
    ExprPtr callee;
    CallArguments arguments;
};

// value | name(arguments)
struct FilterCall : Expr {
    FilterCall(size_t offset, ExprPtr value, std::string name, FilterFunction function)
        : Expr(Kind::Filter, offset), value(std::move(value)), name(std::move(name)), function(function) {}
    ExprPtr value;
    std::string name;
    FilterFunction function;
    CallArguments arguments;
};

// value is [not] name(arguments)
struct TestCall : Expr {
    TestCall(size_t offset, ExprPtr value, std::string name, TestFunction function, bool negated)
        : Expr(Kind::Test, offset), value(std::move(value)), name(std::move(name)), function(function),
          negated(negated) {}
    ExprPtr value;
    std::string name;
    TestFunction function;
    bool negated;
    CallArguments arguments;
};

// -x, +x, not x
struct Unary : Expr {
    Unary(Kind kind, size_t offset, ExprPtr operand) : Expr(kind, offset), operand(std::move(operand)) {}
    ExprPtr operand;
};

// left op right, for the arithmetic operators
struct Binary : Expr {
    Binary(size_t offset, BinaryOp op, ExprPtr left, ExprPtr right)
        : Expr(Kind::Binary, offset), op(op), left(std::move(left)), right(std::move(right)) {}
    BinaryOp op;
    ExprPtr left, right;
};

// left and right (kind And), left or right (kind Or)
struct Logical : Expr {
    Logical(Kind kind, size_t offset, ExprPtr left, ExprPtr right)
        : Expr(kind, offset), left(std::move(left)), right(std::move(right)) {}
    ExprPtr left, right;
};

// a ~ b ~ c
struct Concat : Expr {
    explicit Concat(size_t offset) : Expr(Kind::Concat, offset) {}
    std::vector<ExprPtr> parts;
};

// a < b <= c: Python's chained comparison
struct Compare : Expr {
    Compare(size_t offset, ExprPtr first) : Expr(Kind::Compare, offset), first(std::move(first)) {}
    ExprPtr first;
    std::vector<std::pair<CompareOp, ExprPtr>> rest;
};

// then if condition else otherwise; without else, otherwise is null (undefined)
struct Conditional : Expr {
    explicit Conditional(size_t offset) : Expr(Kind::Conditional, offset) {}
    ExprPtr condition, then, otherwise;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
    enum class Kind { Text, Output, If, For, Set, Macro, CallBlock, Generation, Break, Continue };
    Node(Kind kind, size_t offset) : kind(kind), offset(offset) {}
    virtual ~Node() = default;
    const Kind kind;
    const size_t offset;
};

struct TextNode : Node {
    TextNode(size_t offset, std::string text) : Node(Kind::Text, offset), text(std::move(text)) {}
    std::string text;
};

// {{ value }}
struct OutputNode : Node {
    OutputNode(size_t offset, ExprPtr value) : Node(Kind::Output, offset), value(std::move(value)) {}
    ExprPtr value;
};

// if / elif... (the branches in order) / else
struct IfNode : Node {
    explicit IfNode(size_t offset) : Node(Kind::If, offset) {}
    std::vector<std::pair<ExprPtr, Body>> branches;
    Body otherwise;
};

// The names a for loop or a set assigns: one name, or several unpacked from each item.
struct Targets {
    std::vector<std::string> names;
    bool unpack = false; // "a, b" or "(a,)": the value is a sequence of that many items
};

// for targets in iterable [if condition] / else
struct ForNode : Node {
    explicit ForNode(size_t offset) : Node(Kind::For, offset) {}
    Targets targets;
    ExprPtr iterable, condition;
    Body body, otherwise;
};

// set targets = value, set ns.attribute = value, or the block form (value null, the body rendered)
struct SetNode : Node {
    explicit SetNode(size_t offset) : Node(Kind::Set, offset) {}
    Targets targets;
    std::string attribute; // set ns.attribute: targets holds "ns"
    ExprPtr value;
    Body body;
};

struct Parameter {
    std::string name;
    ExprPtr defaultValue; // null: none given (the argument is undefined when left out)
};

struct MacroNode : Node {
    explicit MacroNode(size_t offset) : Node(Kind::Macro, offset) {}
    std::string name;
    std::vector<Parameter> parameters;
    Body body;
};

// {% call(callerParameters) macro(...) %}body{% endcall %}: the body is the macro's caller()
struct CallBlockNode : Node {
    explicit CallBlockNode(size_t offset) : Node(Kind::CallBlock, offset) {}
    std::vector<Parameter> callerParameters;
    ExprPtr call;
    Body body;
};

// transformers' {% generation %}: marks what the assistant generates; renders its body
struct GenerationNode : Node {
    explicit GenerationNode(size_t offset) : Node(Kind::Generation, offset) {}
    Body body;
};

namespace detail {
struct Program {
    Source source;
    Body body;
};
} // namespace detail

} // namespace headroom::jinja
