#include "tokenizer/jinja/text.h"

#include "tokenizer/jinja/failure.h"
#include "tokenizer/tokenizer_unicode.h"

#include <algorithm>

#ifdef HEADROOM_HAVE_ICU
#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#endif

namespace headroom::jinja::text {

namespace {

bool isAscii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

enum class Case { Upper, Lower, Title };

#ifdef HEADROOM_HAVE_ICU
std::string mapWithIcu(std::string_view s, Case mode) {
    auto u = icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())));
    switch (mode) {
    case Case::Upper: u.toUpper(icu::Locale::getRoot()); break;
    case Case::Lower: u.toLower(icu::Locale::getRoot()); break;
    // Called with one character: its full title-case mapping.
    case Case::Title: u.toTitle(nullptr, icu::Locale::getRoot()); break;
    }
    std::string out;
    u.toUTF8String(out);
    return out;
}
#endif

std::string mapCase(std::string_view s, Case mode) {
    if (isAscii(s)) {
        std::string out(s);
        for (char &c : out) {
            if (mode == Case::Lower && c >= 'A' && c <= 'Z')
                c = static_cast<char>(c - 'A' + 'a');
            else if (mode != Case::Lower && c >= 'a' && c <= 'z')
                c = static_cast<char>(c - 'a' + 'A');
        }
        return out;
    }
#ifdef HEADROOM_HAVE_ICU
    return mapWithIcu(s, mode);
#else
    throw Failure("changing the case of non-ASCII text needs ICU, and this build of Headroom has none");
#endif
}

// Python's "cased" property (a letter with case: Lu, Ll, Lt, or Other_Lowercase/Uppercase).
bool isCased(char32_t cp) {
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
#ifdef HEADROOM_HAVE_ICU
    return u_hasBinaryProperty(static_cast<UChar32>(cp), UCHAR_CASED);
#else
    throw Failure("changing the case of non-ASCII text needs ICU, and this build of Headroom has none");
#endif
}

std::string utf8(char32_t cp) {
    std::string out;
    unicode::appendUtf8(out, cp);
    return out;
}

bool isLineBreak(char32_t cp) {
    switch (cp) {
    case '\n':
    case '\r':
    case 0x0B:
    case 0x0C:
    case 0x1C:
    case 0x1D:
    case 0x1E:
    case 0x85:
    case 0x2028:
    case 0x2029: return true;
    default: return false;
    }
}

std::vector<std::string> splitOnWhitespace(const std::vector<char32_t> &cps, int64_t maxsplit, bool fromRight) {
    std::vector<std::string> parts;
    auto piece = [&](size_t b, size_t e) { return fromCodePoints({cps.begin() + b, cps.begin() + e}); };
    if (!fromRight) {
        size_t i = 0;
        const size_t n = cps.size();
        while (true) {
            while (i < n && isSpace(cps[i]))
                ++i;
            if (i == n)
                break;
            if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
                parts.push_back(piece(i, n)); // the rest, trailing whitespace included
                break;
            }
            size_t j = i;
            while (j < n && !isSpace(cps[j]))
                ++j;
            parts.push_back(piece(i, j));
            i = j;
        }
        return parts;
    }
    size_t i = cps.size();
    while (true) {
        while (i > 0 && isSpace(cps[i - 1]))
            --i;
        if (i == 0)
            break;
        if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
            parts.push_back(piece(0, i)); // the rest, leading whitespace included
            break;
        }
        size_t j = i;
        while (j > 0 && !isSpace(cps[j - 1]))
            --j;
        parts.push_back(piece(j, i));
        i = j;
    }
    std::reverse(parts.begin(), parts.end());
    return parts;
}

} // namespace

bool isSpace(char32_t cp) { return (cp >= 0x1C && cp <= 0x1F) || unicode::isWhitespace(cp); }

std::vector<char32_t> codePoints(std::string_view s) {
    std::vector<char32_t> out;
    out.reserve(s.size());
    for (size_t pos = 0; pos < s.size();)
        out.push_back(unicode::nextCodePoint(s, pos));
    return out;
}

std::string fromCodePoints(const std::vector<char32_t> &cps) {
    std::string out;
    out.reserve(cps.size());
    for (char32_t cp : cps)
        unicode::appendUtf8(out, cp);
    return out;
}

size_t length(std::string_view s) {
    size_t n = 0;
    for (unsigned char c : s)
        n += (c & 0xC0) != 0x80;
    return n;
}

std::string strip(std::string_view s, const std::optional<std::string> &chars, bool left, bool right) {
    const auto cps = codePoints(s);
    const auto set = chars ? codePoints(*chars) : std::vector<char32_t>();
    auto strippable = [&](char32_t cp) {
        return chars ? std::find(set.begin(), set.end(), cp) != set.end() : isSpace(cp);
    };
    size_t begin = 0, end = cps.size();
    while (left && begin < end && strippable(cps[begin]))
        ++begin;
    while (right && end > begin && strippable(cps[end - 1]))
        --end;
    return fromCodePoints({cps.begin() + begin, cps.begin() + end});
}

std::vector<std::string> split(std::string_view s, const std::optional<std::string> &sep, int64_t maxsplit,
                               bool fromRight) {
    if (!sep)
        return splitOnWhitespace(codePoints(s), maxsplit, fromRight);
    if (sep->empty())
        throw Failure("empty separator");
    std::vector<std::string> parts;
    if (!fromRight) {
        size_t pos = 0;
        while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
            const size_t hit = s.find(*sep, pos);
            if (hit == std::string_view::npos)
                break;
            parts.emplace_back(s.substr(pos, hit - pos));
            pos = hit + sep->size();
        }
        parts.emplace_back(s.substr(pos));
        return parts;
    }
    size_t end = s.size();
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
        if (end < sep->size())
            break;
        const size_t hit = s.rfind(*sep, end - sep->size());
        if (hit == std::string_view::npos)
            break;
        parts.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
        end = hit;
    }
    parts.emplace_back(s.substr(0, end));
    std::reverse(parts.begin(), parts.end());
    return parts;
}

std::vector<std::string> splitLines(std::string_view s) {
    const auto cps = codePoints(s);
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t i = 0; i < cps.size(); ++i) {
        if (!isLineBreak(cps[i]))
            continue;
        lines.push_back(fromCodePoints({cps.begin() + start, cps.begin() + i}));
        if (cps[i] == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n')
            ++i;
        start = i + 1;
    }
    if (start < cps.size())
        lines.push_back(fromCodePoints({cps.begin() + start, cps.end()}));
    return lines;
}

std::string replace(std::string_view s, std::string_view from, std::string_view to, int64_t count) {
    std::string out;
    int64_t done = 0;
    if (from.empty()) {
        const auto cps = codePoints(s);
        for (size_t i = 0; i <= cps.size(); ++i) {
            if (count < 0 || done < count) {
                out += to;
                ++done;
            }
            if (i < cps.size())
                unicode::appendUtf8(out, cps[i]);
        }
        return out;
    }
    size_t pos = 0;
    while (count < 0 || done < count) {
        const size_t hit = s.find(from, pos);
        if (hit == std::string_view::npos)
            break;
        out.append(s.substr(pos, hit - pos));
        out.append(to);
        pos = hit + from.size();
        ++done;
    }
    out.append(s.substr(pos));
    return out;
}

std::string upper(std::string_view s) { return mapCase(s, Case::Upper); }
std::string lower(std::string_view s) { return mapCase(s, Case::Lower); }

std::string title(std::string_view s) {
    std::string out;
    bool previousCased = false;
    for (char32_t cp : codePoints(s)) {
        out += mapCase(utf8(cp), previousCased ? Case::Lower : Case::Title);
        previousCased = isCased(cp);
    }
    return out;
}

std::string capitalize(std::string_view s) {
    const auto cps = codePoints(s);
    if (cps.empty())
        return "";
    return mapCase(utf8(cps[0]), Case::Title) + mapCase(fromCodePoints({cps.begin() + 1, cps.end()}), Case::Lower);
}

} // namespace headroom::jinja::text
