// The tokenized-dataset cache: key, file reading with checks, atomic writing.
#include "data/dataset_cache.h"

#include "headroom/error.h"
#include "headroom/tokenizer.h"
#include "headroom/train_config.h"

#include "io/atomic_file.h"
#include "data/dataset_file.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

namespace headroom::detail {

namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'H', 'R', 'D', 'S', 'E', 'T', '0', '1'};
// Files of a model folder that decide its tokenization.
const char *const kTokenizerFiles[] = {"tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                                       "special_tokens_map.json", "added_tokens.json"};

template <typename T>
void append(std::string &out, T value) {
    out.append(reinterpret_cast<const char *>(&value), sizeof(T));
}

// Reads from a byte buffer, refusing to go past its end.
class Reader {
public:
    Reader(const std::string &bytes, size_t end) : m_bytes(bytes), m_end(end) {}

    template <typename T>
    bool read(T &value) {
        if (m_end - m_offset < sizeof(T))
            return false;
        std::memcpy(&value, m_bytes.data() + m_offset, sizeof(T));
        m_offset += sizeof(T);
        return true;
    }
    bool read(std::vector<int32_t> &values, size_t count) {
        if ((m_end - m_offset) / sizeof(int32_t) < count)
            return false;
        values.resize(count);
        std::memcpy(values.data(), m_bytes.data() + m_offset, count * sizeof(int32_t));
        m_offset += count * sizeof(int32_t);
        return true;
    }
    bool read(std::string &text, size_t count) {
        if (m_end - m_offset < count)
            return false;
        text.assign(m_bytes, m_offset, count);
        m_offset += count;
        return true;
    }
    bool atEnd() const { return m_offset == m_end; }

private:
    const std::string &m_bytes;
    size_t m_end;
    size_t m_offset = 0;
};

nlohmann::json statsToJson(const DatasetStats &stats) {
    return {{"format", stats.format},
            {"chat_template", stats.chatTemplate},
            {"records", stats.records},
            {"skipped", stats.skipped},
            {"first_skipped_lines", stats.firstSkippedLines},
            {"truncated", stats.truncated},
            {"dropped", stats.dropped},
            {"warnings", stats.warnings}};
}

DatasetStats statsFromJson(const nlohmann::json &json) {
    DatasetStats stats;
    stats.format = json.at("format").get<std::string>();
    stats.chatTemplate = json.at("chat_template").get<std::string>();
    stats.records = json.at("records").get<int64_t>();
    stats.skipped = json.at("skipped").get<int64_t>();
    stats.firstSkippedLines = json.at("first_skipped_lines").get<std::vector<int64_t>>();
    stats.truncated = json.at("truncated").get<int64_t>();
    stats.dropped = json.at("dropped").get<int64_t>();
    stats.warnings = json.at("warnings").get<std::vector<std::string>>();
    return stats;
}

} // namespace

void Fnv1a::add(const void *data, size_t size) {
    const auto *bytes = static_cast<const unsigned char *>(data);
    for (size_t i = 0; i < size; ++i) {
        m_hash ^= bytes[i];
        m_hash *= 0x100000001b3ULL;
    }
}

uint64_t datasetCacheKey(const DatasetSettings &settings, const Tokenizer &tokenizer, const std::string &chatTemplate) {
    Fnv1a hash;
    hash.add(kMagic, sizeof kMagic);
    const std::string dataset = readDatasetFile(settings.path);
    hash.add("dataset " + std::to_string(dataset.size()) + "\n");
    hash.add(dataset);
    for (const char *name : kTokenizerFiles) {
        const fs::path file = fs::path(tokenizer.modelDir()) / name;
        std::ifstream in(file, std::ios::binary);
        if (!in)
            continue;
        std::ostringstream bytes;
        bytes << in.rdbuf();
        hash.add(std::string(name) + " " + std::to_string(bytes.str().size()) + "\n");
        hash.add(bytes.str());
    }
    hash.add(nlohmann::json{{"format", settings.format},
                            {"max_seq_length", settings.maxSeqLength},
                            {"train_on_prompt", settings.trainOnPrompt},
                            {"on_bad_line", settings.onBadLine}}
                 .dump());
    // Apart from the JSON: a template file need not be valid UTF-8, which dump() refuses.
    hash.add("chat_template " + std::to_string(chatTemplate.size()) + "\n");
    hash.add(chatTemplate);
    return hash.value();
}

std::string datasetCachePath(const std::string &cacheDir, uint64_t key) {
    char name[32];
    std::snprintf(name, sizeof name, "dataset-%016llx.bin", static_cast<unsigned long long>(key));
    return (fs::path(cacheDir) / name).string();
}

CacheState readDatasetCache(const std::string &path, uint64_t key, TokenizedRecords &out) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return CacheState::Missing;
    std::ostringstream buffer;
    buffer << in.rdbuf();
    const std::string bytes = buffer.str();
    if (bytes.size() < sizeof kMagic + 3 * sizeof(uint64_t))
        return CacheState::Corrupt;

    const size_t body = bytes.size() - sizeof(uint64_t);
    Fnv1a checksum;
    checksum.add(bytes.data(), body);
    uint64_t stored = 0;
    std::memcpy(&stored, bytes.data() + body, sizeof stored);
    if (stored != checksum.value() || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
        return CacheState::Corrupt;

    Reader reader(bytes, body);
    std::string magic, statsText;
    uint64_t fileKey = 0, statsBytes = 0, count = 0;
    if (!reader.read(magic, sizeof kMagic) || !reader.read(fileKey) || fileKey != key || !reader.read(statsBytes) ||
        !reader.read(statsText, statsBytes) || !reader.read(count))
        return CacheState::Corrupt;
    TokenizedRecords records;
    try {
        records.stats = statsFromJson(nlohmann::json::parse(statsText));
    } catch (const nlohmann::json::exception &) {
        return CacheState::Corrupt;
    }
    if (count > body / sizeof(uint32_t))
        return CacheState::Corrupt;
    records.examples.resize(count);
    for (TokenizedExample &example : records.examples) {
        uint32_t length = 0;
        if (!reader.read(length) || !reader.read(example.ids, length) || !reader.read(example.labels, length))
            return CacheState::Corrupt;
        example.positions.resize(length);
        std::iota(example.positions.begin(), example.positions.end(), 0);
        example.segments.assign(length, 0);
    }
    if (!reader.atEnd())
        return CacheState::Corrupt;
    out = std::move(records);
    return CacheState::Valid;
}

std::string writeDatasetCache(const std::string &path, uint64_t key, const TokenizedRecords &records) {
    std::string bytes(kMagic, sizeof kMagic);
    append(bytes, key);
    const std::string stats = statsToJson(records.stats).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    append(bytes, static_cast<uint64_t>(stats.size()));
    bytes += stats;
    append(bytes, static_cast<uint64_t>(records.examples.size()));
    for (const TokenizedExample &example : records.examples) {
        append(bytes, static_cast<uint32_t>(example.ids.size()));
        bytes.append(reinterpret_cast<const char *>(example.ids.data()), example.ids.size() * sizeof(int32_t));
        bytes.append(reinterpret_cast<const char *>(example.labels.data()), example.labels.size() * sizeof(int32_t));
    }
    Fnv1a checksum;
    checksum.add(bytes);
    append(bytes, checksum.value());

    try {
        writeFileAtomically(path, bytes);
    } catch (const Error &e) {
        return e.what();
    }
    return {};
}

} // namespace headroom::detail
