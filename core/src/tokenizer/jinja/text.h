// Python's str operations on UTF-8 text, counted in code points as Python counts them: what the
// templates' string methods (split, strip, upper...) and filters (trim, title, indent...) need.
// Case mapping beyond ASCII uses ICU (full mappings, like Python's: "ß".upper() is "SS"); a build
// without ICU refuses it rather than leave such letters unchanged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace headroom::jinja::text {

// Python's str.isspace() for one character (Unicode White_Space plus U+001C..U+001F).
bool isSpace(char32_t cp);

std::vector<char32_t> codePoints(std::string_view s);
std::string fromCodePoints(const std::vector<char32_t> &cps);
size_t length(std::string_view s);

// str.strip/lstrip/rstrip: whitespace when `chars` is absent, else any of its characters.
std::string strip(std::string_view s, const std::optional<std::string> &chars, bool left, bool right);
// str.split/rsplit: on runs of whitespace (dropping empty pieces) when `sep` is absent, else on
// each `sep` (non-empty); at most `maxsplit` splits when it is >= 0.
std::vector<std::string> split(std::string_view s, const std::optional<std::string> &sep, int64_t maxsplit,
                               bool fromRight);
// str.splitlines() (the line ends are dropped).
std::vector<std::string> splitLines(std::string_view s);
// str.replace: at most `count` replacements when count >= 0; an empty `from` inserts `to` around
// every character.
std::string replace(std::string_view s, std::string_view from, std::string_view to, int64_t count);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
// str.title(): a cased letter after an uncased character becomes title case, the others lower case.
std::string title(std::string_view s);
// str.capitalize(): the first character in title case, the rest lower case.
std::string capitalize(std::string_view s);

} // namespace headroom::jinja::text
