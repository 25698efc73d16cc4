// The on-disk cache of tokenized datasets (private to headroom_base). One file per key in the
// cache folder, "dataset-KEY.bin":
//   "HRDSET01", u64 key, u64 n + n bytes of JSON (the reading and tokenizing statistics),
//   u64 examples, per example u32 length + length int32 ids + length int32 labels,
//   u64 FNV-1a of all the bytes before it.
// Integers in the machine's byte order (the cache is not meant to travel). Written to a temporary
// name and renamed, so a reader sees a whole file or none; a file that fails any check is
// treated as missing.
#pragma once

#include "headroom/dataset.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace headroom {
class Tokenizer;
}

namespace headroom::detail {

// 64-bit FNV-1a.
class Fnv1a {
public:
    void add(const void *data, size_t size);
    void add(const std::string &text) { add(text.data(), text.size()); }
    uint64_t value() const { return m_hash; }

private:
    uint64_t m_hash = 0xcbf29ce484222325ULL;
};

// What the cache holds: examples after truncation and dropping, before split and packing.
struct TokenizedRecords {
    DatasetStats stats; // format, chatTemplate, records, skipped lines, truncated, dropped, warnings
    std::vector<TokenizedExample> examples;
};

// Hash of the dataset file, the tokenizer's files and the settings that change the tokenized
// examples: format, max_seq_length, train_on_prompt, on_bad_line and the chat template
// (ChatTemplate::cacheKey(): its family, origin and text, and the date when it writes one).
uint64_t datasetCacheKey(const DatasetSettings &settings, const Tokenizer &tokenizer, const std::string &chatTemplate);

std::string datasetCachePath(const std::string &cacheDir, uint64_t key);

enum class CacheState { Missing, Corrupt, Valid };
// Positions and segments are rebuilt (0..n-1, one segment).
CacheState readDatasetCache(const std::string &path, uint64_t key, TokenizedRecords &out);
// Returns a problem ("" on success): a cache that cannot be written only costs time.
std::string writeDatasetCache(const std::string &path, uint64_t key, const TokenizedRecords &records);

} // namespace headroom::detail
