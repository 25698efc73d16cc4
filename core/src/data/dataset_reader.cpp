// Reading dataset records: format detection, the checks per format, on_bad_line.
#include "headroom/dataset.h"

#include "headroom/error.h"
#include "headroom/train_config.h"

#include "data/dataset_bad_records.h"
#include "data/dataset_file.h"
#include "io/json_text.h"

#include <nlohmann/json.hpp>

#include <optional>

namespace headroom {

namespace {

using nlohmann::json;

const char *const kKnownFields = "expected instruction and output (alpaca), messages or conversations (chat), "
                                 "or text";

// The format a record's keys suggest, if any.
std::optional<DatasetFormat> formatOf(const json &record) {
    if (!record.is_object())
        return std::nullopt;
    if (record.contains("messages") || record.contains("conversations"))
        return DatasetFormat::Messages;
    if (record.contains("instruction"))
        return DatasetFormat::Alpaca;
    if (record.contains("text"))
        return DatasetFormat::Text;
    return std::nullopt;
}

DatasetFormat formatNamed(const std::string &name) {
    if (name == "alpaca")
        return DatasetFormat::Alpaca;
    if (name == "text")
        return DatasetFormat::Text;
    return DatasetFormat::Messages;
}

// A string field, or the problem with it.
std::optional<std::string> stringField(const json &record, const char *key, bool optional, std::string &problem) {
    const auto it = record.find(key);
    if (it == record.end() || (optional && it->is_null())) {
        if (!optional)
            problem = std::string("missing \"") + key + "\"";
        return optional ? std::optional<std::string>("") : std::nullopt;
    }
    if (!it->is_string()) {
        problem = std::string("\"") + key + "\" must be a string, got " + detail::quoteForError(*it);
        return std::nullopt;
    }
    return it->get<std::string>();
}

std::string parseAlpaca(const json &record, DatasetRecord &out) {
    std::string problem;
    const auto instruction = stringField(record, "instruction", false, problem);
    const auto input = stringField(record, "input", true, problem);
    const auto output = stringField(record, "output", false, problem);
    if (!problem.empty())
        return "alpaca record: " + problem + " (expected instruction, output and optionally input, as strings)";
    std::string user = *instruction;
    if (!input->empty())
        user += "\n\n" + *input;
    out.messages = {{"user", user}, {"assistant", *output}};
    return {};
}

// role/content, or ShareGPT's from/value; ShareGPT's names mapped to ours.
std::string parseMessage(const json &item, const std::string &where, ChatMessage &out) {
    const bool shareGpt = item.is_object() && item.contains("from");
    if (!item.is_object())
        return where + ": expected an object with role and content (ShareGPT: from and value), got " +
               detail::quoteForError(item);
    const char *roleKey = shareGpt ? "from" : "role";
    const char *contentKey = shareGpt ? "value" : "content";
    std::string problem;
    const auto role = stringField(item, roleKey, false, problem);
    const auto content = problem.empty() ? stringField(item, contentKey, false, problem) : std::nullopt;
    if (!problem.empty())
        return where + ": " + problem;
    static const std::vector<std::pair<std::string, std::string>> kRoles = {
        {"system", "system"}, {"user", "user"}, {"assistant", "assistant"}, {"human", "user"}, {"gpt", "assistant"}};
    for (const auto &[name, mapped] : kRoles) {
        if (*role == name && (shareGpt || name == mapped)) {
            out = {mapped, *content};
            return {};
        }
    }
    return where + ": " + roleKey + " \"" + *role + "\" is not one of " +
           (shareGpt ? "system, human, gpt" : "system, user, assistant");
}

std::string parseMessages(const json &record, DatasetRecord &out) {
    const char *key = record.contains("messages") ? "messages" : "conversations";
    const json &list = record.at(key);
    if (!list.is_array() || list.empty())
        return std::string("\"") + key + "\" must be a non-empty list of messages, got " + detail::quoteForError(list);
    for (size_t i = 0; i < list.size(); ++i) {
        ChatMessage message;
        const std::string problem = parseMessage(list[i], std::string(key) + "[" + std::to_string(i) + "]", message);
        if (!problem.empty())
            return problem;
        out.messages.push_back(std::move(message));
    }
    if (out.messages.back().role != "assistant")
        return "the conversation must end with an assistant turn (the one to learn), but its last message is \"" +
               out.messages.back().role + "\"";
    return {};
}

std::string parseText(const json &record, DatasetRecord &out) {
    std::string problem;
    const auto text = stringField(record, "text", false, problem);
    if (!problem.empty())
        return "text record: " + problem;
    if (text->empty())
        return "text record: \"text\" is empty";
    out.text = *text;
    return {};
}

// `record` as `format`, or the problem with it.
std::string parseRecord(const json &record, DatasetFormat format, DatasetRecord &out) {
    if (!record.is_object())
        return "expected a JSON object, got " + detail::quoteForError(record);
    out.format = format;
    switch (format) {
    case DatasetFormat::Alpaca:
        return record.contains("instruction") || record.contains("output")
                   ? parseAlpaca(record, out)
                   : "no alpaca fields (expected instruction, output and optionally input)";
    case DatasetFormat::Messages:
        return record.contains("messages") || record.contains("conversations")
                   ? parseMessages(record, out)
                   : "no \"messages\" or \"conversations\" list of messages";
    case DatasetFormat::Text: return record.contains("text") ? parseText(record, out) : "no \"text\" field";
    }
    return {};
}

} // namespace

std::string formatName(DatasetFormat format) {
    switch (format) {
    case DatasetFormat::Alpaca: return "alpaca";
    case DatasetFormat::Messages: return "messages";
    case DatasetFormat::Text: return "text";
    }
    return {};
}

std::vector<DatasetRecord> readDatasetRecords(const DatasetSettings &settings, DatasetStats &stats) {
    const std::string &path = settings.path;
    const std::string bytes = detail::readDatasetFile(path);
    const std::vector<detail::RawRecord> raw = detail::splitRecords(path, bytes);
    detail::BadRecords bad(path, settings.onBadLine, "malformed records");

    std::optional<DatasetFormat> format;
    if (settings.format != "auto")
        format = formatNamed(settings.format);
    int64_t detectedAt = 0; // the line the format was detected from ("auto")

    std::vector<DatasetRecord> records;
    for (const detail::RawRecord &entry : raw) {
        if (entry.text.empty()) {
            bad.report(entry.line, "empty array element (a stray comma?)", entry.column);
            continue;
        }
        json record;
        try {
            record = json::parse(entry.text);
        } catch (const json::parse_error &error) {
            const auto located = detail::locateSyntaxError(error, std::string(entry.text));
            const int64_t column = located.line == 1 ? entry.column + located.column - 1 : located.column;
            bad.report(entry.line + located.line - 1, "not valid JSON (" + located.reason + ")", column);
            continue;
        }
        // "auto": the first record that is valid in the format its fields suggest sets the format.
        const auto suggested = formatOf(record);
        if (detectedAt && suggested && *suggested != *format)
            throw invalidInput(path + ":" + std::to_string(entry.line) + ": a " + formatName(*suggested) +
                               " record, but the first record (line " + std::to_string(detectedAt) + ") is " +
                               formatName(*format) + "; all records of a file must have one format");
        const auto recordFormat = format ? format : suggested;
        if (!recordFormat) {
            bad.report(entry.line, record.is_object() ? std::string("no known fields: ") + kKnownFields
                                                      : "expected a JSON object, got " + detail::quoteForError(record));
            continue;
        }
        DatasetRecord parsed;
        parsed.line = entry.line;
        const std::string problem = parseRecord(record, *recordFormat, parsed);
        if (!problem.empty()) {
            bad.report(entry.line, problem);
            continue;
        }
        if (!format) {
            format = recordFormat;
            detectedAt = entry.line;
        }
        records.push_back(std::move(parsed));
    }

    if (records.empty()) {
        if (bad.count() > 0)
            throw invalidInput(path + ": no valid record; all " + std::to_string(bad.count()) +
                               " are malformed, the first: " + bad.first());
        throw invalidInput(path + ": the dataset is empty (no records)");
    }
    stats.format = formatName(*format);
    stats.records = static_cast<int64_t>(records.size());
    stats.skipped = bad.count();
    stats.firstSkippedLines = bad.firstLines();
    if (bad.count() > 0)
        stats.warnings.push_back(bad.warning());
    return records;
}

std::string detectDatasetFormat(const std::string &path) {
    const std::string bytes = detail::readDatasetFile(path);
    for (const detail::RawRecord &entry : detail::splitRecords(path, bytes)) {
        const json record = json::parse(entry.text, nullptr, false);
        if (const auto format = formatOf(record))
            return formatName(*format);
    }
    throw invalidInput(path + ": no record with known fields (" + kKnownFields + ")");
}

} // namespace headroom
