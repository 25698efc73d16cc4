// A GGUF v3 file writer, enough for adapters (ggml's gguf.cpp and the GGUF specification in
// ggml's docs/gguf.md): "GGUF", version 3, tensor and key-value counts, the key-values, the tensor
// table (name, dims in ggml's ne order = the row-major shape reversed, type, offset), then the tensor
// data, each tensor starting at a multiple of general.alignment (32) from the data section's start,
// which itself starts at such a multiple. Little-endian.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace headroom::exporting {

enum class GgufTensorType : uint32_t { F32 = 0, F16 = 1 };

class GgufWriter {
public:
    static constexpr uint64_t kAlignment = 32;

    void addString(const std::string &key, const std::string &value);
    void addU32(const std::string &key, uint32_t value);
    void addF32(const std::string &key, float value);
    // shape in row-major order (numpy / LibTorch), e.g. lora_a [r, in]; bytes of that many elements.
    void addTensor(const std::string &name, const std::vector<int64_t> &shape, GgufTensorType type,
                   std::vector<uint8_t> bytes);
    // Writes the whole file to `path` (the caller stages and renames it); runtimeFailure on I/O errors.
    void write(const std::string &path) const;

private:
    struct Tensor {
        std::string name;
        std::vector<int64_t> shape;
        GgufTensorType type;
        std::vector<uint8_t> bytes;
    };
    std::vector<uint8_t> m_kv; // the encoded key-value pairs
    uint64_t m_kvCount = 0;
    std::vector<Tensor> m_tensors;
};

} // namespace headroom::exporting
