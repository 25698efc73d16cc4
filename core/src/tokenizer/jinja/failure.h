// A failure while rendering, before its place is known: the evaluator catches it at the innermost
// expression or statement being run and throws headroom::invalidInput("<name>:<line>:<column>: ...").
#pragma once

#include <stdexcept>

namespace headroom::jinja {

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

} // namespace headroom::jinja
