#include "export/gguf_writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "headroom/error.h"

namespace headroom::exporting {

namespace {

// gguf_type values of the key-value pairs used here.
constexpr uint32_t kTypeU32 = 4, kTypeF32 = 6, kTypeString = 8;

template <typename T>
void put(std::vector<uint8_t> &out, T value) {
    uint8_t bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T)); // x86-64 and aarch64 are little-endian, as GGUF is
    out.insert(out.end(), bytes, bytes + sizeof(T));
}

void putString(std::vector<uint8_t> &out, const std::string &text) {
    put<uint64_t>(out, text.size());
    out.insert(out.end(), text.begin(), text.end());
}

uint64_t padded(uint64_t n) {
    return (n + GgufWriter::kAlignment - 1) / GgufWriter::kAlignment * GgufWriter::kAlignment;
}

} // namespace

void GgufWriter::addString(const std::string &key, const std::string &value) {
    putString(m_kv, key);
    put<uint32_t>(m_kv, kTypeString);
    putString(m_kv, value);
    ++m_kvCount;
}

void GgufWriter::addU32(const std::string &key, uint32_t value) {
    putString(m_kv, key);
    put<uint32_t>(m_kv, kTypeU32);
    put<uint32_t>(m_kv, value);
    ++m_kvCount;
}

void GgufWriter::addF32(const std::string &key, float value) {
    putString(m_kv, key);
    put<uint32_t>(m_kv, kTypeF32);
    put<float>(m_kv, value);
    ++m_kvCount;
}

void GgufWriter::addTensor(const std::string &name, const std::vector<int64_t> &shape, GgufTensorType type,
                           std::vector<uint8_t> bytes) {
    m_tensors.push_back({name, shape, type, std::move(bytes)});
}

void GgufWriter::write(const std::string &path) const {
    std::vector<uint8_t> head;
    head.insert(head.end(), {'G', 'G', 'U', 'F'});
    put<uint32_t>(head, 3);
    put<uint64_t>(head, m_tensors.size());
    put<uint64_t>(head, m_kvCount);
    head.insert(head.end(), m_kv.begin(), m_kv.end());
    uint64_t offset = 0;
    for (const auto &t : m_tensors) {
        putString(head, t.name);
        put<uint32_t>(head, uint32_t(t.shape.size()));
        for (auto dim = t.shape.rbegin(); dim != t.shape.rend(); ++dim)
            put<uint64_t>(head, uint64_t(*dim));
        put<uint32_t>(head, uint32_t(t.type));
        put<uint64_t>(head, offset);
        offset = padded(offset + t.bytes.size());
    }
    head.resize(padded(head.size()), 0);

    FILE *file = std::fopen(path.c_str(), "wb");
    if (!file)
        throw runtimeFailure(path + ": cannot create (" + std::strerror(errno) + ")");
    int firstError = 0; // errno of the first failing call: later calls (fsync, fclose) may overwrite it
    auto check = [&](bool ok) {
        if (!ok && !firstError)
            firstError = errno ? errno : EIO;
    };
    auto writeBytes = [&](const void *bytes, size_t size) {
        if (!firstError)
            check(std::fwrite(bytes, 1, size, file) == size);
    };
    writeBytes(head.data(), head.size());
    const std::vector<uint8_t> zeros(kAlignment, 0);
    for (const auto &t : m_tensors) {
        writeBytes(t.bytes.data(), t.bytes.size());
        writeBytes(zeros.data(), padded(t.bytes.size()) - t.bytes.size());
    }
    check(std::fflush(file) == 0);
    check(::fsync(fileno(file)) == 0);
    check(std::fclose(file) == 0);
    if (firstError)
        throw runtimeFailure(path + ": cannot write (" + std::strerror(firstError) + ")");
}

} // namespace headroom::exporting
