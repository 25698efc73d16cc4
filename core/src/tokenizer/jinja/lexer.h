// Template text -> tokens, with Jinja2's whitespace control applied to the text between tags:
// {%- / {{- / {#- strip the whitespace before the tag, -%} / -}} / -#} the whitespace after it,
// trim_blocks drops the newline after a block or comment tag, lstrip_blocks the spaces and tabs
// before a block or comment tag that starts its line ({%+ and +%} turn those two off for one tag).
// Comments are dropped here.
#pragma once

#include "headroom/jinja.h"
#include "tokenizer/jinja/source.h"

#include <string>
#include <vector>

namespace headroom::jinja {

enum class TokenKind { Text, VariableBegin, VariableEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Operator };

struct Token {
    TokenKind kind;
    // Text: the text; Name: the identifier; String: the decoded literal; Integer/Float: the digits
    // (underscores removed); Operator: its characters; the begin/end kinds: empty.
    std::string text;
    size_t offset; // where it starts in the source
};

// What Jinja2 does before lexing: \r\n and \r become \n, and one newline ending the template is
// dropped (keep_trailing_newline is off in transformers).
std::string normalizeNewlines(const std::string &text);

// Throws invalidInput (with line and column) for an unclosed tag, comment or string, an unexpected
// character or unbalanced brackets.
std::vector<Token> tokenize(const Source &source, const Options &options);

} // namespace headroom::jinja
