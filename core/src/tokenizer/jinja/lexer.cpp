#include "tokenizer/jinja/lexer.h"

#include "tokenizer/jinja/text.h"
#include "tokenizer/tokenizer_unicode.h"

#include <cctype>

namespace headroom::jinja {

namespace {

bool isNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool isNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

int hexValue(char c) {
    if (isDigit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

class Lexer {
public:
    Lexer(const Source &source, const Options &options) : m_source(source), m_text(source.text), m_options(options) {}

    std::vector<Token> run() {
        size_t pos = 0;
        // Whether the text being read starts a line (lstrip_blocks looks at it): true at the start
        // and after a tag whose trailing whitespace handling ended on a newline.
        bool lineStarting = true;
        while (pos < m_text.size()) {
            const size_t start = findTag(pos);
            std::string text = m_text.substr(pos, (start == std::string::npos ? m_text.size() : start) - pos);
            if (start == std::string::npos) {
                addText(std::move(text), pos);
                break;
            }
            const char kind = m_text[start + 1];
            const char modifier = start + 2 < m_text.size() ? m_text[start + 2] : '\0';
            if (modifier == '-') {
                text = text::strip(text, std::nullopt, false, true);
            } else if (m_options.lstripBlocks && kind != '{' && modifier != '+') {
                const size_t newline = text.rfind('\n');
                const size_t lineStart = newline == std::string::npos ? 0 : newline + 1;
                if ((lineStart > 0 || lineStarting) && text.find_first_not_of(" \t", lineStart) == std::string::npos)
                    text.resize(lineStart);
            }
            addText(std::move(text), pos);
            size_t p = start + 2 + (modifier == '-' || modifier == '+' ? 1 : 0);
            if (kind == '#')
                p = skipComment(start, p);
            else
                p = lexTag(kind, start, p);
            lineStarting = m_text[p - 1] == '\n';
            pos = p;
        }
        return std::move(m_tokens);
    }

private:
    size_t findTag(size_t pos) const {
        for (size_t p = m_text.find('{', pos); p != std::string::npos; p = m_text.find('{', p + 1)) {
            const char next = p + 1 < m_text.size() ? m_text[p + 1] : '\0';
            if (next == '{' || next == '%' || next == '#')
                return p;
        }
        return std::string::npos;
    }

    void addText(std::string text, size_t offset) {
        if (!text.empty())
            m_tokens.push_back({TokenKind::Text, std::move(text), offset});
    }

    // Past the whitespace (Python's \s) from p.
    size_t skipSpace(size_t p) const {
        while (p < m_text.size()) {
            size_t next = p;
            if (!text::isSpace(unicode::nextCodePoint(m_text, next)))
                break;
            p = next;
        }
        return p;
    }

    // Where the text after a block or comment tag starts, the tag's "%}" or "#}" ending at `end`
    // and `modifier` being the character before that ('-', '+' or another).
    size_t afterBlockEnd(size_t end, char modifier) const {
        if (modifier == '-')
            return skipSpace(end);
        if (modifier != '+' && m_options.trimBlocks && end < m_text.size() && m_text[end] == '\n')
            return end + 1;
        return end;
    }

    size_t skipComment(size_t start, size_t p) const {
        const size_t close = m_text.find("#}", p);
        if (close == std::string::npos)
            m_source.fail(start, "the comment is not closed (missing #})");
        const char modifier = close > p ? m_text[close - 1] : '\0';
        return afterBlockEnd(close + 2, modifier);
    }

    // Reads the tokens of a {{ }} or {% %} tag from p; returns where the text after it starts.
    size_t lexTag(char kind, size_t start, size_t p) {
        const bool block = kind == '%';
        m_tokens.push_back({block ? TokenKind::BlockBegin : TokenKind::VariableBegin, "", start});
        const std::string close = block ? "%}" : "}}";
        std::string brackets; // open ( [ { inside the tag: the tag cannot end inside them
        while (true) {
            p = skipSpace(p);
            if (p >= m_text.size())
                m_source.fail(start, std::string("the tag is not closed (missing ") + close + ")");
            if (brackets.empty()) {
                const char c = m_text[p];
                if ((c == '-' || (block && c == '+')) && m_text.compare(p + 1, 2, close) == 0) {
                    m_tokens.push_back({block ? TokenKind::BlockEnd : TokenKind::VariableEnd, "", p});
                    return block ? afterBlockEnd(p + 3, c) : skipSpace(p + 3);
                }
                if (m_text.compare(p, 2, close) == 0) {
                    m_tokens.push_back({block ? TokenKind::BlockEnd : TokenKind::VariableEnd, "", p});
                    return block ? afterBlockEnd(p + 2, '\0') : p + 2;
                }
            }
            p = lexToken(p, brackets);
        }
    }

    size_t lexToken(size_t p, std::string &brackets) {
        const char c = m_text[p];
        if (isNameStart(c)) {
            size_t end = p;
            while (end < m_text.size() && isNameChar(m_text[end]))
                ++end;
            m_tokens.push_back({TokenKind::Name, m_text.substr(p, end - p), p});
            return end;
        }
        if (isDigit(c))
            return lexNumber(p);
        if (c == '\'' || c == '"')
            return lexString(p);
        static const char *const kTwoChar[] = {"//", "**", "==", "!=", ">=", "<="};
        for (const char *op : kTwoChar) {
            if (m_text.compare(p, 2, op) == 0) {
                m_tokens.push_back({TokenKind::Operator, op, p});
                return p + 2;
            }
        }
        if (std::string("+-*/%~[](){}<>=.:|,;").find(c) == std::string::npos) {
            size_t next = p;
            std::string shown;
            unicode::appendUtf8(shown, unicode::nextCodePoint(m_text, next));
            m_source.fail(p, "unexpected character '" + shown + "'");
        }
        if (c == '(' || c == '[' || c == '{') {
            brackets.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
        } else if (c == ')' || c == ']' || c == '}') {
            if (brackets.empty() || brackets.back() != c)
                m_source.fail(p, std::string("unexpected '") + c + "'");
            brackets.pop_back();
        }
        m_tokens.push_back({TokenKind::Operator, std::string(1, c), p});
        return p + 1;
    }

    // Digits with single underscores between them, as Python and Jinja2 write numbers.
    size_t readDigits(size_t p, std::string &out) const {
        while (p < m_text.size()) {
            if (isDigit(m_text[p]))
                out += m_text[p++];
            else if (m_text[p] == '_' && p + 1 < m_text.size() && isDigit(m_text[p + 1]) && p > 0 &&
                     isDigit(m_text[p - 1]))
                ++p;
            else
                break;
        }
        return p;
    }

    size_t lexNumber(size_t start) {
        std::string digits;
        size_t p = readDigits(start, digits);
        bool isFloat = false;
        // "x.0.1" is two item lookups, not x then 0.1: no fraction right after a dot.
        const bool afterDot = !m_tokens.empty() && m_tokens.back().kind == TokenKind::Operator &&
                              m_tokens.back().text == "." && m_tokens.back().offset + 1 == start;
        if (!afterDot && p + 1 < m_text.size() && m_text[p] == '.' && isDigit(m_text[p + 1])) {
            digits += '.';
            p = readDigits(p + 1, digits);
            isFloat = true;
        }
        if (!afterDot && p < m_text.size() && (m_text[p] == 'e' || m_text[p] == 'E')) {
            size_t q = p + 1;
            std::string exponent = "e";
            if (q < m_text.size() && (m_text[q] == '+' || m_text[q] == '-'))
                exponent += m_text[q++];
            if (q < m_text.size() && isDigit(m_text[q])) {
                p = readDigits(q, exponent);
                digits += exponent;
                isFloat = true;
            }
        }
        if (!isFloat && digits.size() > 1 && digits[0] == '0' && digits.find_first_not_of('0') != std::string::npos)
            m_source.fail(start, "leading zeros are not allowed in a number");
        m_tokens.push_back({isFloat ? TokenKind::Float : TokenKind::Integer, digits, start});
        return p;
    }

    size_t lexString(size_t start) {
        const char quote = m_text[start];
        std::string value;
        size_t p = start + 1;
        while (true) {
            if (p >= m_text.size())
                m_source.fail(start, "the string is not closed");
            const char c = m_text[p];
            if (c == quote)
                break;
            if (c != '\\') {
                value += c;
                ++p;
                continue;
            }
            p = readEscape(p, value);
        }
        m_tokens.push_back({TokenKind::String, std::move(value), start});
        return p + 1;
    }

    // The escape at p (a backslash), read as Python's "unicode-escape" codec reads it (so does
    // Jinja2): appends what it stands for, returns where the string goes on.
    size_t readEscape(size_t p, std::string &value) const {
        if (p + 1 >= m_text.size())
            m_source.fail(p, "the string is not closed");
        const char c = m_text[p + 1];
        switch (c) {
        case '\n': return p + 2; // a backslash before a newline joins the lines
        case '\\':
        case '\'':
        case '"': value += c; return p + 2;
        case 'a': value += '\a'; return p + 2;
        case 'b': value += '\b'; return p + 2;
        case 'f': value += '\f'; return p + 2;
        case 'n': value += '\n'; return p + 2;
        case 'r': value += '\r'; return p + 2;
        case 't': value += '\t'; return p + 2;
        case 'v': value += '\v'; return p + 2;
        case 'x': return readCodePoint(p, 2, 16, value);
        case 'u': return readCodePoint(p, 4, 16, value);
        case 'U': return readCodePoint(p, 8, 16, value);
        default: break;
        }
        if (c >= '0' && c <= '7')
            return readCodePoint(p, 3, 8, value);
        if (static_cast<unsigned char>(c) >= 0x80 || c == 'N')
            m_source.fail(p, std::string("unsupported escape in a string: \\") + (c == 'N' ? "N{...}" : "<non-ASCII>"));
        value += '\\'; // Python keeps an unknown escape as written
        value += c;
        return p + 2;
    }

    // \xhh, \uhhhh, \Uhhhhhhhh (exactly that many hex digits) or \ooo (one to three octal digits).
    size_t readCodePoint(size_t p, int digits, int base, std::string &value) const {
        size_t q = base == 8 ? p + 1 : p + 2;
        uint32_t cp = 0;
        int read = 0;
        for (; read < digits && q < m_text.size(); ++read, ++q) {
            const int d = hexValue(m_text[q]);
            if (d < 0 || d >= base)
                break;
            cp = cp * base + d;
        }
        if ((base == 16 && read < digits) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            m_source.fail(p, "invalid escape in a string");
        unicode::appendUtf8(value, cp);
        return q;
    }

    const Source &m_source;
    const std::string &m_text;
    const Options &m_options;
    std::vector<Token> m_tokens;
};

} // namespace

std::string normalizeNewlines(const std::string &text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r') {
            out += '\n';
            if (i + 1 < text.size() && text[i + 1] == '\n')
                ++i;
        } else {
            out += text[i];
        }
    }
    if (!out.empty() && out.back() == '\n')
        out.pop_back();
    return out;
}

std::vector<Token> tokenize(const Source &source, const Options &options) { return Lexer(source, options).run(); }

} // namespace headroom::jinja
