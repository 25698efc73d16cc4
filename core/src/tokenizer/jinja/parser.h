// Tokens -> the statements and expressions of a template, following Jinja2's grammar and operator
// precedence (lowest first): `x if c else y`, or, and, not, comparisons and in, + and -, ~, * / // %,
// **, unary - and +, then filters, tests and calls, then attributes, items and slices.
// What Headroom does not support is refused here, with its line and column: statements outside
// if/for/set/macro/call/generation/break/continue, unknown filters and tests, *args and **kwargs,
// recursive loops, filter blocks.
#pragma once

#include "headroom/jinja.h"
#include "tokenizer/jinja/ast.h"

#include <memory>
#include <string>

namespace headroom::jinja {

std::shared_ptr<const detail::Program> parseProgram(const std::string &text, const std::string &name,
                                                    const Options &options);

} // namespace headroom::jinja
