// Validation of a safetensors header: every entry well-formed, and the tensors tiling the data
// buffer exactly, as the reference implementation requires. Nothing here touches tensor data.
#include "io/safetensors_util.h"

#include "headroom/error.h"

#include <algorithm>
#include <cstdint>
#include <tuple>

namespace headroom::safetensors_detail {

namespace {

using nlohmann::json;

const char *const kBackToBack = "; tensors must cover the data buffer back to back from offset 0";

std::string offsetsText(const TensorInfo &info) {
    return "[" + std::to_string(info.begin) + ", " + std::to_string(info.end) + "]";
}

std::vector<int64_t> parseShape(const json &shape, const std::string &where) {
    if (!shape.is_array())
        throw invalidInput(where + " has shape " + shape.dump() + "; shape must be an array of non-negative integers");
    std::vector<int64_t> dims;
    for (const json &dim : shape) {
        if (dim.is_number_integer() && !dim.is_number_unsigned()) {
            if (dim.get<int64_t>() < 0)
                throw invalidInput(where + " has a negative dim " + dim.dump() + " in shape " + shape.dump() +
                                   "; dims must be >= 0");
            dims.push_back(dim.get<int64_t>());
            continue;
        }
        if (!dim.is_number_unsigned() || dim.get<uint64_t>() > uint64_t(INT64_MAX))
            throw invalidInput(where + " has shape " + shape.dump() +
                               "; shape must be an array of non-negative integers");
        dims.push_back(dim.get<int64_t>());
    }
    return dims;
}

TensorInfo parseEntry(const std::string &name, const json &entry, const std::string &where) {
    const char *const kExpected = "; expected {\"dtype\": \"F32\", \"shape\": [...], \"data_offsets\": [begin, end]}";
    if (!entry.is_object())
        throw invalidInput(where + " is a JSON " + std::string(entry.type_name()) + ", not an object" + kExpected);
    for (const char *field : {"dtype", "shape", "data_offsets"}) {
        if (!entry.contains(field))
            throw invalidInput(where + " has no " + field + kExpected);
    }
    TensorInfo info;
    info.name = name;
    const json &dtype = entry.at("dtype");
    if (!dtype.is_string())
        throw invalidInput(where + " has dtype " + dtype.dump() + "; dtype must be a string such as \"F32\"");
    info.dtype = parseDtype(dtype.get<std::string>(), where);
    info.shape = parseShape(entry.at("shape"), where);

    const json &offsets = entry.at("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
        throw invalidInput(where + " has data_offsets " + offsets.dump() +
                           "; data_offsets must be [begin, end], two non-negative integers");
    info.begin = offsets[0].get<uint64_t>();
    info.end = offsets[1].get<uint64_t>();
    return info;
}

void checkSizes(const TensorInfo &info, uint64_t bufferBytes, const std::string &where) {
    if (info.begin > info.end)
        throw invalidInput(where + " has data_offsets " + offsetsText(info) + ": begin is past end");
    if (info.end > bufferBytes)
        throw invalidInput(where + " has data_offsets " + offsetsText(info) + " but the data buffer is only " +
                           std::to_string(bufferBytes) + " bytes");
    std::optional<uint64_t> needed = checkedByteSize(info.dtype, info.shape);
    if (!needed)
        throw invalidInput(where + " has shape " + formatShape(info.shape) +
                           ", whose byte count overflows 64-bit integers");
    if (*needed != info.byteSize())
        throw invalidInput(where + " has data_offsets " + offsetsText(info) + " but dtype " + dtypeName(info.dtype) +
                           " and shape " + formatShape(info.shape) + " need " + std::to_string(*needed) + " bytes");
}

void checkTiling(const std::vector<TensorInfo> &sorted, uint64_t bufferBytes, const std::string &path) {
    uint64_t cursor = 0;
    const TensorInfo *previous = nullptr;
    for (const TensorInfo &info : sorted) {
        std::string where = path + ": tensor '" + info.name + "'";
        if (info.begin < cursor)
            throw invalidInput(where + " has data_offsets " + offsetsText(info) + ", overlapping tensor '" +
                               previous->name + "' which ends at " + std::to_string(cursor) + kBackToBack);
        if (info.begin > cursor)
            throw invalidInput(where + " starts at " + std::to_string(info.begin) + " but " +
                               (previous ? "tensor '" + previous->name + "' ends at " + std::to_string(cursor)
                                         : std::string("the data buffer starts at 0")) +
                               ", leaving a hole of " + std::to_string(info.begin - cursor) + " bytes" + kBackToBack);
        cursor = info.end;
        previous = &info;
    }
    if (cursor != bufferBytes)
        throw invalidInput(path + ": the data buffer is " + std::to_string(bufferBytes) +
                           " bytes but the tensors end at offset " + std::to_string(cursor) +
                           "; a valid file has no bytes after its last tensor");
}

std::map<std::string, std::string> parseMetadata(const json &metadata, const std::string &path) {
    const std::string expected = "; __metadata__ must be an object of string values";
    if (!metadata.is_object())
        throw invalidInput(path + ": __metadata__ is a JSON " + std::string(metadata.type_name()) + expected);
    std::map<std::string, std::string> result;
    for (auto it = metadata.begin(); it != metadata.end(); ++it) {
        if (!it.value().is_string())
            throw invalidInput(path + ": __metadata__ key '" + it.key() + "' is a JSON " +
                               std::string(it.value().type_name()) + expected);
        result[it.key()] = it.value().get<std::string>();
    }
    return result;
}

} // namespace

ParsedHeader parseHeader(const std::string &path, const char *header, uint64_t headerBytes, uint64_t bufferBytes) {
    if (headerBytes == 0 || header[0] != '{')
        throw invalidInput(path + ": the header must be a JSON object starting with '{'; this is not a "
                                  "safetensors file or it is damaged");
    StrictJson parsed = parseJsonStrict(header, header + headerBytes, path, "the header");
    if (!parsed.value.is_object())
        throw invalidInput(path + ": the header is a JSON " + std::string(parsed.value.type_name()) +
                           ", not an object");
    if (parsed.duplicateKey) {
        if (parsed.duplicateAtTopLevel)
            throw invalidInput(path + ": tensor '" + *parsed.duplicateKey +
                               "' appears twice in the header; names must be unique");
        throw invalidInput(path + ": the header has key '" + *parsed.duplicateKey +
                           "' twice in one object; keys must be unique");
    }

    ParsedHeader result;
    for (auto it = parsed.value.begin(); it != parsed.value.end(); ++it) {
        if (it.key() == "__metadata__") {
            result.metadata = parseMetadata(it.value(), path);
            continue;
        }
        std::string where = path + ": tensor '" + it.key() + "'";
        TensorInfo info = parseEntry(it.key(), it.value(), where);
        checkSizes(info, bufferBytes, where);
        result.tensors.push_back(std::move(info));
    }
    std::sort(result.tensors.begin(), result.tensors.end(), [](const TensorInfo &a, const TensorInfo &b) {
        return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
    });
    checkTiling(result.tensors, bufferBytes, path);
    return result;
}

} // namespace headroom::safetensors_detail
