// SafetensorsFile: a read-only memory mapping of one file, validated on open.
#include "io/safetensors_util.h"

#include "headroom/error.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace headroom {

namespace {

constexpr uint64_t kLengthBytes = 8; // the u64 header length that opens every file

class FdGuard {
public:
    explicit FdGuard(int fd) : m_fd(fd) {}
    ~FdGuard() { ::close(m_fd); }
    FdGuard(const FdGuard &) = delete;
    FdGuard &operator=(const FdGuard &) = delete;
    int get() const { return m_fd; }

private:
    int m_fd;
};

uint64_t readLittleEndian64(const std::uint8_t *bytes) {
    uint64_t value = 0;
    for (int i = 7; i >= 0; --i)
        value = (value << 8) | bytes[i];
    return value;
}

} // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string &path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw invalidInput(path + ": cannot open: " + std::strerror(errno));
    FdGuard guard(fd);
    struct stat status {};
    if (::fstat(fd, &status) != 0)
        throw invalidInput(path + ": cannot read: " + std::strerror(errno));
    if (!S_ISREG(status.st_mode))
        throw invalidInput(path + ": not a regular file");
    const uint64_t fileBytes = static_cast<uint64_t>(status.st_size);
    if (fileBytes < kLengthBytes)
        throw invalidInput(path + ": the file is " + std::to_string(fileBytes) +
                           " bytes, too short for a safetensors file (an 8-byte header length, then a JSON "
                           "header and the data)");

    void *mapping = ::mmap(nullptr, fileBytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED)
        throw runtimeFailure(path + ": cannot map the file into memory: " + std::strerror(errno));
    std::shared_ptr<SafetensorsFile> file(new SafetensorsFile()); // unmaps if validation throws
    file->m_path = path;
    file->m_mapping = static_cast<const std::uint8_t *>(mapping);
    file->m_mappedBytes = fileBytes;

    const uint64_t headerBytes = readLittleEndian64(file->m_mapping);
    if (headerBytes > safetensors_detail::kMaxHeaderBytes)
        throw invalidInput(path + ": the header length " + std::to_string(headerBytes) + " is over the limit of " +
                           std::to_string(safetensors_detail::kMaxHeaderBytes) +
                           " bytes; the file is damaged or not a safetensors file");
    if (headerBytes > fileBytes - kLengthBytes)
        throw invalidInput(path + ": the header length " + std::to_string(headerBytes) +
                           " runs past the end of the file (" + std::to_string(fileBytes) +
                           " bytes); the file is truncated or not a safetensors file");
    file->m_dataStart = kLengthBytes + headerBytes;

    safetensors_detail::ParsedHeader header =
        safetensors_detail::parseHeader(path, reinterpret_cast<const char *>(file->m_mapping + kLengthBytes),
                                        headerBytes, fileBytes - file->m_dataStart);
    file->m_tensors = std::move(header.tensors);
    file->m_metadata = std::move(header.metadata);
    for (size_t i = 0; i < file->m_tensors.size(); ++i)
        file->m_index.emplace(file->m_tensors[i].name, i);
    return file;
}

SafetensorsFile::~SafetensorsFile() {
    if (m_mapping)
        ::munmap(const_cast<std::uint8_t *>(m_mapping), m_mappedBytes);
}

const TensorInfo *SafetensorsFile::find(const std::string &name) const {
    auto it = m_index.find(name);
    return it == m_index.end() ? nullptr : &m_tensors[it->second];
}

const std::uint8_t *SafetensorsFile::data(const TensorInfo &info) const { return m_mapping + m_dataStart + info.begin; }

void SafetensorsFile::releasePages(const TensorInfo &info) const {
    const uintptr_t pageBytes = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t begin = reinterpret_cast<uintptr_t>(data(info));
    const uintptr_t end = begin + info.byteSize();
    const uintptr_t firstPage = (begin + pageBytes - 1) / pageBytes * pageBytes;
    const uintptr_t lastPage = end / pageBytes * pageBytes;
    // Only pages wholly inside the tensor: a neighbour's bytes stay resident. Failure is harmless.
    if (firstPage < lastPage)
        ::madvise(reinterpret_cast<void *>(firstPage), lastPage - firstPage, MADV_DONTNEED);
}

} // namespace headroom
