#include "tokenizer/jinja/parser.h"

#include "tokenizer/jinja/lexer.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <utility>

namespace headroom::jinja {

namespace {

// Deeper nesting than this is refused rather than risk the stack (real templates nest a few levels).
constexpr int kMaxDepth = 200;

const char *const kUnsupportedStatements[] = {"include", "import",     "from", "extends", "block", "filter",
                                              "with",    "autoescape", "raw",  "do",      "trans", "pluralize"};

class Parser {
public:
    Parser(const Source &source, std::vector<Token> tokens) : m_source(source), m_tokens(std::move(tokens)) {}

    Body parseTemplate() { return parseBody({}, nullptr, 0, ""); }

private:
    // Token access ----------------------------------------------------------------------------

    const Token *peek(size_t ahead = 0) const {
        return m_pos + ahead < m_tokens.size() ? &m_tokens[m_pos + ahead] : nullptr;
    }
    size_t offset() const { return m_pos < m_tokens.size() ? m_tokens[m_pos].offset : m_source.text.size(); }
    bool is(TokenKind kind, size_t ahead = 0) const {
        const Token *t = peek(ahead);
        return t && t->kind == kind;
    }
    bool isOperator(const char *op, size_t ahead = 0) const {
        const Token *t = peek(ahead);
        return t && t->kind == TokenKind::Operator && t->text == op;
    }
    bool isName(const char *name, size_t ahead = 0) const {
        const Token *t = peek(ahead);
        return t && t->kind == TokenKind::Name && t->text == name;
    }
    bool skipOperator(const char *op) {
        if (!isOperator(op))
            return false;
        ++m_pos;
        return true;
    }
    bool skipName(const char *name) {
        if (!isName(name))
            return false;
        ++m_pos;
        return true;
    }

    static std::string describe(const Token *t) {
        if (!t)
            return "the end of the template";
        switch (t->kind) {
        case TokenKind::Text: return "text";
        case TokenKind::VariableBegin: return "'{{'";
        case TokenKind::VariableEnd: return "'}}'";
        case TokenKind::BlockBegin: return "'{%'";
        case TokenKind::BlockEnd: return "'%}'";
        case TokenKind::String: return "a string";
        default: return "'" + t->text + "'";
        }
    }
    [[noreturn]] void fail(const std::string &message) const { m_source.fail(offset(), message); }
    [[noreturn]] void unexpected(const std::string &expected) const {
        fail("expected " + expected + ", got " + describe(peek()));
    }
    void expectOperator(const char *op) {
        if (!skipOperator(op))
            unexpected(std::string("'") + op + "'");
    }
    std::string expectName() {
        if (!is(TokenKind::Name))
            unexpected("a name");
        return m_tokens[m_pos++].text;
    }
    void expectBlockEnd() {
        if (!is(TokenKind::BlockEnd))
            unexpected("the end of the statement ('%}')");
        ++m_pos;
    }

    struct DepthGuard {
        DepthGuard(Parser &p) : parser(p) {
            if (++parser.m_depth > kMaxDepth)
                parser.fail("the template nests too deeply");
        }
        ~DepthGuard() { --parser.m_depth; }
        Parser &parser;
    };

    // Statements -------------------------------------------------------------------------------

    // Parses nodes until a {% tag %} named in `endTags`; consumes "{%" and that name and stores it
    // in *found. At the top level (no end tags) it runs to the end of the template. `opener` (the
    // statement's name, whose end tag is "end" + opener) and its offset are for the error when
    // the template ends first.
    Body parseBody(const std::vector<std::string> &endTags, std::string *found, size_t openerOffset,
                   const std::string &opener) {
        DepthGuard guard(*this);
        Body body;
        while (m_pos < m_tokens.size()) {
            const Token &t = m_tokens[m_pos];
            if (t.kind == TokenKind::Text) {
                body.push_back(std::make_unique<TextNode>(t.offset, t.text));
                ++m_pos;
            } else if (t.kind == TokenKind::VariableBegin) {
                ++m_pos;
                auto value = parseTuple(true, false, {});
                if (!is(TokenKind::VariableEnd))
                    unexpected("the end of the expression ('}}')");
                ++m_pos;
                const size_t at = value->offset; // a value that cannot be printed is named there
                body.push_back(std::make_unique<OutputNode>(at, std::move(value)));
            } else {
                ++m_pos; // the "{%"
                const Token *name = peek();
                if (name && name->kind == TokenKind::Name &&
                    std::find(endTags.begin(), endTags.end(), name->text) != endTags.end()) {
                    *found = name->text;
                    ++m_pos;
                    return body;
                }
                if (name && name->kind == TokenKind::Name && !endTags.empty() && isClosingTag(name->text))
                    fail("unexpected '" + name->text + "': the '" + opener + "' at " + m_source.position(openerOffset) +
                         " is not closed ({% end" + opener + " %} is missing)");
                body.push_back(parseStatement(t.offset));
            }
        }
        if (!endTags.empty())
            m_source.fail(openerOffset, "this '" + opener + "' is never closed ({% end" + opener + " %} is missing)");
        return body;
    }

    static bool isClosingTag(const std::string &name) {
        return name.rfind("end", 0) == 0 || name == "else" || name == "elif";
    }

    NodePtr parseStatement(size_t begin) {
        const Token *t = peek();
        if (!t || t->kind != TokenKind::Name)
            unexpected("a statement name");
        const std::string name = t->text;
        if (name == "if")
            return parseIf(begin);
        if (name == "for")
            return parseFor(begin);
        if (name == "set")
            return parseSet(begin);
        if (name == "macro")
            return parseMacro(begin);
        if (name == "call")
            return parseCallBlock(begin);
        if (name == "generation")
            return parseGeneration(begin);
        if (name == "break" || name == "continue") {
            if (m_loopDepth == 0)
                fail("'" + name + "' outside a for loop");
            ++m_pos;
            expectBlockEnd();
            return std::make_unique<Node>(name == "break" ? Node::Kind::Break : Node::Kind::Continue, begin);
        }
        for (const char *unsupported : kUnsupportedStatements)
            if (name == unsupported)
                fail("the '" + name + "' statement is not supported");
        if (isClosingTag(name))
            fail("unexpected '" + name + "'");
        fail("unknown statement '" + name + "'");
    }

    NodePtr parseIf(size_t begin) {
        auto node = std::make_unique<IfNode>(begin);
        ++m_pos; // "if"
        std::string tag = "elif";
        while (tag == "elif") { // parseBody stops after the name of the tag that ends the branch
            auto condition = parseTuple(false, false, {});
            expectBlockEnd();
            auto body = parseBody({"elif", "else", "endif"}, &tag, begin, "if");
            node->branches.emplace_back(std::move(condition), std::move(body));
        }
        if (tag == "else") {
            expectBlockEnd();
            node->otherwise = parseBody({"endif"}, &tag, begin, "if");
        }
        expectBlockEnd();
        return node;
    }

    NodePtr parseFor(size_t begin) {
        ++m_pos;
        auto node = std::make_unique<ForNode>(begin);
        node->targets = parseTargets("in");
        if (!skipName("in"))
            unexpected("'in'");
        node->iterable = parseTuple(false, false, {"recursive"});
        if (skipName("if"))
            node->condition = parseExpression();
        if (isName("recursive"))
            fail("recursive loops are not supported");
        expectBlockEnd();
        std::string tag;
        ++m_loopDepth;
        node->body = parseBody({"else", "endfor"}, &tag, begin, "for");
        --m_loopDepth;
        if (tag == "else") {
            expectBlockEnd();
            node->otherwise = parseBody({"endfor"}, &tag, begin, "for");
        }
        expectBlockEnd();
        return node;
    }

    // One name, or names separated by commas (optionally in parentheses) to unpack into.
    Targets parseTargets(const char *endName) {
        Targets targets;
        const bool parenthesized = skipOperator("(");
        while (true) {
            targets.names.push_back(expectName());
            if (!skipOperator(","))
                break;
            targets.unpack = true;
            if (isName(endName) || isOperator("=") || isOperator(")"))
                break;
        }
        if (parenthesized) {
            expectOperator(")");
            targets.unpack = targets.unpack || targets.names.size() > 1;
        }
        return targets;
    }

    NodePtr parseSet(size_t begin) {
        ++m_pos;
        auto node = std::make_unique<SetNode>(begin);
        if (is(TokenKind::Name) && isOperator(".", 1)) { // set ns.attribute
            node->targets.names.push_back(expectName());
            ++m_pos;
            node->attribute = expectName();
        } else {
            node->targets = parseTargets("");
        }
        if (skipOperator("=")) {
            node->value = parseTuple(true, false, {});
            expectBlockEnd();
            return node;
        }
        if (isOperator("|"))
            fail("filters on a block set are not supported");
        if (node->targets.unpack)
            unexpected("'='");
        expectBlockEnd();
        std::string tag;
        node->body = parseBody({"endset"}, &tag, begin, "set");
        expectBlockEnd();
        return node;
    }

    std::vector<Parameter> parseParameters() {
        std::vector<Parameter> parameters;
        expectOperator("(");
        while (!isOperator(")")) {
            if (!parameters.empty()) {
                expectOperator(",");
                if (isOperator(")"))
                    break;
            }
            Parameter p;
            const size_t at = offset();
            p.name = expectName();
            if (skipOperator("="))
                p.defaultValue = parseExpression();
            else if (!parameters.empty() && parameters.back().defaultValue)
                m_source.fail(at, "a parameter without a default follows one with a default");
            parameters.push_back(std::move(p));
        }
        ++m_pos;
        return parameters;
    }

    NodePtr parseMacro(size_t begin) {
        ++m_pos;
        auto node = std::make_unique<MacroNode>(begin);
        node->name = expectName();
        node->parameters = parseParameters();
        expectBlockEnd();
        // break/continue inside a macro cannot reach a loop around its definition
        const int loopDepth = std::exchange(m_loopDepth, 0);
        std::string tag;
        node->body = parseBody({"endmacro"}, &tag, begin, "macro");
        m_loopDepth = loopDepth;
        expectBlockEnd();
        return node;
    }

    NodePtr parseCallBlock(size_t begin) {
        ++m_pos;
        auto node = std::make_unique<CallBlockNode>(begin);
        if (isOperator("("))
            node->callerParameters = parseParameters();
        node->call = parseExpression();
        if (node->call->kind != Expr::Kind::Call)
            m_source.fail(node->call->offset, "a call block needs a macro call");
        expectBlockEnd();
        const int loopDepth = std::exchange(m_loopDepth, 0);
        std::string tag;
        node->body = parseBody({"endcall"}, &tag, begin, "call");
        m_loopDepth = loopDepth;
        expectBlockEnd();
        return node;
    }

    NodePtr parseGeneration(size_t begin) {
        ++m_pos;
        expectBlockEnd();
        auto node = std::make_unique<GenerationNode>(begin);
        std::string tag;
        node->body = parseBody({"endgeneration"}, &tag, begin, "generation");
        expectBlockEnd();
        return node;
    }

    // Expressions -----------------------------------------------------------------------------

    bool tupleEnds(const std::vector<std::string> &endNames) const {
        const Token *t = peek();
        if (!t || t->kind == TokenKind::VariableEnd || t->kind == TokenKind::BlockEnd || isOperator(")"))
            return true;
        return t->kind == TokenKind::Name && std::find(endNames.begin(), endNames.end(), t->text) != endNames.end();
    }

    // Expressions separated by commas form a tuple: "a, b" (as in {% set a, b = 1, 2 %}) or "(a, b)".
    ExprPtr parseTuple(bool withConditional, bool parenthesized, const std::vector<std::string> &endNames) {
        const size_t begin = offset();
        std::vector<ExprPtr> items;
        bool isTuple = false;
        while (true) {
            if (!items.empty())
                expectOperator(",");
            if (tupleEnds(endNames))
                break;
            items.push_back(withConditional ? parseExpression() : parseOr());
            if (isOperator(","))
                isTuple = true;
            else
                break;
        }
        if (!isTuple) {
            if (!items.empty())
                return std::move(items[0]);
            if (!parenthesized)
                unexpected("an expression");
        }
        auto list = std::make_unique<ListExpr>(begin, true);
        list->items = std::move(items);
        return list;
    }

    // An expression, with the conditional form (a if c else b).
    ExprPtr parseExpression() {
        DepthGuard guard(*this);
        ExprPtr expr = parseOr();
        while (isName("if")) {
            auto node = std::make_unique<Conditional>(offset());
            ++m_pos;
            node->condition = parseOr();
            if (skipName("else"))
                node->otherwise = parseExpression();
            node->then = std::move(expr);
            expr = std::move(node);
        }
        return expr;
    }

    ExprPtr parseOr() {
        ExprPtr left = parseAnd();
        while (isName("or")) {
            const size_t at = offset();
            ++m_pos;
            left = std::make_unique<Logical>(Expr::Kind::Or, at, std::move(left), parseAnd());
        }
        return left;
    }

    ExprPtr parseAnd() {
        ExprPtr left = parseNot();
        while (isName("and")) {
            const size_t at = offset();
            ++m_pos;
            left = std::make_unique<Logical>(Expr::Kind::And, at, std::move(left), parseNot());
        }
        return left;
    }

    ExprPtr parseNot() {
        if (isName("not")) {
            DepthGuard guard(*this);
            const size_t at = offset();
            ++m_pos;
            return std::make_unique<Unary>(Expr::Kind::Not, at, parseNot());
        }
        return parseCompare();
    }

    ExprPtr parseCompare() {
        ExprPtr first = parseMath1();
        std::unique_ptr<Compare> compare;
        static const std::pair<const char *, CompareOp> kOperators[] = {
            {"==", CompareOp::Equal},     {"!=", CompareOp::NotEqual}, {"<", CompareOp::Less},
            {"<=", CompareOp::LessEqual}, {">", CompareOp::Greater},   {">=", CompareOp::GreaterEqual}};
        while (true) {
            const size_t at = offset();
            std::optional<CompareOp> op;
            for (const auto &[symbol, value] : kOperators)
                if (isOperator(symbol))
                    op = value;
            if (op) {
                ++m_pos;
            } else if (isName("in")) {
                op = CompareOp::In;
                ++m_pos;
            } else if (isName("not") && isName("in", 1)) {
                op = CompareOp::NotIn;
                m_pos += 2;
            } else {
                break;
            }
            if (!compare)
                compare = std::make_unique<Compare>(at, std::move(first));
            compare->rest.emplace_back(*op, parseMath1());
        }
        if (compare)
            return compare;
        return first;
    }

    ExprPtr parseMath1() {
        ExprPtr left = parseConcat();
        while (isOperator("+") || isOperator("-")) {
            const size_t at = offset();
            const BinaryOp op = isOperator("+") ? BinaryOp::Add : BinaryOp::Subtract;
            ++m_pos;
            left = std::make_unique<Binary>(at, op, std::move(left), parseConcat());
        }
        return left;
    }

    ExprPtr parseConcat() {
        ExprPtr first = parseMath2();
        if (!isOperator("~"))
            return first;
        auto concat = std::make_unique<Concat>(offset());
        concat->parts.push_back(std::move(first));
        while (skipOperator("~"))
            concat->parts.push_back(parseMath2());
        return concat;
    }

    ExprPtr parseMath2() {
        ExprPtr left = parsePower();
        static const std::pair<const char *, BinaryOp> kOperators[] = {
            {"*", BinaryOp::Multiply}, {"/", BinaryOp::Divide}, {"//", BinaryOp::FloorDivide}, {"%", BinaryOp::Modulo}};
        while (true) {
            std::optional<BinaryOp> op;
            for (const auto &[symbol, value] : kOperators)
                if (isOperator(symbol))
                    op = value;
            if (!op)
                return left;
            const size_t at = offset();
            ++m_pos;
            left = std::make_unique<Binary>(at, *op, std::move(left), parsePower());
        }
    }

    // Left-associative, as in Jinja2 (2 ** 3 ** 2 is 64).
    ExprPtr parsePower() {
        ExprPtr left = parseUnary(true);
        while (isOperator("**")) {
            const size_t at = offset();
            ++m_pos;
            left = std::make_unique<Binary>(at, BinaryOp::Power, std::move(left), parseUnary(true));
        }
        return left;
    }

    // Jinja2 applies filters and tests after a unary minus: -x|abs is (-x)|abs.
    ExprPtr parseUnary(bool withFilters) {
        DepthGuard guard(*this);
        const size_t at = offset();
        ExprPtr node;
        if (skipOperator("-"))
            node = std::make_unique<Unary>(Expr::Kind::Negate, at, parseUnary(false));
        else if (skipOperator("+"))
            node = std::make_unique<Unary>(Expr::Kind::Plus, at, parseUnary(false));
        else
            node = parsePrimary();
        node = parsePostfix(std::move(node));
        return withFilters ? parseFiltersAndTests(std::move(node)) : std::move(node);
    }

    ExprPtr parsePrimary() {
        const Token *t = peek();
        if (!t)
            unexpected("an expression");
        const size_t at = t->offset;
        switch (t->kind) {
        case TokenKind::Name: {
            ++m_pos;
            if (t->text == "true" || t->text == "True")
                return std::make_unique<Literal>(at, true);
            if (t->text == "false" || t->text == "False")
                return std::make_unique<Literal>(at, false);
            if (t->text == "none" || t->text == "None")
                return std::make_unique<Literal>(at, nullptr);
            return std::make_unique<Name>(at, t->text);
        }
        case TokenKind::String: {
            std::string text; // adjacent string literals join, as in Python
            while (is(TokenKind::String))
                text += m_tokens[m_pos++].text;
            return std::make_unique<Literal>(at, std::move(text));
        }
        case TokenKind::Integer: {
            ++m_pos;
            errno = 0;
            const long long v = std::strtoll(t->text.c_str(), nullptr, 10);
            if (errno == ERANGE)
                m_source.fail(at, "the integer " + t->text + " is too large");
            return std::make_unique<Literal>(at, int64_t(v));
        }
        case TokenKind::Float: ++m_pos; return std::make_unique<Literal>(at, std::strtod(t->text.c_str(), nullptr));
        default: break;
        }
        if (skipOperator("(")) {
            auto inner = parseTuple(true, true, {});
            expectOperator(")");
            return inner;
        }
        if (skipOperator("["))
            return parseList(at);
        if (skipOperator("{"))
            return parseDict(at);
        unexpected("an expression");
    }

    ExprPtr parseList(size_t at) {
        auto list = std::make_unique<ListExpr>(at, false);
        while (!isOperator("]")) {
            if (!list->items.empty()) {
                expectOperator(",");
                if (isOperator("]"))
                    break;
            }
            list->items.push_back(parseExpression());
        }
        ++m_pos;
        return list;
    }

    ExprPtr parseDict(size_t at) {
        auto dict = std::make_unique<DictExpr>(at);
        while (!isOperator("}")) {
            if (!dict->entries.empty()) {
                expectOperator(",");
                if (isOperator("}"))
                    break;
            }
            auto key = parseExpression();
            expectOperator(":");
            dict->entries.emplace_back(std::move(key), parseExpression());
        }
        ++m_pos;
        return dict;
    }

    // .name, .0, [key], [start:stop:step], (arguments)
    ExprPtr parsePostfix(ExprPtr node) {
        while (true) {
            const size_t at = offset();
            if (skipOperator(".")) {
                if (is(TokenKind::Integer)) {
                    auto key =
                        std::make_unique<Literal>(offset(), int64_t(std::strtoll(peek()->text.c_str(), nullptr, 10)));
                    ++m_pos;
                    node = std::make_unique<Item>(at, std::move(node), std::move(key));
                } else {
                    const size_t nameAt = offset();
                    node = std::make_unique<Attribute>(nameAt, std::move(node), expectName());
                }
            } else if (skipOperator("[")) {
                node = parseSubscript(at, std::move(node));
            } else if (isOperator("(")) {
                node = parseCall(std::move(node));
            } else {
                return node;
            }
        }
    }

    ExprPtr parseSubscript(size_t at, ExprPtr object) {
        ExprPtr start;
        if (!isOperator(":"))
            start = parseExpression();
        if (skipOperator("]"))
            return std::make_unique<Item>(at, std::move(object), std::move(start));
        auto slice = std::make_unique<Slice>(at);
        slice->object = std::move(object);
        slice->start = std::move(start);
        expectOperator(":");
        if (!isOperator("]") && !isOperator(":"))
            slice->stop = parseExpression();
        if (skipOperator(":") && !isOperator("]"))
            slice->step = parseExpression();
        expectOperator("]");
        return slice;
    }

    ExprPtr parseCall(ExprPtr callee) {
        const size_t at = callee->offset;
        auto call = std::make_unique<Call>(at, std::move(callee));
        call->arguments = parseArguments();
        return call;
    }

    CallArguments parseArguments() {
        CallArguments arguments;
        expectOperator("(");
        bool first = true;
        while (!isOperator(")")) {
            if (!first) {
                expectOperator(",");
                if (isOperator(")"))
                    break;
            }
            first = false;
            if (isOperator("*") || isOperator("**"))
                fail("*args and **kwargs in calls are not supported");
            if (is(TokenKind::Name) && isOperator("=", 1)) {
                std::string key = expectName();
                ++m_pos;
                arguments.keywords.emplace_back(std::move(key), parseExpression());
            } else {
                if (!arguments.keywords.empty())
                    fail("a positional argument follows a keyword argument");
                arguments.positional.push_back(parseExpression());
            }
        }
        ++m_pos;
        return arguments;
    }

    ExprPtr parseFiltersAndTests(ExprPtr node) {
        while (true) {
            if (skipOperator("|")) {
                const size_t at = offset();
                std::string name = expectName();
                const FilterFunction function = findFilter(name);
                if (!function)
                    m_source.fail(at, "unknown filter '" + name + "'");
                auto filter = std::make_unique<FilterCall>(at, std::move(node), std::move(name), function);
                if (isOperator("("))
                    filter->arguments = parseArguments();
                node = std::move(filter);
            } else if (isName("is")) {
                node = parseTest(std::move(node));
            } else if (isOperator("(")) {
                node = parseCall(std::move(node));
            } else {
                return node;
            }
        }
    }

    ExprPtr parseTest(ExprPtr value) {
        ++m_pos; // "is"
        const bool negated = skipName("not");
        const size_t at = offset();
        std::string name = expectName();
        const TestFunction function = findTest(name);
        if (!function)
            m_source.fail(at, "unknown test '" + name + "'");
        auto test = std::make_unique<TestCall>(at, std::move(value), std::move(name), function, negated);
        const Token *t = peek();
        if (isOperator("(")) {
            test->arguments = parseArguments();
        } else if (t &&
                   (t->kind == TokenKind::Name || t->kind == TokenKind::String || t->kind == TokenKind::Integer ||
                    t->kind == TokenKind::Float || isOperator("[") || isOperator("{")) &&
                   !isName("else") && !isName("or") && !isName("and")) {
            // One argument without parentheses: "x is divisibleby 3", "x is sameas false".
            if (isName("is"))
                fail("tests cannot be chained with 'is'");
            test->arguments.positional.push_back(parsePostfix(parsePrimary()));
        }
        return test;
    }

    const Source &m_source;
    std::vector<Token> m_tokens;
    size_t m_pos = 0;
    int m_depth = 0;
    int m_loopDepth = 0;
};

} // namespace

std::shared_ptr<const detail::Program> parseProgram(const std::string &text, const std::string &name,
                                                    const Options &options) {
    auto program = std::make_shared<detail::Program>();
    program->source = {name, normalizeNewlines(text)};
    Parser parser(program->source, tokenize(program->source, options));
    program->body = parser.parseTemplate();
    return program;
}

} // namespace headroom::jinja
