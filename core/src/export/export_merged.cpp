// export merged: folds scaling * B @ A into each adapted weight and writes a Hugging Face model
// folder, one tensor at a time: a tensor is read from the memory-mapped base, merged in float32 when
// adapted, cast, written, and its mapped pages dropped, so memory stays near the largest tensor.
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "export/export_internal.h"
#include "io/file_tree.h"
#include "headroom/error.h"
#include "memory/estimate/lora_count.h"
#include "headroom/quantization.h"
#include "model/checkpoint_tensors.h"
#include "io/json_text.h"

namespace headroom {

namespace fs = std::filesystem;

namespace {

struct Quant4Settings {
    Quant4Type type = Quant4Type::NF4;
    int64_t blocksize = 64;
    bool doubleQuant = true;
};

// The 4-bit settings the run trained with, from its training config.
Quant4Settings runQuantization(const AdapterSource &source) {
    if (source.trainConfig.is_null())
        throw invalidInput(
            source.adapterDir +
            ": merging onto the dequantized 4-bit weights needs the run's "
            "quantization settings; export from the run or checkpoint folder, not a bare adapter folder");
    const auto q = source.trainConfig.value("quantization", nlohmann::json::object());
    if (!q.value("load_in_4bit", false))
        throw invalidInput(source.adapterDir +
                           ": the run did not load the base in 4 bits (quantization.load_in_4bit "
                           "is false), so there are no 4-bit weights to merge onto; use --onto original");
    Quant4Settings s;
    s.type = parseChoice<Quant4Type>(q.value("bnb_4bit_quant_type", std::string("nf4")),
                                     source.adapterDir + ": quantization.bnb_4bit_quant_type");
    s.blocksize = q.value("bnb_4bit_blocksize", int64_t(64));
    s.doubleQuant = q.value("bnb_4bit_use_double_quant", true);
    return s;
}

std::string hfDtypeName(Dtype dtype) {
    switch (dtype) {
    case Dtype::BF16: return "bfloat16";
    case Dtype::F16: return "float16";
    case Dtype::F32: return "float32";
    default: throw invalidInput("merged export: dtype " + dtypeName(dtype) + " is not bfloat16, float16 or float32");
    }
}

bool isFloat(Dtype d) { return d == Dtype::F16 || d == Dtype::BF16 || d == Dtype::F32 || d == Dtype::F64; }

struct MergeContext {
    const SafetensorsCheckpoint &base;
    std::map<std::string, const exporting::LoraPair *> pairs; // by base tensor name
    std::set<std::string> projections; // every block's linear weights (4-bit in QLoRA)
    double scaling = 1;
    Dtype dtype = Dtype::BF16;
    std::optional<Quant4Settings> quant;
};

Dtype outputDtype(const MergeContext &m, const TensorInfo &info) { return isFloat(info.dtype) ? m.dtype : info.dtype; }

void writeMergedTensor(SafetensorsWriter &writer, const MergeContext &m, const std::string &name) {
    const auto ref = m.base.find(name);
    const auto &info = *ref.info;
    const Dtype out = outputDtype(m, info);
    const std::string context = ref.file->path() + ": tensor '" + name + "'";
    auto *bytes = const_cast<std::uint8_t *>(ref.file->data(info));
    const auto pair = m.pairs.find(name);
    const bool dequantize = m.quant && m.projections.count(name);
    if (pair == m.pairs.end() && !dequantize && info.dtype == out) {
        writer.writeTensor(name, bytes, info.byteSize()); // straight from the mapping
    } else {
        auto tensor = torch::from_blob(bytes, info.shape, toTorchDtype(info.dtype, context));
        if (pair != m.pairs.end() || dequantize) {
            auto weight = tensor.to(torch::kFloat32, false, /*copy=*/true);
            if (dequantize)
                weight = dequantize4(quantize4(weight, m.quant->type, m.quant->blocksize, m.quant->doubleQuant),
                                     torch::kFloat32);
            if (pair != m.pairs.end())
                weight.addmm_(pair->second->b, pair->second->a, 1.0, m.scaling);
            tensor = weight;
        }
        const auto converted = tensor.to(toTorchDtype(out, context)).contiguous();
        writer.writeTensor(name, converted.data_ptr(), info.numel() * dtypeSize(out));
    }
    ref.file->releasePages(info);
}

// Consecutive tensors in storage order, a new shard whenever the next would pass maxBytes.
std::vector<std::vector<std::string>> planShards(const MergeContext &m, uint64_t maxBytes) {
    std::vector<std::vector<std::string>> shards(1);
    uint64_t used = 0;
    for (const auto &name : m.base.names()) {
        const auto &info = *m.base.find(name).info;
        const uint64_t bytes = uint64_t(info.numel()) * dtypeSize(outputDtype(m, info));
        if (!shards.back().empty() && used + bytes > maxBytes) {
            shards.emplace_back();
            used = 0;
        }
        shards.back().push_back(name);
        used += bytes;
    }
    return shards;
}

std::string shardName(size_t index, size_t count) {
    if (count == 1)
        return "model.safetensors";
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", index + 1, count);
    return name;
}

void copyIfPresent(const fs::path &from, const fs::path &to) {
    if (fs::exists(from))
        exporting::copyFile(from, to);
}

// Every float tensor is written in the export's dtype, the vision tower's too, so every dtype the
// config states is rewritten: newer transformers save one in each sub-config as well (Gemma 3's
// text_config and vision_config), and ModelConfig reads text_config's first.
void restateDtype(nlohmann::json &json, const std::string &dtype) {
    for (const char *key : {"torch_dtype", "dtype"})
        if (json.contains(key))
            json[key] = dtype;
    for (auto &[key, value] : json.items())
        if (value.is_object() && key.size() > 7 && key.compare(key.size() - 7, 7, "_config") == 0)
            restateDtype(value, dtype);
}

// `json`: the base's config.json, written again with the export's dtype.
void writeModelFiles(const fs::path &baseDir, const fs::path &out, nlohmann::json json, const ModelConfig &config,
                     Dtype dtype) {
    json["torch_dtype"] = hfDtypeName(dtype);
    restateDtype(json, hfDtypeName(dtype));
    exporting::writeTextFile(out / "config.json", json.dump(2) + "\n");
    if (fs::exists(baseDir / "generation_config.json")) {
        copyIfPresent(baseDir / "generation_config.json", out / "generation_config.json");
    } else {
        nlohmann::json generation = {{"_from_model_config", true}};
        if (config.bosTokenId)
            generation["bos_token_id"] = *config.bosTokenId;
        if (config.eosTokenIds.size() == 1)
            generation["eos_token_id"] = config.eosTokenIds[0];
        else if (!config.eosTokenIds.empty())
            generation["eos_token_id"] = config.eosTokenIds;
        exporting::writeTextFile(out / "generation_config.json", generation.dump(2) + "\n");
    }
    // The tokenizer, and a multimodal model's image processor (Gemma 3's vision tower is exported too).
    for (const char *file : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                             "added_tokens.json", "vocab.json", "merges.txt", "chat_template.jinja",
                             "chat_template.json", "preprocessor_config.json", "processor_config.json"})
        copyIfPresent(baseDir / file, out / file);
}

} // namespace

ExportResult exportMerged(const std::string &sourcePath, const std::string &outDir,
                          const MergedExportOptions &options) {
    hfDtypeName(options.dtype); // validates
    if (options.maxShardBytes == 0)
        throw invalidInput("merged export: the shard size must be positive");
    const auto source = findAdapter(sourcePath);
    const auto adapter = exporting::openAdapter(source.adapterDir);
    const fs::path baseDir = exporting::resolveBaseDir(adapter, options.baseDir);
    exporting::StagedPath staged(outDir, exporting::OutputKind::MergedFolder,
                                 exporting::inputFolders(source, baseDir.string()));
    const auto config = ModelConfig::fromFile((baseDir / "config.json").string());
    const auto configJson = detail::readJsonFile((baseDir / "config.json").string());
    if (configJson.contains("quantization_config"))
        throw invalidInput((baseDir / "config.json").string() + ": the base is saved 4-bit quantized; merging needs "
                                                                "the full-precision base model (--base)");
    const auto pairs = exporting::readLoraPairs(adapter, config);
    const auto base = SafetensorsCheckpoint::openDir(baseDir.string());

    MergeContext m{base, {}, {}, adapter.lora.scaling(), options.dtype, std::nullopt};
    if (options.onto == MergeOnto::Dequantized) {
        m.quant = runQuantization(source);
        for (int64_t layer = 0; layer < config.numLayers; ++layer)
            for (const auto &module : linearModules(config))
                m.projections.insert(checkpointModulePath(config, layer, module) + ".weight");
    }
    for (const auto &pair : pairs) {
        if (!base.contains(pair.baseTensor))
            throw invalidInput(baseDir.string() + ": tensor '" + pair.baseTensor + "' not found");
        const auto &info = *base.find(pair.baseTensor).info;
        const std::vector<int64_t> shape = {pair.b.size(0), pair.a.size(1)};
        if (info.shape != shape)
            throw invalidInput(base.find(pair.baseTensor).file->path() + ": tensor '" + pair.baseTensor +
                               "' has shape " + formatShape(info.shape) + " but the adapter needs " +
                               formatShape(shape));
        m.pairs[pair.baseTensor] = &pair;
    }

    staged.createFolder();
    const auto shards = planShards(m, options.maxShardBytes);
    nlohmann::json weightMap = nlohmann::json::object();
    uint64_t totalBytes = 0;
    for (size_t s = 0; s < shards.size(); ++s) {
        const std::string file = shardName(s, shards.size());
        SafetensorsWriter writer((staged.tmp() / file).string(), {{"format", "pt"}});
        for (const auto &name : shards[s]) {
            const auto &info = *base.find(name).info;
            writer.declare(name, outputDtype(m, info), info.shape);
            weightMap[name] = file;
            totalBytes += uint64_t(info.numel()) * dtypeSize(outputDtype(m, info));
        }
        for (const auto &name : shards[s])
            writeMergedTensor(writer, m, name);
        writer.finish();
    }
    if (shards.size() > 1)
        exporting::writeTextFile(
            staged.tmp() / "model.safetensors.index.json",
            nlohmann::json{{"metadata", {{"total_size", totalBytes}}}, {"weight_map", weightMap}}.dump(2) + "\n");
    writeModelFiles(baseDir, staged.tmp(), configJson, config, options.dtype);
    staged.commit();
    return {staged.final().string(), detail::treeBytes(staged.final()), source};
}

} // namespace headroom
