// jinja::Template: parse once, render many times (jinja.h).
#include "headroom/jinja.h"

#include "tokenizer/jinja/evaluator.h"
#include "tokenizer/jinja/parser.h"

namespace headroom::jinja {

Template Template::parse(const std::string &source, const std::string &name, Options options) {
    return Template(parseProgram(source, name, options));
}

std::string Template::render(const Value &context) const { return renderProgram(*m_program, context); }

const std::string &Template::name() const { return m_program->source.name; }

} // namespace headroom::jinja
