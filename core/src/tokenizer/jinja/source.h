// A template's text and name, and how an offset in it becomes "<name>:<line>:<column>" in errors.
#pragma once

#include <string>

namespace headroom::jinja {

struct Source {
    std::string name;
    std::string text; // newlines already normalized (lexer.h)

    // "<line>:<column>", both from 1, the column counted in characters.
    std::string position(size_t offset) const;
    // "<name>:<line>:<column>"
    std::string locate(size_t offset) const { return name + ":" + position(offset); }
    // Throws headroom::invalidInput("<name>:<line>:<column>: <message>").
    [[noreturn]] void fail(size_t offset, const std::string &message) const;
};

} // namespace headroom::jinja
