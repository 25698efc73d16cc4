#include "tokenizer/jinja/evaluator.h"

#include "headroom/error.h"
#include "tokenizer/jinja/builtins.h"
#include "tokenizer/jinja/failure.h"
#include "tokenizer/jinja/operators.h"

#include <memory>

namespace headroom::jinja {

namespace {

// Macros calling macros deeper than this fail instead of exhausting the stack (a recursive macro
// over a JSON schema goes as deep as the schema).
constexpr int kMaxCallDepth = 100;

struct Scope {
    explicit Scope(std::shared_ptr<Scope> parent) : parent(std::move(parent)) {}
    std::shared_ptr<Scope> parent;
    Object variables;

    const Value *find(const std::string &name) const {
        for (const Scope *s = this; s; s = s->parent.get())
            if (const Value *v = s->variables.find(name))
                return v;
        return nullptr;
    }
};
using ScopePtr = std::shared_ptr<Scope>;

// What a statement tells the loop around it.
enum class Flow { Normal, Break, Continue };

class Renderer {
public:
    explicit Renderer(const detail::Program &program) : m_program(program) {}

    std::string render(const Value &context) {
        auto globalScope = std::make_shared<Scope>(nullptr);
        globalScope->variables = globals();
        auto contextScope = std::make_shared<Scope>(globalScope);
        if (context.isObject())
            contextScope->variables = context.asObject();
        else if (!context.isUndefined())
            throw invalidInput(m_program.source.name + ": the context to render with is a " + typeName(context) +
                               ", not an object");
        std::string out;
        renderBody(m_program.body, std::make_shared<Scope>(contextScope), out);
        return out;
    }

private:
    [[noreturn]] void failAt(size_t offset, const std::string &message) const {
        m_program.source.fail(offset, message);
    }

    // Statements ---------------------------------------------------------------------------------

    Flow renderBody(const Body &body, const ScopePtr &scope, std::string &out) {
        for (const auto &node : body) {
            const Flow flow = renderNode(*node, scope, out);
            if (flow != Flow::Normal)
                return flow;
        }
        return Flow::Normal;
    }

    Flow renderNode(const Node &node, const ScopePtr &scope, std::string &out) {
        try {
            return renderUnchecked(node, scope, out);
        } catch (const Failure &f) {
            failAt(node.offset, f.what());
        }
    }

    Flow renderUnchecked(const Node &node, const ScopePtr &scope, std::string &out) {
        switch (node.kind) {
        case Node::Kind::Text: out += static_cast<const TextNode &>(node).text; return Flow::Normal;
        case Node::Kind::Output: {
            const auto &output = static_cast<const OutputNode &>(node);
            out += evaluate(*output.value, scope).str();
            return Flow::Normal;
        }
        case Node::Kind::If: {
            const auto &branches = static_cast<const IfNode &>(node);
            for (const auto &[condition, body] : branches.branches)
                if (evaluate(*condition, scope).truthy())
                    return renderBody(body, scope, out);
            return renderBody(branches.otherwise, scope, out);
        }
        case Node::Kind::For: renderFor(static_cast<const ForNode &>(node), scope, out); return Flow::Normal;
        case Node::Kind::Set: renderSet(static_cast<const SetNode &>(node), scope); return Flow::Normal;
        case Node::Kind::Macro: {
            const auto &macro = static_cast<const MacroNode &>(node);
            scope->variables.set(macro.name, makeMacro(macro, scope));
            return Flow::Normal;
        }
        case Node::Kind::CallBlock:
            out += callBlock(static_cast<const CallBlockNode &>(node), scope);
            return Flow::Normal;
        case Node::Kind::Generation: return renderBody(static_cast<const GenerationNode &>(node).body, scope, out);
        case Node::Kind::Break: return Flow::Break;
        case Node::Kind::Continue: return Flow::Continue;
        }
        return Flow::Normal;
    }

    // Assigns `value` to the target names in `scope`, unpacking a sequence into several names.
    static void assign(const Targets &targets, const Value &value, Scope &scope) {
        if (!targets.unpack) {
            scope.variables.set(targets.names[0], value);
            return;
        }
        const Array items = iterate(value);
        const size_t expected = targets.names.size();
        if (items.size() < expected)
            throw Failure("not enough values to unpack (expected " + std::to_string(expected) + ", got " +
                          std::to_string(items.size()) + ")");
        if (items.size() > expected)
            throw Failure("too many values to unpack (expected " + std::to_string(expected) + ")");
        for (size_t i = 0; i < expected; ++i)
            scope.variables.set(targets.names[i], items[i]);
    }

    void renderFor(const ForNode &node, const ScopePtr &scope, std::string &out) {
        const Value iterable = evaluate(*node.iterable, scope);
        Array items;
        try {
            items = iterate(iterable);
        } catch (const Failure &f) {
            failAt(node.iterable->offset, f.what());
        }
        if (node.condition) { // "for x in items if test": loop.* counts only the items kept
            Array kept;
            for (auto &item : items) {
                auto probe = std::make_shared<Scope>(scope);
                assign(node.targets, item, *probe);
                if (evaluate(*node.condition, probe).truthy())
                    kept.push_back(std::move(item));
            }
            items = std::move(kept);
        }
        if (items.empty()) {
            renderBody(node.otherwise, scope, out);
            return;
        }
        const auto length = static_cast<int64_t>(items.size());
        for (int64_t i = 0; i < length; ++i) {
            auto iteration = std::make_shared<Scope>(scope);
            assign(node.targets, items[i], *iteration);
            iteration->variables.set("loop", loopObject(items, i));
            if (renderBody(node.body, iteration, out) == Flow::Break)
                break;
        }
    }

    // Jinja2's `loop` variable for item i.
    static Value loopObject(const Array &items, int64_t i) {
        const auto length = static_cast<int64_t>(items.size());
        Object loop;
        loop.set("index", i + 1);
        loop.set("index0", i);
        loop.set("revindex", length - i);
        loop.set("revindex0", length - i - 1);
        loop.set("first", i == 0);
        loop.set("last", i == length - 1);
        loop.set("length", length);
        loop.set("depth", 1);
        loop.set("depth0", 0);
        loop.set("previtem", i > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
        loop.set("nextitem", i + 1 < length ? items[i + 1] : Value::undefined("there is no next item"));
        loop.set("cycle", Value::function([i](const Arguments &arguments) {
                     if (arguments.positional.empty() || !arguments.keywords.empty())
                         throw Failure("loop.cycle needs at least one value (and no keywords)");
                     return arguments.positional[i % arguments.positional.size()];
                 }));
        return loop;
    }

    void renderSet(const SetNode &node, const ScopePtr &scope) {
        Value value;
        if (node.value) {
            value = evaluate(*node.value, scope);
        } else {
            std::string text;
            renderBody(node.body, std::make_shared<Scope>(scope), text);
            value = std::move(text);
        }
        if (node.attribute.empty()) {
            assign(node.targets, value, *scope);
            return;
        }
        const Value *target = scope->find(node.targets.names[0]);
        if (!target || !target->isNamespace())
            throw Failure("cannot assign attribute '" + node.attribute + "' of '" + node.targets.names[0] +
                          "': only a namespace() takes attributes");
        target->namespaceAttributes().set(node.attribute, std::move(value));
    }

    // Macros ---------------------------------------------------------------------------------

    // The scope is held weakly: the macro lives in that scope, and a strong reference would keep
    // both alive forever.
    Value makeMacro(const MacroNode &macro, const ScopePtr &scope) {
        std::weak_ptr<Scope> definedIn = scope;
        return Value::function([this, &macro, definedIn](const Arguments &arguments) {
            const ScopePtr parent = definedIn.lock();
            if (!parent)
                throw Failure("macro '" + macro.name + "' is called after its scope ended");
            return callMacro(macro.name, macro.parameters, macro.body, parent, arguments, true);
        });
    }

    // Binds the arguments like Python (positional, then keywords; a missing argument without a
    // default is undefined) and renders the body. `acceptsCaller`: a `caller` keyword (from a call
    // block) becomes the variable caller.
    Value callMacro(const std::string &name, const std::vector<Parameter> &parameters, const Body &body,
                    const ScopePtr &parent, const Arguments &arguments, bool acceptsCaller) {
        if (m_callDepth >= kMaxCallDepth)
            throw Failure("macro calls nest deeper than " + std::to_string(kMaxCallDepth));
        if (arguments.positional.size() > parameters.size())
            throw Failure("macro '" + name + "' takes not more than " + std::to_string(parameters.size()) +
                          " argument(s)");
        auto scope = std::make_shared<Scope>(parent);
        std::vector<bool> bound(parameters.size(), false);
        for (size_t i = 0; i < arguments.positional.size(); ++i) {
            scope->variables.set(parameters[i].name, arguments.positional[i]);
            bound[i] = true;
        }
        for (const auto &[key, value] : arguments.keywords) {
            if (acceptsCaller && key == "caller") {
                scope->variables.set("caller", value);
                continue;
            }
            size_t i = 0;
            while (i < parameters.size() && parameters[i].name != key)
                ++i;
            if (i == parameters.size())
                throw Failure("macro '" + name + "' takes no keyword argument '" + key + "'");
            if (bound[i])
                throw Failure("macro '" + name + "' got multiple values for argument '" + key + "'");
            scope->variables.set(key, value);
            bound[i] = true;
        }
        for (size_t i = 0; i < parameters.size(); ++i) {
            if (bound[i])
                continue;
            const Parameter &p = parameters[i];
            scope->variables.set(p.name, p.defaultValue ? evaluate(*p.defaultValue, scope)
                                                        : Value::undefined("'" + p.name + "' is undefined"));
        }
        struct DepthGuard {
            int &depth;
            ~DepthGuard() { --depth; }
        } guard{++m_callDepth};
        std::string out;
        renderBody(body, scope, out);
        return out;
    }

    std::string callBlock(const CallBlockNode &node, const ScopePtr &scope) {
        const auto &call = static_cast<const Call &>(*node.call);
        const Value callee = evaluate(*call.callee, scope);
        Arguments arguments = evaluateArguments(call.arguments, scope);
        arguments.keywords.emplace_back("caller", Value::function([this, &node, scope](const Arguments &args) {
                                            return callMacro("caller", node.callerParameters, node.body, scope, args,
                                                             false);
                                        }));
        return invoke(callee, arguments).str();
    }

    static Value invoke(const Value &callee, const Arguments &arguments) {
        if (callee.isUndefined())
            failUndefined(callee);
        if (!callee.isFunction())
            throw Failure("'" + typeName(callee) + "' object is not callable");
        return callee.asFunction()(arguments);
    }

    // Expressions -----------------------------------------------------------------------------

    Value evaluate(const Expr &expr, const ScopePtr &scope) {
        try {
            return evaluateUnchecked(expr, scope);
        } catch (const Failure &f) {
            failAt(expr.offset, f.what());
        }
    }

    Arguments evaluateArguments(const CallArguments &call, const ScopePtr &scope) {
        Arguments arguments;
        for (const auto &e : call.positional)
            arguments.positional.push_back(evaluate(*e, scope));
        for (const auto &[key, e] : call.keywords)
            arguments.keywords.emplace_back(key, evaluate(*e, scope));
        return arguments;
    }

    Value evaluateUnchecked(const Expr &expr, const ScopePtr &scope) {
        switch (expr.kind) {
        case Expr::Kind::Literal: return static_cast<const Literal &>(expr).value;
        case Expr::Kind::Name: {
            const auto &name = static_cast<const Name &>(expr).name;
            const Value *v = scope->find(name);
            return v ? *v : Value::undefined("'" + name + "' is undefined");
        }
        case Expr::Kind::List: {
            const auto &list = static_cast<const ListExpr &>(expr);
            Array items;
            for (const auto &item : list.items)
                items.push_back(evaluate(*item, scope));
            return list.tuple ? Value::tuple(std::move(items)) : Value(std::move(items));
        }
        case Expr::Kind::Dict: {
            Object object;
            for (const auto &[keyExpr, valueExpr] : static_cast<const DictExpr &>(expr).entries) {
                const Value key = evaluate(*keyExpr, scope);
                if (!key.isString())
                    failAt(keyExpr->offset, "only strings are supported as dict keys, not " + typeName(key));
                object.set(key.asString(), evaluate(*valueExpr, scope));
            }
            return object;
        }
        case Expr::Kind::Attribute: {
            const auto &a = static_cast<const Attribute &>(expr);
            return getAttribute(evaluate(*a.object, scope), a.name);
        }
        case Expr::Kind::Item: {
            const auto &i = static_cast<const Item &>(expr);
            return getItem(evaluate(*i.object, scope), evaluate(*i.key, scope));
        }
        case Expr::Kind::Slice: {
            const auto &s = static_cast<const Slice &>(expr);
            auto part = [&](const ExprPtr &e) { return e ? evaluate(*e, scope) : Value(nullptr); };
            return slice(evaluate(*s.object, scope), part(s.start), part(s.stop), part(s.step));
        }
        case Expr::Kind::Call: {
            const auto &c = static_cast<const Call &>(expr);
            const Value callee = evaluate(*c.callee, scope);
            return invoke(callee, evaluateArguments(c.arguments, scope));
        }
        case Expr::Kind::Filter: {
            const auto &f = static_cast<const FilterCall &>(expr);
            const Value value = evaluate(*f.value, scope);
            return f.function(value, evaluateArguments(f.arguments, scope));
        }
        case Expr::Kind::Test: {
            const auto &t = static_cast<const TestCall &>(expr);
            const Value value = evaluate(*t.value, scope);
            return t.function(value, evaluateArguments(t.arguments, scope)) != t.negated;
        }
        case Expr::Kind::Negate: return negate(evaluate(*static_cast<const Unary &>(expr).operand, scope));
        case Expr::Kind::Plus: return unaryPlus(evaluate(*static_cast<const Unary &>(expr).operand, scope));
        case Expr::Kind::Not: return !evaluate(*static_cast<const Unary &>(expr).operand, scope).truthy();
        case Expr::Kind::Binary: {
            const auto &b = static_cast<const Binary &>(expr);
            const Value left = evaluate(*b.left, scope);
            return binaryOperation(b.op, left, evaluate(*b.right, scope));
        }
        // Python's and/or give back an operand, not a bool.
        case Expr::Kind::And: {
            const auto &b = static_cast<const Logical &>(expr);
            Value left = evaluate(*b.left, scope);
            return left.truthy() ? evaluate(*b.right, scope) : left;
        }
        case Expr::Kind::Or: {
            const auto &b = static_cast<const Logical &>(expr);
            Value left = evaluate(*b.left, scope);
            return left.truthy() ? left : evaluate(*b.right, scope);
        }
        case Expr::Kind::Concat: {
            std::string text;
            for (const auto &part : static_cast<const Concat &>(expr).parts)
                text += evaluate(*part, scope).str();
            return text;
        }
        case Expr::Kind::Compare: {
            const auto &c = static_cast<const Compare &>(expr);
            Value left = evaluate(*c.first, scope);
            for (const auto &[op, rightExpr] : c.rest) {
                Value right = evaluate(*rightExpr, scope);
                if (!compare(op, left, right))
                    return false;
                left = std::move(right);
            }
            return true;
        }
        case Expr::Kind::Conditional: {
            const auto &c = static_cast<const Conditional &>(expr);
            if (evaluate(*c.condition, scope).truthy())
                return evaluate(*c.then, scope);
            return c.otherwise ? evaluate(*c.otherwise, scope)
                               : Value::undefined("the inline if-expression evaluated to false and has no else");
        }
        }
        return {};
    }

    const detail::Program &m_program;
    int m_callDepth = 0;
};

} // namespace

std::string renderProgram(const detail::Program &program, const Value &context) {
    return Renderer(program).render(context);
}

} // namespace headroom::jinja
