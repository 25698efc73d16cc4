// Malformed dataset records, counted for dataset.on_bad_line (private to headroom_base): with
// "stop" the first one throws invalidInput as FILE:LINE[:COLUMN]: PROBLEM; with "skip" they are
// counted and summed up in one warning.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace headroom::detail {

class BadRecords {
public:
    static constexpr size_t kReportedLines = 5;

    // `what` names the kind in the warning: "malformed records", "records the chat template rejects".
    BadRecords(std::string path, const std::string &onBadLine, std::string what);

    void report(int64_t line, const std::string &problem, int64_t column = 0);

    int64_t count() const { return m_count; }
    const std::vector<int64_t> &firstLines() const { return m_firstLines; }
    // "line LINE: PROBLEM" of the first one; "" when none.
    const std::string &first() const { return m_first; }
    // "FILE: skipped N WHAT (lines a, b, ...); the first: line LINE: PROBLEM"; "" when none.
    std::string warning() const;

private:
    std::string m_path, m_what;
    bool m_skip;
    int64_t m_count = 0;
    std::vector<int64_t> m_firstLines;
    std::string m_first;
};

} // namespace headroom::detail
