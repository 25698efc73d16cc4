// Reading and writing safetensors files, the weight format of Hugging Face checkpoints and PEFT
// adapters. No LibTorch here: tensors are plain bytes plus a dtype and a shape.
//
// Reading: SafetensorsCheckpoint::openDir(modelDir) finds the weights of a model folder (one file
// or a sharded index); SafetensorsFile::open(path) opens one file. A file is memory-mapped and its
// header fully validated on open, so data(info) can be read without further checks. To load a
// model without holding two copies in memory, copy each tensor out and then call
// releasePages(info). Anything malformed throws headroom::Error (InvalidInput) naming the file and
// the tensor.
//
// Writing: SafetensorsWriter declares every tensor first, then streams their bytes in declaration
// order, so an export never holds the whole file; finish() makes the file appear atomically.
// writeSafetensors() is the one-call form for small files.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace headroom {

enum class Dtype { BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

size_t dtypeSize(Dtype dtype);
std::string dtypeName(Dtype dtype); // "F32", "BF16", ... as in the file format
// Throws invalidInput "<context>: unknown dtype '<name>' (...valid names...)".
Dtype parseDtype(const std::string &name, const std::string &context);

struct TensorInfo {
    std::string name;
    Dtype dtype = Dtype::F32;
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0; // offsets in the data buffer

    int64_t numel() const; // 1 for a 0-rank tensor
    uint64_t byteSize() const { return end - begin; }
};

// "[5, 6]"; "[]" for a 0-rank tensor. For messages.
std::string formatShape(const std::vector<int64_t> &shape);

class SafetensorsFile {
public:
    // Maps the file read-only (MAP_PRIVATE) and validates the whole header.
    static std::shared_ptr<SafetensorsFile> open(const std::string &path);
    ~SafetensorsFile();
    SafetensorsFile(const SafetensorsFile &) = delete;
    SafetensorsFile &operator=(const SafetensorsFile &) = delete;

    const std::string &path() const { return m_path; }
    const std::vector<TensorInfo> &tensors() const { return m_tensors; } // sorted by data offset
    const TensorInfo *find(const std::string &name) const; // nullptr when absent
    const std::uint8_t *data(const TensorInfo &info) const; // into the mapping
    const std::map<std::string, std::string> &metadata() const { return m_metadata; }
    uint64_t fileSize() const { return m_mappedBytes; }
    // Drops the whole pages inside the tensor from this process's memory (madvise MADV_DONTNEED).
    // Call after copying the tensor out; reading it again later just faults it back in.
    void releasePages(const TensorInfo &info) const;

private:
    SafetensorsFile() = default;

    std::string m_path;
    std::vector<TensorInfo> m_tensors;
    std::map<std::string, size_t> m_index; // name -> position in m_tensors
    std::map<std::string, std::string> m_metadata;
    const std::uint8_t *m_mapping = nullptr;
    uint64_t m_mappedBytes = 0;
    uint64_t m_dataStart = 0; // 8 + header length
};

// The weights of a model folder: model.safetensors, or model.safetensors.index.json and its
// shards, or else exactly one *.safetensors file.
class SafetensorsCheckpoint {
public:
    static SafetensorsCheckpoint openDir(const std::string &dir);

    // In storage order (shard by shard, each by data offset): loading in this order reads every
    // file front to back.
    std::vector<std::string> names() const;
    bool contains(const std::string &name) const;
    struct Ref {
        std::shared_ptr<SafetensorsFile> file;
        const TensorInfo *info = nullptr;
    };
    // Throws invalidInput "<dir>: tensor '<name>' not found".
    Ref find(const std::string &name) const;
    std::vector<std::string> files() const; // shard paths
    uint64_t totalBytes() const; // data bytes of all tensors
    const std::string &dir() const { return m_dir; }

private:
    std::string m_dir;
    std::vector<std::shared_ptr<SafetensorsFile>> m_files;
    std::vector<std::string> m_order;
    std::map<std::string, Ref> m_refs;
};

// Writes to "<path>.tmp-<pid>" and renames it onto <path> in finish(); an unfinished writer removes
// its temporary file when destroyed, so nothing that looks whole is ever left behind. Mistakes in
// use (unknown or out-of-order tensor, wrong byte count) throw invalidInput; I/O failures throw
// runtimeFailure naming the path, from writeTensor() or finish().
class SafetensorsWriter {
public:
    explicit SafetensorsWriter(std::string path, std::map<std::string, std::string> metadata = {});
    ~SafetensorsWriter();
    SafetensorsWriter(const SafetensorsWriter &) = delete;
    SafetensorsWriter &operator=(const SafetensorsWriter &) = delete;

    // All declarations come before the first writeTensor().
    void declare(const std::string &name, Dtype dtype, std::vector<int64_t> shape);
    // In declaration order; size must be numel x dtype size.
    void writeTensor(const std::string &name, const void *bytes, uint64_t size);
    // Every declared tensor must have been written. Flushes, fsyncs and renames.
    void finish();

private:
    void startFile();
    void writeAll(const void *bytes, uint64_t size);
    void fail(const std::string &what);
    void discard();

    std::string m_path;
    std::string m_tmpPath;
    std::map<std::string, std::string> m_metadata;
    std::vector<TensorInfo> m_declared;
    std::map<std::string, size_t> m_index;
    size_t m_nextTensor = 0;
    int m_fd = -1;
    bool m_started = false;
    bool m_done = false; // finished, or failed and cleaned up
};

struct TensorBytes {
    Dtype dtype;
    std::vector<int64_t> shape;
    const void *data;
};
void writeSafetensors(const std::string &path, const std::vector<std::pair<std::string, TensorBytes>> &tensors,
                      const std::map<std::string, std::string> &metadata = {});

} // namespace headroom
