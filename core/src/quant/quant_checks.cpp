// Argument checks of the quantization API: each names the function, the value and what is valid.
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

#include "headroom/error.h"
#include "quant/quant_internal.h"

namespace headroom::quant {
namespace {

bool isPowerOfTwo(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

std::string shapeText(at::IntArrayRef shape) {
    std::ostringstream s;
    s << shape;
    return s.str();
}

std::string dtypeText(torch::ScalarType type) { return c10::toString(type); }

} // namespace

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

void checkBlocksize4(int64_t blocksize, const char *what) {
    // bitsandbytes quantize_4bit accepts 32, 64, ..., 4096.
    if (!isPowerOfTwo(blocksize) || blocksize < 32 || blocksize > 4096)
        throw invalidInput(std::string(what) + ": blocksize " + std::to_string(blocksize) +
                           " is not a power of two in 32..4096");
}

void checkBlocksize8(int64_t blocksize, const char *what) {
    // bitsandbytes quantize_blockwise documents 64, 128, ..., 4096.
    if (!isPowerOfTwo(blocksize) || blocksize < 64 || blocksize > 4096)
        throw invalidInput(std::string(what) + ": blocksize " + std::to_string(blocksize) +
                           " is not a power of two in 64..4096");
}

void checkFloatInput(const torch::Tensor &t, const char *what) {
    if (!t.defined())
        throw invalidInput(std::string(what) + ": the input tensor is undefined");
    const auto type = t.scalar_type();
    if (type != torch::kFloat32 && type != torch::kBFloat16 && type != torch::kFloat16)
        throw invalidInput(std::string(what) + ": dtype " + dtypeText(type) +
                           " cannot be quantized (float32, bfloat16 or float16)");
    if (t.numel() == 0)
        throw invalidInput(std::string(what) + ": the input tensor " + shapeText(t.sizes()) + " is empty");
}

void checkQuant4Tensor(const Quant4Tensor &q, const char *what) {
    const std::string where(what);
    checkBlocksize4(q.blocksize, what);
    const int64_t numel = q.numel();
    if (numel <= 0)
        throw invalidInput(where + ": shape " + shapeText(q.shape) + " holds no elements");
    auto expect = [&](const torch::Tensor &t, const char *name, torch::ScalarType type, int64_t count) {
        if (!t.defined() || t.scalar_type() != type || t.numel() != count || !t.is_contiguous())
            throw invalidInput(where + ": " + name + " must be a contiguous " + dtypeText(type) + " tensor of " +
                               std::to_string(count) + " elements, got " +
                               (t.defined() ? dtypeText(t.scalar_type()) + " " + shapeText(t.sizes()) : "undefined"));
        if (t.device() != q.packed.device())
            throw invalidInput(where + ": " + name + " is on " + t.device().str() + ", packed on " +
                               q.packed.device().str());
    };
    expect(q.packed, "packed", torch::kUInt8, (numel + 1) / 2);
    const int64_t blocks = q.blocks();
    if (!q.doubleQuant) {
        expect(q.absmax, "absmax", torch::kFloat32, blocks);
        return;
    }
    expect(q.absmax, "absmax (double-quantized)", torch::kUInt8, blocks);
    if (!isPowerOfTwo(q.nestedBlocksize))
        throw invalidInput(where + ": nestedBlocksize " + std::to_string(q.nestedBlocksize) + " is not a power of two");
    expect(q.nestedAbsmax, "nestedAbsmax", torch::kFloat32, ceilDiv(blocks, q.nestedBlocksize));
    if (q.nestedMap.defined() && (q.nestedMap.scalar_type() != torch::kFloat32 || q.nestedMap.numel() != 256))
        throw invalidInput(where + ": nestedMap must hold 256 float32 values, got " +
                           dtypeText(q.nestedMap.scalar_type()) + " " + shapeText(q.nestedMap.sizes()));
}

void checkOutputDtype(torch::ScalarType type, const char *what) {
    if (type != torch::kFloat32 && type != torch::kBFloat16 && type != torch::kFloat16)
        throw invalidInput(std::string(what) + ": output dtype " + dtypeText(type) +
                           " is not float32, bfloat16 or float16");
}

void checkOutputBuffer(const Quant4Tensor &q, const torch::Tensor &out, const char *what) {
    const std::string where(what);
    if (!out.defined())
        throw invalidInput(where + ": the output buffer is undefined");
    checkOutputDtype(out.scalar_type(), what);
    if (out.numel() != q.numel() || !out.is_contiguous())
        throw invalidInput(where + ": the output buffer must be contiguous with " + std::to_string(q.numel()) +
                           " elements (shape " + shapeText(q.shape) + "), got " + shapeText(out.sizes()) +
                           (out.is_contiguous() ? "" : " non-contiguous"));
    if (out.device() != q.packed.device())
        throw invalidInput(where + ": the output buffer is on " + out.device().str() + ", the weight on " +
                           q.packed.device().str());
}

const torch::Tensor &dynamicMapTensor(bool isSigned, torch::Device device) {
    static std::mutex mutex;
    static std::map<std::tuple<int, int, bool>, torch::Tensor> maps;
    std::lock_guard<std::mutex> lock(mutex);
    auto &map = maps[{int(device.type()), int(device.index()), isSigned}];
    if (!map.defined()) {
        const auto &values = dynamicMapArray(isSigned);
        map = torch::tensor(std::vector<float>(values.begin(), values.end()), torch::kFloat32).to(device);
    }
    return map;
}

torch::Tensor nestedMapOf(const Quant4Tensor &q, torch::Device device) {
    if (q.nestedMap.defined())
        return q.nestedMap.to(device, torch::kFloat32).contiguous();
    return dynamicMapTensor(true, device);
}

BlockScales blockScalesOf(const Quant4Tensor &q, torch::Device device, torch::Tensor &nestedMap) {
    BlockScales scales;
    if (!q.doubleQuant) {
        scales.absmax = q.absmax.data_ptr<float>();
        return scales;
    }
    nestedMap = nestedMapOf(q, device);
    scales.codes = q.absmax.data_ptr<uint8_t>();
    scales.nested = q.nestedAbsmax.data_ptr<float>();
    scales.map = nestedMap.data_ptr<float>();
    scales.offset = q.nestedOffset;
    scales.nestedBlocksize = q.nestedBlocksize;
    return scales;
}

} // namespace headroom::quant
