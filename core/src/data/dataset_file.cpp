// Cutting a dataset file into records: JSONL lines, or the elements of one JSON array.
#include "data/dataset_file.h"

#include "headroom/error.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace headroom::detail {

namespace {

bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trimmed(std::string_view text) {
    while (!text.empty() && isBlank(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && isBlank(text.back()))
        text.remove_suffix(1);
    return text;
}

std::vector<RawRecord> splitLines(std::string_view bytes) {
    std::vector<RawRecord> records;
    int64_t line = 1;
    size_t start = 0;
    while (start <= bytes.size()) {
        size_t end = bytes.find('\n', start);
        if (end == std::string_view::npos)
            end = bytes.size();
        const std::string_view text = bytes.substr(start, end - start);
        const std::string_view content = trimmed(text);
        if (!content.empty())
            records.push_back({line, static_cast<int64_t>(content.data() - text.data()) + 1, content});
        ++line;
        start = end + 1;
    }
    return records;
}

// Scans the array's text tracking strings and nesting: a ',' or ']' outside any string or
// nested value ends an element.
std::vector<RawRecord> splitArray(const std::string &path, std::string_view bytes, size_t open) {
    std::vector<RawRecord> records;
    int64_t line = 1;
    size_t lineStart = 0;
    for (size_t i = 0; i < open; ++i) {
        if (bytes[i] == '\n') {
            ++line;
            lineStart = i + 1;
        }
    }
    size_t start = std::string_view::npos;
    int64_t startLine = 0, startColumn = 0;
    int depth = 0;
    bool inString = false, escaped = false;
    auto begin = [&](size_t i) {
        if (start == std::string_view::npos) {
            start = i;
            startLine = line;
            startColumn = static_cast<int64_t>(i - lineStart) + 1;
        }
    };
    auto finish = [&](size_t end, bool closing) {
        if (start == std::string_view::npos) {
            if (!closing || !records.empty()) // "[]" is empty; "[1,]" and "[,1]" have an empty element
                records.push_back({line, static_cast<int64_t>(end - lineStart) + 1, {}});
            return;
        }
        records.push_back({startLine, startColumn, trimmed(bytes.substr(start, end - start))});
        start = std::string_view::npos;
    };
    for (size_t i = open + 1; i < bytes.size(); ++i) {
        const char c = bytes[i];
        if (c == '\n') {
            ++line;
            lineStart = i + 1;
        }
        if (inString) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                inString = false;
            continue;
        }
        if (c == '"') {
            begin(i);
            inString = true;
        } else if (c == '{' || c == '[') {
            begin(i);
            ++depth;
        } else if ((c == '}' || c == ']') && depth > 0) {
            --depth;
        } else if (c == ']' || (c == ',' && depth == 0)) {
            finish(i, c == ']');
            if (c == ',')
                continue;
            if (!trimmed(bytes.substr(i + 1)).empty())
                throw invalidInput(path + ":" + std::to_string(line) +
                                   ": unexpected text after the JSON array "
                                   "that holds the records");
            return records;
        } else if (!isBlank(c)) {
            begin(i);
        }
    }
    throw invalidInput(path + ":" + std::to_string(line) +
                       ": the JSON array of records is not closed (a ']' "
                       "is missing, or a string is not terminated" +
                       (start != std::string_view::npos ? " in the record at line " + std::to_string(startLine) : "") +
                       ")");
}

} // namespace

std::string readDatasetFile(const std::string &path) {
    if (path.empty())
        throw invalidInput("dataset.path: no dataset file given");
    if (std::filesystem::is_directory(path))
        throw invalidInput(path + ": is a folder; dataset.path must name a JSONL or JSON file");
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw invalidInput(path + ": cannot read the dataset (" + std::strerror(errno) + ")");
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (in.bad())
        throw invalidInput(path + ": cannot read the dataset");
    return bytes.str();
}

std::vector<RawRecord> splitRecords(const std::string &path, const std::string &bytes) {
    std::string_view text(bytes);
    if (text.substr(0, 3) == "\xEF\xBB\xBF") // a UTF-8 byte order mark
        text.remove_prefix(3);
    const size_t first = text.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && text[first] == '[')
        return splitArray(path, text, first);
    return splitLines(text);
}

} // namespace headroom::detail
