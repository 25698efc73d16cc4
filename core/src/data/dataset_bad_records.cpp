// BadRecords: stop at or count malformed dataset records.
#include "data/dataset_bad_records.h"

#include "headroom/error.h"

namespace headroom::detail {

BadRecords::BadRecords(std::string path, const std::string &onBadLine, std::string what)
    : m_path(std::move(path)), m_what(std::move(what)), m_skip(onBadLine == "skip") {}

void BadRecords::report(int64_t line, const std::string &problem, int64_t column) {
    const std::string where = std::to_string(line) + (column > 0 ? ":" + std::to_string(column) : "") + ": ";
    if (!m_skip)
        throw invalidInput(m_path + ":" + where + problem +
                           "; set dataset.on_bad_line to \"skip\" to skip such records");
    if (m_count == 0)
        m_first = "line " + where + problem;
    if (m_firstLines.size() < kReportedLines)
        m_firstLines.push_back(line);
    ++m_count;
}

std::string BadRecords::warning() const {
    if (m_count == 0)
        return {};
    std::string lines;
    for (int64_t line : m_firstLines)
        lines += (lines.empty() ? "" : ", ") + std::to_string(line);
    if (m_count > static_cast<int64_t>(m_firstLines.size()))
        lines += ", ...";
    return m_path + ": skipped " + std::to_string(m_count) + " " + m_what + " (line" + (m_count > 1 ? "s " : " ") +
           lines + "); the first: " + m_first;
}

} // namespace headroom::detail
