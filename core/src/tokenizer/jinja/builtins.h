// What templates call by name: filters (value | name), tests (value is name), the attributes and
// methods of values (message.content, text.split(...), dict.items()) and the global functions.
// They throw Failure; the evaluator adds the place.
#pragma once

#include "headroom/jinja.h"

#include <optional>
#include <string>
#include <vector>

namespace headroom::jinja {

using FilterFunction = Value (*)(const Value &value, const Arguments &arguments);
using TestFunction = bool (*)(const Value &value, const Arguments &arguments);

// Null when there is no such filter or test.
FilterFunction findFilter(const std::string &name);
TestFunction findTest(const std::string &name);

// Jinja2's getattr (object.name: the attribute, else the item) and getitem (object[key]: the
// item, else the attribute), as the sandbox transformers uses allows them: what is missing is
// undefined, a method of a str/dict/list is a bound function, and the methods that would change a
// list or dict are refused. Reading from an undefined value fails.
Value getAttribute(const Value &object, const std::string &name);
Value getItem(const Value &object, const Value &key);
// Python's sequence[start:stop:step] on a list or a string; absent parts are undefined or None.
Value slice(const Value &sequence, const Value &start, const Value &stop, const Value &step);

// The values a for loop walks: list items, dict keys, string characters; undefined: none.
Array iterate(const Value &value);

// range, namespace, dict, raise_exception, strftime_now.
const Object &globals();

// Binds a call's arguments to named parameters, as Python does: positional ones first, then
// keywords; too many or unknown arguments fail. `what` names the callee in those messages.
class Parameters {
public:
    Parameters(const Arguments &arguments, const std::string &what, std::vector<std::string> names);
    // The argument for parameter i, or nullopt when it was not passed.
    const std::optional<Value> &operator[](size_t i) const { return m_values[i]; }
    Value get(size_t i, Value fallback) const { return m_values[i] ? *m_values[i] : std::move(fallback); }

private:
    std::vector<std::optional<Value>> m_values;
};
void expectNoArguments(const Arguments &arguments, const std::string &what);

} // namespace headroom::jinja
