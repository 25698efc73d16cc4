// export gguf-lora: the adapter as llama.cpp's convert_lora_to_gguf.py writes it, so
// `llama-cli -m base.gguf --lora adapter.gguf` and Ollama's ADAPTER load it:
//  - general.architecture as the base converts ("llama" for Llama/Mistral, "qwen2"), general.type
//    "adapter", adapter.type "lora", adapter.lora.alpha (f32);
//  - <base tensor>.lora_a [r, in] and .lora_b [out, r] (row-major; ggml ne [in, r] and [r, out]),
//    named as convert_hf_to_gguf.py names the base tensors (blk.N.attn_q.weight, ...);
//  - for "llama", the rows of q's and k's lora_b permuted the way the converter permutes q_proj and
//    k_proj of the base (rotary halves interleaved per head), or the adapter would not line up.
// llama.cpp scales by alpha / r (rank = lora_b's inner dim) and ignores use_rslora, so an rsLoRA
// adapter (scale alpha / sqrt(r)) is written with alpha * sqrt(r).
#include <cmath>
#include <map>

#include "export/export_internal.h"
#include "export/gguf_writer.h"
#include "headroom/error.h"

namespace headroom {

namespace fs = std::filesystem;

namespace {

struct GgufArchitecture {
    std::string name;
    bool permuteQk = false;
};

GgufArchitecture ggufArchitecture(const ModelConfig &config, const std::string &context) {
    if (config.architecture == "LlamaForCausalLM" || config.architecture == "MistralForCausalLM")
        return {"llama", true};
    if (config.architecture == "Qwen2ForCausalLM")
        return {"qwen2", false};
    throw invalidInput(context + ": architecture " + config.architecture +
                       " has no GGUF LoRA mapping here "
                       "(LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)");
}

std::string ggufTensorName(const exporting::LoraPair &pair) {
    static const std::map<std::string, std::string> names = {
        {"q_proj", "attn_q"},      {"k_proj", "attn_k"},  {"v_proj", "attn_v"},     {"o_proj", "attn_output"},
        {"gate_proj", "ffn_gate"}, {"up_proj", "ffn_up"}, {"down_proj", "ffn_down"}};
    return "blk." + std::to_string(pair.layer) + "." + names.at(pair.module) + ".weight";
}

// convert_hf_to_gguf.py's LlamaModel.permute on the output rows: per head, rows [first half;
// second half] become interleaved pairs.
torch::Tensor permuteRows(const torch::Tensor &rows, int64_t heads) {
    const int64_t out = rows.size(0);
    return rows.reshape({heads, 2, out / heads / 2, rows.size(1)}).transpose(1, 2).reshape({out, rows.size(1)});
}

std::vector<uint8_t> tensorBytes(const torch::Tensor &t, bool f16) {
    const auto data = t.to(f16 ? torch::kFloat16 : torch::kFloat32).contiguous();
    const auto *begin = static_cast<const uint8_t *>(data.data_ptr());
    return {begin, begin + data.numel() * data.element_size()};
}

} // namespace

ExportResult exportGgufLora(const std::string &sourcePath, const std::string &outFile, const GgufLoraOptions &options) {
    const auto source = findAdapter(sourcePath);
    const auto adapter = exporting::openAdapter(source.adapterDir);
    const fs::path baseDir = exporting::resolveBaseDir(adapter, options.baseDir);
    const auto inputs = exporting::inputFolders(source, baseDir.string());
    exporting::StagedPath file(outFile, exporting::OutputKind::GgufFile, inputs);
    if (!fs::is_directory(file.final().parent_path()))
        throw runtimeFailure(file.final().string() + ": cannot write (the folder " +
                             file.final().parent_path().string() + " does not exist)");
    // Named after the .gguf, so that two adapters exported into one folder keep their own.
    const fs::path modelfilePath = fs::path(file.final()).replace_extension(".Modelfile");
    if (modelfilePath == file.final())
        throw invalidInput(outFile + ": ends in .Modelfile, the name of the Ollama file written beside the .gguf; "
                                     "name it .gguf");
    exporting::StagedPath modelfile(modelfilePath.string(), exporting::OutputKind::TextFile, inputs);
    const auto config = ModelConfig::fromFile((baseDir / "config.json").string());
    const auto arch = ggufArchitecture(config, (baseDir / "config.json").string());
    const auto pairs = exporting::readLoraPairs(adapter, config);

    const auto &lora = adapter.lora;
    const double alpha = lora.useRslora ? lora.alpha * std::sqrt(double(lora.r)) : lora.alpha;
    const std::string baseName = adapter.baseModel.empty() ? baseDir.filename().string() : adapter.baseModel;
    exporting::GgufWriter gguf;
    gguf.addString("general.architecture", arch.name);
    gguf.addString("general.type", "adapter");
    gguf.addString("general.name", baseName + " LoRA");
    gguf.addU32("general.alignment", uint32_t(exporting::GgufWriter::kAlignment));
    gguf.addU32("general.file_type", options.f16 ? 1 : 0); // llama_ftype ALL_F32 / MOSTLY_F16
    gguf.addU32("general.quantization_version", 2);
    gguf.addString("adapter.type", "lora");
    gguf.addF32("adapter.lora.alpha", float(alpha));
    const auto type = options.f16 ? exporting::GgufTensorType::F16 : exporting::GgufTensorType::F32;
    for (const auto &pair : pairs) {
        auto b = pair.b;
        if (arch.permuteQk && pair.module == "q_proj")
            b = permuteRows(b, config.numHeads);
        else if (arch.permuteQk && pair.module == "k_proj")
            b = permuteRows(b, config.numKvHeads);
        const std::string name = ggufTensorName(pair);
        gguf.addTensor(name + ".lora_a", pair.a.sizes().vec(), type, tensorBytes(pair.a, options.f16));
        gguf.addTensor(name + ".lora_b", b.sizes().vec(), type, tensorBytes(b, options.f16));
    }

    gguf.write(file.tmp().string());
    const std::string from = options.ollamaFrom.empty() ? baseName : options.ollamaFrom;
    exporting::writeTextFile(modelfile.tmp(),
                             "# Ollama: ollama create NAME -f " + modelfilePath.filename().string() +
                                 "\n"
                                 "# FROM names the base model: an Ollama model name, or the path of the base model's\n"
                                 "# GGUF converted from the same Hugging Face weights the adapter was trained on.\n"
                                 "FROM " +
                                 from + "\nADAPTER ./" + file.final().filename().string() + "\n");
    file.commit();
    modelfile.commit();
    return {file.final().string(), fs::file_size(file.final()), source};
}

} // namespace headroom
