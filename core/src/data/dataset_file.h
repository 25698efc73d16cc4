// A dataset file cut into the JSON text of its records, each with the line where it starts
// (private to headroom_base). JSONL: one record per line, blank lines skipped. A file whose first
// character is '[' is one JSON array; its elements are found without parsing them, so each keeps
// its line number and a malformed one spoils only itself.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace headroom::detail {

struct RawRecord {
    int64_t line = 0; // 1-based
    int64_t column = 1; // 1-based byte column of its first character
    std::string_view text;
};

// The whole file; throws invalidInput naming it when it cannot be read.
std::string readDatasetFile(const std::string &path);

// Views into `bytes`, which must outlive them. Throws invalidInput for an array that is not
// closed or is followed by more text.
std::vector<RawRecord> splitRecords(const std::string &path, const std::string &bytes);

} // namespace headroom::detail
