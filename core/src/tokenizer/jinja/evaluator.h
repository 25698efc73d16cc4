// Runs a parsed template: statements write to the output, expressions evaluate with Python's
// semantics (operators.h, builtins.h).
//
// Scopes follow Jinja2: the template's variables sit over the render's context, which sits over
// the globals; each for-loop iteration, macro call and call-block body opens a scope of its own, so
// a {% set %} inside a loop is gone after the iteration (templates use namespace() to carry values
// out); {% if %} opens none. A macro reads the variables of the scope it was defined in as they
// are when it is called.
#pragma once

#include "headroom/jinja.h"
#include "tokenizer/jinja/ast.h"

#include <string>

namespace headroom::jinja {

// Throws invalidInput("<name>:<line>:<column>: ...") at the innermost expression or statement
// that failed.
std::string renderProgram(const detail::Program &program, const Value &context);

} // namespace headroom::jinja
