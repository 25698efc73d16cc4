// SafetensorsWriter: header first, then tensor bytes streamed in declaration order, into a
// temporary file that finish() renames onto the target.
#include "io/safetensors_util.h"

#include "headroom/error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace headroom {

namespace {

constexpr uint64_t kAlignment = 8; // data starts at a multiple of 8, as the reference writer does

std::string parentDir(const std::string &path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos)
        return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

} // namespace

SafetensorsWriter::SafetensorsWriter(std::string path, std::map<std::string, std::string> metadata)
    : m_path(std::move(path)), m_tmpPath(m_path + ".tmp-" + std::to_string(::getpid())),
      m_metadata(std::move(metadata)) {}

SafetensorsWriter::~SafetensorsWriter() { discard(); }

void SafetensorsWriter::declare(const std::string &name, Dtype dtype, std::vector<int64_t> shape) {
    const std::string where = m_path + ": tensor '" + name + "'";
    if (m_started || m_done)
        throw invalidInput(where + " declared after writing began; declare every tensor first");
    if (name.empty() || name == "__metadata__")
        throw invalidInput(where + ": not a valid tensor name");
    if (m_index.count(name))
        throw invalidInput(where + " declared twice");
    std::optional<uint64_t> bytes = safetensors_detail::checkedByteSize(dtype, shape);
    if (!bytes)
        throw invalidInput(where + " has shape " + formatShape(shape) +
                           "; dims must be >= 0 and the byte count must fit in 63 bits");
    TensorInfo info;
    info.name = name;
    info.dtype = dtype;
    info.shape = std::move(shape);
    info.begin = m_declared.empty() ? 0 : m_declared.back().end;
    info.end = info.begin + *bytes;
    m_index.emplace(name, m_declared.size());
    m_declared.push_back(std::move(info));
}

void SafetensorsWriter::writeTensor(const std::string &name, const void *bytes, uint64_t size) {
    const std::string where = m_path + ": tensor '" + name + "'";
    if (m_done)
        throw invalidInput(where + " written after the writer finished");
    if (!m_index.count(name))
        throw invalidInput(where + " was never declared");
    if (m_nextTensor >= m_declared.size() || m_declared[m_nextTensor].name != name)
        throw invalidInput(where + " written out of order; expected " +
                           (m_nextTensor < m_declared.size() ? "'" + m_declared[m_nextTensor].name + "'"
                                                             : std::string("no more tensors")) +
                           " (tensors are written in declaration order)");
    const TensorInfo &info = m_declared[m_nextTensor];
    if (size != info.byteSize())
        throw invalidInput(where + " written with " + std::to_string(size) + " bytes but dtype " +
                           dtypeName(info.dtype) + " and shape " + formatShape(info.shape) + " need " +
                           std::to_string(info.byteSize()));
    if (!m_started)
        startFile();
    writeAll(bytes, size);
    ++m_nextTensor;
}

void SafetensorsWriter::finish() {
    if (m_done)
        throw invalidInput(m_path + ": finish() called twice or after a failed write");
    if (m_nextTensor != m_declared.size())
        throw invalidInput(m_path + ": finish() before tensor '" + m_declared[m_nextTensor].name + "' was written; " +
                           std::to_string(m_declared.size() - m_nextTensor) + " declared tensors are missing");
    if (!m_started)
        startFile();
    if (::fsync(m_fd) != 0)
        fail("cannot flush to disk");
    const int fd = m_fd;
    m_fd = -1;
    if (::close(fd) != 0)
        fail("cannot close");
    if (::rename(m_tmpPath.c_str(), m_path.c_str()) != 0)
        fail("cannot rename the finished temporary file onto it");
    m_done = true;
    // Make the rename itself durable; a failure here leaves a complete file, so it is not reported.
    int dirFd = ::open(parentDir(m_path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirFd >= 0) {
        ::fsync(dirFd);
        ::close(dirFd);
    }
}

void SafetensorsWriter::startFile() {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!m_metadata.empty())
        header["__metadata__"] = m_metadata;
    for (const TensorInfo &info : m_declared) {
        header[info.name] = {
            {"dtype", dtypeName(info.dtype)}, {"shape", info.shape}, {"data_offsets", {info.begin, info.end}}};
    }
    std::string text;
    try {
        text = header.dump();
    } catch (const nlohmann::json::exception &) {
        throw invalidInput(m_path + ": a tensor name or metadata entry is not valid UTF-8");
    }
    text.append((kAlignment - text.size() % kAlignment) % kAlignment, ' ');
    std::uint8_t length[8];
    for (int i = 0; i < 8; ++i)
        length[i] = static_cast<std::uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));

    m_fd = ::open(m_tmpPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (m_fd < 0)
        fail("cannot create");
    m_started = true;
    writeAll(length, sizeof length);
    writeAll(text.data(), text.size());
}

void SafetensorsWriter::writeAll(const void *bytes, uint64_t size) {
    const char *cursor = static_cast<const char *>(bytes);
    while (size > 0) {
        const ssize_t written = ::write(m_fd, cursor, size);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            fail("cannot write");
        cursor += written;
        size -= static_cast<uint64_t>(written);
    }
}

void SafetensorsWriter::fail(const std::string &what) {
    const std::string reason = errno ? std::strerror(errno) : "unknown error";
    discard();
    m_done = true;
    throw runtimeFailure(m_path + ": " + what + ": " + reason);
}

void SafetensorsWriter::discard() {
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
    if (m_started && !m_done) {
        ::unlink(m_tmpPath.c_str());
        m_started = false;
    }
}

void writeSafetensors(const std::string &path, const std::vector<std::pair<std::string, TensorBytes>> &tensors,
                      const std::map<std::string, std::string> &metadata) {
    SafetensorsWriter writer(path, metadata);
    for (const auto &[name, tensor] : tensors)
        writer.declare(name, tensor.dtype, tensor.shape);
    for (const auto &[name, tensor] : tensors) {
        const std::optional<uint64_t> bytes = safetensors_detail::checkedByteSize(tensor.dtype, tensor.shape);
        writer.writeTensor(name, tensor.data, *bytes);
    }
    writer.finish();
}

} // namespace headroom
