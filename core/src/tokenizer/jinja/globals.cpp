// The global functions: Jinja2's range, namespace and dict, and transformers' raise_exception and
// strftime_now.
#include "tokenizer/jinja/builtins.h"

#include "tokenizer/jinja/failure.h"
#include "tokenizer/jinja/operators.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <locale.h>

namespace headroom::jinja {

namespace {

// The sandbox's limit on range() (MAX_RANGE).
constexpr int64_t kMaxRange = 100000;

Value range(const Arguments &arguments) {
    if (!arguments.keywords.empty() || arguments.positional.empty() || arguments.positional.size() > 3)
        throw Failure("range() takes one to three integers");
    std::vector<int64_t> n;
    for (const auto &v : arguments.positional) {
        if (!v.isInt() && !v.isBool())
            throw Failure("range() takes integers, not " + typeName(v));
        n.push_back(v.isInt() ? v.asInt() : v.asBool());
    }
    const int64_t start = n.size() > 1 ? n[0] : 0;
    const int64_t stop = n.size() > 1 ? n[1] : n[0];
    const int64_t step = n.size() > 2 ? n[2] : 1;
    if (step == 0)
        throw Failure("range() arg 3 must not be zero");
    Array out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (int64_t(out.size()) >= kMaxRange)
            throw Failure("range too big: the sandbox allows at most " + std::to_string(kMaxRange) + " items");
        out.emplace_back(i);
    }
    return out;
}

// dict(mapping, **kwargs) as Python builds it (namespace() takes the same arguments).
Object mapping(const Arguments &arguments, const char *what) {
    if (arguments.positional.size() > 1 || (arguments.positional.size() == 1 && !arguments.positional[0].isObject()))
        throw Failure(std::string(what) + "() takes at most one mapping and keyword arguments");
    Object out = arguments.positional.empty() ? Object() : arguments.positional[0].asObject();
    for (const auto &[key, value] : arguments.keywords)
        out.set(key, value);
    return out;
}

Value raiseException(const Arguments &arguments) {
    Parameters p(arguments, "raise_exception", {"message"});
    throw Failure("raise_exception: " + p.get(0, "").str());
}

// datetime.strftime: C's strftime in the C locale (Python never sets LC_TIME), with Python's own
// %f (microseconds); a naive datetime prints %z and %Z as nothing.
std::string formatTime(const std::string &format, const std::tm &time, long microseconds) {
    std::string expanded;
    for (size_t i = 0; i < format.size(); ++i) {
        if (format[i] == '%' && i + 1 < format.size()) {
            const char d = format[i + 1];
            ++i;
            if (d == 'f') {
                char buf[24];
                std::snprintf(buf, sizeof buf, "%06ld", microseconds);
                expanded += buf;
            } else if (d != 'z' && d != 'Z') {
                expanded += '%';
                expanded += d;
            }
        } else {
            expanded += format[i];
        }
    }
    if (expanded.empty())
        return "";
    static const locale_t cLocale = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(0));
    // strftime returns 0 both for "too small" and for an empty result: grow a few times, then accept "".
    for (size_t size = 256; size <= 65536; size *= 4) {
        std::string buf(size, '\0');
        const size_t n = strftime_l(buf.data(), buf.size(), expanded.c_str(), &time, cLocale);
        if (n > 0) {
            buf.resize(n);
            return buf;
        }
    }
    return "";
}

Value strftimeNow(const Arguments &arguments) {
    Parameters p(arguments, "strftime_now", {"format"});
    if (!p[0] || !p[0]->isString())
        throw Failure("strftime_now() takes a format string");
    std::tm time{};
    long microseconds = 0;
    const char *epoch = std::getenv("SOURCE_DATE_EPOCH");
    if (epoch && *epoch) { // reproducible renders: that instant, in UTC
        char *end = nullptr;
        errno = 0;
        const long long seconds = std::strtoll(epoch, &end, 10);
        if (*end != '\0' || errno == ERANGE)
            throw Failure(std::string("SOURCE_DATE_EPOCH is not a number of seconds: '") + epoch + "'");
        const std::time_t t = static_cast<std::time_t>(seconds);
        gmtime_r(&t, &time);
    } else { // datetime.now(): the local time
        timespec now{};
        clock_gettime(CLOCK_REALTIME, &now);
        localtime_r(&now.tv_sec, &time);
        microseconds = now.tv_nsec / 1000;
    }
    return formatTime(p[0]->asString(), time, microseconds);
}

} // namespace

const Object &globals() {
    static const Object table = [] {
        Object g;
        g.set("range", Value::function(range));
        g.set("namespace",
              Value::function([](const Arguments &a) { return Value::makeNamespace(mapping(a, "namespace")); }));
        g.set("dict", Value::function([](const Arguments &a) { return Value(mapping(a, "dict")); }));
        g.set("raise_exception", Value::function(raiseException));
        g.set("strftime_now", Value::function(strftimeNow));
        return g;
    }();
    return table;
}

} // namespace headroom::jinja
