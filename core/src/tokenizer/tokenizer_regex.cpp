#include "tokenizer/tokenizer_regex.h"

#include "headroom/error.h"

#ifdef HEADROOM_HAVE_PCRE2
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#endif

namespace headroom {

#ifdef HEADROOM_HAVE_PCRE2

struct TokenizerRegex::Compiled {
    pcre2_code *code = nullptr;
    ~Compiled() { pcre2_code_free(code); }
};

namespace {

// Match data and the JIT stack are per thread, shared by all patterns: encode() runs on many
// threads at once and a pcre2_match_data must not be shared between concurrent matches.
struct ThreadMatchState {
    pcre2_match_data *data = pcre2_match_data_create(64, nullptr);
    pcre2_match_context *context = pcre2_match_context_create(nullptr);
    // The default 32 KiB JIT stack is too small for long runs of whitespace or letters.
    pcre2_jit_stack *jitStack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);

    ThreadMatchState() {
        if (jitStack)
            pcre2_jit_stack_assign(context, nullptr, jitStack);
    }
    ~ThreadMatchState() {
        pcre2_jit_stack_free(jitStack);
        pcre2_match_context_free(context);
        pcre2_match_data_free(data);
    }
};

ThreadMatchState &threadMatchState() {
    thread_local ThreadMatchState state;
    return state;
}

std::string pcre2Message(int code) {
    PCRE2_UCHAR buffer[256];
    pcre2_get_error_message(code, buffer, sizeof buffer);
    return reinterpret_cast<const char *>(buffer);
}

} // namespace

TokenizerRegex::TokenizerRegex(const std::string &pattern, const std::string &context)
    : m_pattern(pattern), m_compiled(std::make_unique<Compiled>()) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    m_compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
    if (!m_compiled->code)
        throw invalidInput(context + ": the regex /" + pattern + "/ does not compile (" + pcre2Message(error) +
                           " at offset " + std::to_string(offset) + "); a PCRE2-compatible pattern is needed");
    // JIT is an optimisation only: without it (unsupported CPU, JIT disabled) matching still works.
    pcre2_jit_compile(m_compiled->code, PCRE2_JIT_COMPLETE);
}

TokenizerRegex::~TokenizerRegex() = default;

bool TokenizerRegex::next(std::string_view text, size_t pos, size_t &begin, size_t &end) const {
    if (pos > text.size())
        return false;
    ThreadMatchState &state = threadMatchState();
    int rc = pcre2_match(m_compiled->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), pos, 0, state.data,
                         state.context);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) // pathological input: fall back to the interpreter
        rc = pcre2_match(m_compiled->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), pos, PCRE2_NO_JIT,
                         state.data, state.context);
    if (rc == PCRE2_ERROR_NOMATCH)
        return false;
    if (rc < 0)
        throw runtimeFailure("regex /" + m_pattern + "/ failed on a text of " + std::to_string(text.size()) +
                             " bytes: " + pcre2Message(rc));
    const PCRE2_SIZE *ovector = pcre2_get_ovector_pointer(state.data);
    begin = ovector[0];
    end = ovector[1];
    return true;
}

#else // no PCRE2

struct TokenizerRegex::Compiled {};

TokenizerRegex::TokenizerRegex(const std::string &pattern, const std::string &context) : m_pattern(pattern) {
    throw invalidInput(context + ": this tokenizer needs the regex /" + pattern +
                       "/, and this build of Headroom has no PCRE2 (libpcre2-dev was not found when it "
                       "was configured); rebuild with libpcre2-dev installed");
}

TokenizerRegex::~TokenizerRegex() = default;

bool TokenizerRegex::next(std::string_view, size_t, size_t &, size_t &) const { return false; }

#endif

std::vector<std::pair<size_t, size_t>> TokenizerRegex::matches(std::string_view text) const {
    std::vector<std::pair<size_t, size_t>> out;
    forEachMatch(text, [&](size_t b, size_t e) { out.emplace_back(b, e); });
    return out;
}

std::string TokenizerRegex::replaceAll(std::string_view text, std::string_view replacement) const {
    std::string out;
    size_t last = 0;
    forEachMatch(text, [&](size_t b, size_t e) {
        out.append(text.data() + last, b - last);
        out.append(replacement);
        last = e;
    });
    out.append(text.data() + last, text.size() - last);
    return out;
}

} // namespace headroom
