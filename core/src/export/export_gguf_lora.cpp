// export gguf-lora: the adapter as llama.cpp's convert_lora_to_gguf.py writes it, so
// `llama-cli -m base.gguf --lora adapter.gguf` and Ollama's ADAPTER load it:
//  - general.architecture as convert_hf_to_gguf.py converts the base, general.type "adapter",
//    adapter.type "lora", adapter.lora.alpha (f32);
//  - <base tensor>.lora_a [r, in] and .lora_b [out, r] (row-major; ggml ne [in, r] and [r, out]),
//    named as the converter names the base tensors (blk.N.attn_q.weight, ...);
//  - where the converter permutes the rows of q_proj and k_proj (rotary halves interleaved per
//    head, LlamaModel.permute), the same rows of q's and k's lora_b, or the adapter would not line up.
// llama.cpp scales by alpha / r (rank = lora_b's inner dim) and ignores use_rslora, so an rsLoRA
// adapter (scale alpha / sqrt(r)) is written with alpha * sqrt(r).
//
// Followed (ggml-org/llama.cpp): convert_lora_to_gguf.py at 0b03adaa632b (LoraModel: PEFT key minus
// "base_model.model.", "model.language_model." read as "model.", then the base model class's
// modify_tensors on lora_B); convert_hf_to_gguf.py at 0024aa7417ef (Gemma2Model "gemma2",
// Gemma3Model "gemma3" registered for Gemma3ForCausalLM and Gemma3ForConditionalGeneration, which
// drops "language_model."; neither permutes) and the same classes as split out into conversion/:
// llama.py at 0274f0fc7d7f (LlamaModel.undo_permute, which SmolLM3Model "smollm3" inherits;
// MistralForCausalLM is LlamaModel), qwen.py at 2bbcf7fc93a4 (Qwen2Model "qwen2", Qwen3Model
// "qwen3": no permutation), phi.py at 051139f51130 (Phi3MiniModel "phi3": no permutation, the
// fused tensors kept whole); gguf-py/gguf/tensor_mapping.py and constants.py at 0024aa7417ef
// (self_attn.qkv_proj -> attn_qkv and mlp.gate_up_proj -> ffn_up, both "# phi3").
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

// The base architectures convert_hf_to_gguf.py converts, with the GGUF architecture its model
// class writes and whether that class permutes q_proj and k_proj.
const std::map<std::string, GgufArchitecture> &ggufArchitectures() {
    static const std::map<std::string, GgufArchitecture> byHfArchitecture = {
        {"LlamaForCausalLM", {"llama", true}},
        {"MistralForCausalLM", {"llama", true}},
        {"Qwen2ForCausalLM", {"qwen2", false}},
        {"Qwen3ForCausalLM", {"qwen3", false}},
        {"Gemma2ForCausalLM", {"gemma2", false}},
        {"Gemma3ForCausalLM", {"gemma3", false}},
        {"Gemma3ForConditionalGeneration", {"gemma3", false}},
        {"SmolLM3ForCausalLM", {"smollm3", true}},
        {"Phi3ForCausalLM", {"phi3", false}}};
    return byHfArchitecture;
}

GgufArchitecture ggufArchitecture(const ModelConfig &config, const std::string &context) {
    const auto &known = ggufArchitectures();
    const auto found = known.find(config.architecture);
    if (found != known.end())
        return found->second;
    std::string names;
    for (const auto &entry : known)
        names += (names.empty() ? "" : ", ") + entry.first;
    throw invalidInput(context + ": architecture " + config.architecture + " has no GGUF LoRA mapping here (" + names +
                       ")");
}

// tensor_mapping.py's block tensors; Phi-3's fused projections keep their own GGUF names.
std::string ggufTensorName(const exporting::LoraPair &pair) {
    static const std::map<std::string, std::string> names = {
        {"q_proj", "attn_q"},      {"k_proj", "attn_k"},      {"v_proj", "attn_v"},
        {"o_proj", "attn_output"}, {"qkv_proj", "attn_qkv"},  {"gate_proj", "ffn_gate"},
        {"up_proj", "ffn_up"},     {"down_proj", "ffn_down"}, {"gate_up_proj", "ffn_up"}};
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
