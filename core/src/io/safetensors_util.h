// Helpers shared by the safetensors reader and writer (private to headroom_base).
#pragma once

#include "headroom/safetensors.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace headroom::safetensors_detail {

constexpr uint64_t kMaxHeaderBytes = 100'000'000; // the reference implementation's limit

// numel x dtype size, or nothing when a dim is negative or the product overflows.
std::optional<uint64_t> checkedByteSize(Dtype dtype, const std::vector<int64_t> &shape);

// JSON parsed with duplicate keys detected: nlohmann keeps the last of two equal keys silently,
// which for a header would hide a tensor. Syntax errors throw invalidInput "<context>: <what> is
// not valid JSON (...)".
struct StrictJson {
    nlohmann::json value;
    std::optional<std::string> duplicateKey; // the first key seen twice in one object
    bool duplicateAtTopLevel = false;
};
StrictJson parseJsonStrict(const char *begin, const char *end, const std::string &context, const std::string &what);

// The validated content of a safetensors header (see safetensors_header.cpp).
struct ParsedHeader {
    std::vector<TensorInfo> tensors; // sorted by data offset
    std::map<std::string, std::string> metadata;
};
// header: the JSON bytes; bufferBytes: the size of the data buffer that follows it.
ParsedHeader parseHeader(const std::string &path, const char *header, uint64_t headerBytes, uint64_t bufferBytes);

} // namespace headroom::safetensors_detail
