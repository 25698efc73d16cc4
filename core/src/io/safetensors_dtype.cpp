// Dtypes of the safetensors format and the sizes of tensors made of them.
#include "io/safetensors_util.h"

#include "headroom/error.h"

#include <limits>

namespace headroom {

namespace {

struct DtypeEntry {
    Dtype dtype;
    const char *name;
    size_t size;
};

constexpr DtypeEntry kDtypes[] = {
    {Dtype::BOOL, "BOOL", 1}, {Dtype::U8, "U8", 1},   {Dtype::I8, "I8", 1},     {Dtype::I16, "I16", 2},
    {Dtype::U16, "U16", 2},   {Dtype::F16, "F16", 2}, {Dtype::BF16, "BF16", 2}, {Dtype::I32, "I32", 4},
    {Dtype::U32, "U32", 4},   {Dtype::F32, "F32", 4}, {Dtype::F64, "F64", 8},   {Dtype::I64, "I64", 8},
    {Dtype::U64, "U64", 8},
};

const DtypeEntry &entry(Dtype dtype) {
    for (const DtypeEntry &e : kDtypes) {
        if (e.dtype == dtype)
            return e;
    }
    throw runtimeFailure("safetensors: dtype value " + std::to_string(static_cast<int>(dtype)) + " is not a Dtype");
}

} // namespace

size_t dtypeSize(Dtype dtype) { return entry(dtype).size; }

std::string dtypeName(Dtype dtype) { return entry(dtype).name; }

Dtype parseDtype(const std::string &name, const std::string &context) {
    std::string valid;
    for (const DtypeEntry &e : kDtypes) {
        if (name == e.name)
            return e.dtype;
        valid += valid.empty() ? "" : ", ";
        valid += e.name;
    }
    throw invalidInput(context + ": unknown dtype '" + name + "' (Headroom reads " + valid + ")");
}

int64_t TensorInfo::numel() const {
    int64_t n = 1;
    for (int64_t dim : shape)
        n *= dim; // shapes are validated on open and on declare, so this cannot overflow
    return n;
}

std::string formatShape(const std::vector<int64_t> &shape) {
    std::string out = "[";
    for (size_t i = 0; i < shape.size(); ++i)
        out += (i ? ", " : "") + std::to_string(shape[i]);
    return out + "]";
}

namespace safetensors_detail {

std::optional<uint64_t> checkedByteSize(Dtype dtype, const std::vector<int64_t> &shape) {
    // Kept within int64 so that TensorInfo::numel() and callers' signed arithmetic stay exact.
    constexpr uint64_t kLimit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    uint64_t bytes = dtypeSize(dtype);
    uint64_t numel = 1;
    for (int64_t dim : shape) {
        if (dim < 0)
            return std::nullopt;
        if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dim), &numel) || numel > kLimit)
            return std::nullopt;
    }
    if (__builtin_mul_overflow(numel, bytes, &bytes) || bytes > kLimit)
        return std::nullopt;
    return bytes;
}

} // namespace safetensors_detail

} // namespace headroom
