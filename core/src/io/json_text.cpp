// Locating JSON syntax errors and quoting values in error messages.
#include "io/json_text.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "headroom/error.h"

namespace headroom::detail {

namespace {

constexpr size_t kMaxReasonChars = 200;
constexpr size_t kMaxQuotedChars = 60;

// Printable ASCII kept, other bytes as \xNN, length capped.
std::string printable(const std::string &text, size_t maxChars) {
    static const char kHex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < text.size() && out.size() < maxChars; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f)
            out += static_cast<char>(c);
        else
            out += std::string("\\x") + kHex[c >> 4] + kHex[c & 15];
    }
    return out.size() < maxChars ? out : out + "...";
}

} // namespace

JsonSyntaxError locateSyntaxError(const nlohmann::json::parse_error &error, const std::string &text) {
    JsonSyntaxError located;
    // error.byte is the 1-based position of the character that could not be read.
    const size_t position = std::min<size_t>(error.byte > 0 ? error.byte - 1 : 0, text.size());
    size_t lineStart = 0;
    for (size_t i = 0; i < position; ++i) {
        if (text[i] == '\n') {
            ++located.line;
            lineStart = i + 1;
        }
    }
    located.column = static_cast<int64_t>(position - lineStart) + 1;

    // "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ..."
    std::string message = error.what();
    const size_t column = message.find(", column ");
    const size_t start = column == std::string::npos ? message.find("] ") : message.find(": ", column);
    if (start != std::string::npos)
        message = message.substr(start + 2);
    located.reason = printable(message, kMaxReasonChars);
    return located;
}

std::string quoteForError(const nlohmann::json &value) {
    return printable(value.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace), kMaxQuotedChars);
}

nlohmann::json readJsonFile(const std::string &path, const std::string &missingHint) {
    struct stat status {};
    std::ifstream in(path, std::ios::binary);
    if (!in || (::stat(path.c_str(), &status) == 0 && S_ISDIR(status.st_mode)))
        throw invalidInput(path + ": cannot read" + (missingHint.empty() ? "" : " (" + missingHint + ")"));
    std::ostringstream bytes;
    bytes << in.rdbuf();
    const std::string text = bytes.str();
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error &error) {
        const auto located = locateSyntaxError(error, text);
        throw invalidInput(path + ":" + std::to_string(located.line) + ":" + std::to_string(located.column) +
                           ": malformed JSON (" + located.reason + ")");
    }
}

} // namespace headroom::detail
