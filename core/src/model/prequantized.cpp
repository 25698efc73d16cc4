#include "model/prequantized.h"

#include <nlohmann/json.hpp>

#include "headroom/error.h"
#include "model/checkpoint_tensors.h"

namespace headroom {

namespace {

std::string quantStateKey(const SafetensorsCheckpoint &checkpoint, const std::string &prefix) {
    for (const char *type : {"nf4", "fp4"}) {
        const std::string key = prefix + ".weight.quant_state.bitsandbytes__" + type;
        if (checkpoint.contains(key))
            return key;
    }
    return {};
}

torch::Tensor rawTensor(const SafetensorsCheckpoint &checkpoint, const std::string &name, torch::Device device) {
    const auto ref = checkpoint.find(name);
    const auto type = toTorchDtype(ref.info->dtype, ref.file->path() + ": tensor '" + name + "'");
    auto view = torch::from_blob(const_cast<std::uint8_t *>(ref.file->data(*ref.info)), ref.info->shape,
                                 torch::TensorOptions().dtype(type));
    return view.clone().to(device);
}

} // namespace

bool isPrequantized(const SafetensorsCheckpoint &checkpoint, const std::string &prefix) {
    return !quantStateKey(checkpoint, prefix).empty();
}

Quant4Tensor readPrequantized(const SafetensorsCheckpoint &checkpoint, const std::string &prefix,
                              const std::vector<int64_t> &expectedShape, torch::Device device) {
    const std::string stateKey = quantStateKey(checkpoint, prefix);
    const std::string context = checkpoint.dir() + ": tensor '" + prefix + ".weight'";
    const auto stateBytes = rawTensor(checkpoint, stateKey, torch::kCPU);
    nlohmann::json state;
    try {
        state = nlohmann::json::parse(
            std::string(reinterpret_cast<const char *>(stateBytes.data_ptr<uint8_t>()), size_t(stateBytes.numel())));
    } catch (const nlohmann::json::exception &e) {
        throw invalidInput(context + ": quant_state is not valid JSON (" + e.what() + ")");
    }
    Quant4Tensor q;
    try {
        q.type = parseChoice<Quant4Type>(state.at("quant_type").get<std::string>(), context + ": quant_type");
        q.blocksize = state.at("blocksize").get<int64_t>();
        q.shape = state.at("shape").get<std::vector<int64_t>>();
        if (state.contains("nested_blocksize")) {
            q.doubleQuant = true;
            q.nestedBlocksize = state.at("nested_blocksize").get<int64_t>();
            q.nestedOffset = state.at("nested_offset").get<float>();
        }
    } catch (const nlohmann::json::exception &e) {
        throw invalidInput(context + ": quant_state lacks a field (" + std::string(e.what()) + ")");
    }
    if (q.shape != expectedShape)
        throw invalidInput(context + " is quantized with shape " + formatShape(q.shape) + " but config.json implies " +
                           formatShape(expectedShape));
    q.packed = rawTensor(checkpoint, prefix + ".weight", device).reshape({-1});
    q.absmax = rawTensor(checkpoint, prefix + ".weight.absmax", device).reshape({-1});
    if (q.doubleQuant) {
        q.nestedAbsmax =
            rawTensor(checkpoint, prefix + ".weight.nested_absmax", device).reshape({-1}).to(torch::kFloat32);
        if (checkpoint.contains(prefix + ".weight.nested_quant_map"))
            q.nestedMap = rawTensor(checkpoint, prefix + ".weight.nested_quant_map", device).to(torch::kFloat32);
    } else {
        q.absmax = q.absmax.to(torch::kFloat32);
    }
    const int64_t numel = q.numel();
    if (q.packed.scalar_type() != torch::kUInt8 || q.packed.numel() != (numel + 1) / 2)
        throw invalidInput(context + ": packed data must be uint8 with " + std::to_string((numel + 1) / 2) + " bytes");
    if (q.absmax.numel() != q.blocks())
        throw invalidInput(context + ".absmax: expected " + std::to_string(q.blocks()) + " block scales");
    if (q.doubleQuant && q.absmax.scalar_type() != torch::kUInt8)
        throw invalidInput(context + ".absmax: double-quantized scales must be uint8");
    return q;
}

} // namespace headroom
