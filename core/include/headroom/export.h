// Exports of a fine-tune for deployment: the LoRA adapter in PEFT's layout, a merged Hugging Face
// model folder, and a GGUF LoRA adapter for llama.cpp / Ollama.
//
// Intended usage (what `headroom-cli export ...` calls):
//   exportAdapter("runs/demo", "out/adapter");                       // run, checkpoint or adapter folder
//   MergedExportOptions merged;  merged.baseDir = "models/base";  merged.dtype = Dtype::BF16;
//   exportMerged("runs/demo", "out/merged", merged);
//   GgufLoraOptions gguf;  gguf.baseDir = "models/base";
//   exportGgufLora("runs/demo", "out/adapter.gguf", gguf);
// Every export is written under a temporary name beside its destination and renamed when complete,
// so a failure leaves nothing that looks whole. Bad input (no adapter, missing or mismatched base
// model, corrupt files) throws invalidInput naming the file; I/O failures throw runtimeFailure.
// A destination is refused (invalidInput) when it is, holds or lies inside the source run,
// checkpoint or adapter folder or the base model folder; when it is a non-empty folder that is not
// an earlier export of the same kind; and, for the .gguf, when it is a folder or names one ("out/").
// No LibTorch in this header.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "headroom/safetensors.h"

namespace headroom {

// Where the adapter of a run, a checkpoint or an adapter folder is, and what the run was.
struct AdapterSource {
    std::string adapterDir; // holds adapter_config.json and adapter_model.safetensors
    std::string checkpointDir; // the checkpoint-N it came from, if any
    std::string runDir; // the run's output folder, when the adapter is its adapter/ or a checkpoint's
    nlohmann::json trainConfig; // the run's training config when found beside it, else null
    std::string chosen; // why this adapter, for the user: "checkpoint-150 (step 150), newer than ..."
};
// Accepts an adapter folder, a checkpoint-N folder (its adapter/), or a run's output folder: the
// newer of its adapter/ (step from the model card saveAdapter writes) and its newest complete
// checkpoint, adapter/ on a tie. Throws invalidInput naming the folder otherwise.
AdapterSource findAdapter(const std::string &runCheckpointOrAdapterDir);

struct ExportResult {
    std::string path;
    uint64_t bytes = 0; // of everything written
    AdapterSource source; // the adapter that was exported
};

// PEFT folder: adapter_config.json (every LoraConfig field PEFT writes), adapter_model.safetensors
// (PEFT's keys, float32, metadata {"format": "pt"}) and a README.md model card.
ExportResult exportAdapter(const std::string &source, const std::string &outDir);

enum class MergeOnto {
    Original, // the base's stored weights (what a full-precision deployment runs)
    Dequantized, // the 4-bit weights the QLoRA run trained against, dequantized (PEFT's
    // merge_and_unload on a 4-bit-loaded model)
};

struct MergedExportOptions {
    std::string baseDir; // empty: adapter_config.json's base_model_name_or_path
    Dtype dtype = Dtype::BF16; // BF16, F16 or F32
    uint64_t maxShardBytes = 5'000'000'000ull; // transformers' default max_shard_size "5GB"
    MergeOnto onto = MergeOnto::Original;
};
// An HF model folder: config.json (torch_dtype set), model.safetensors or shards +
// model.safetensors.index.json, generation_config.json, the base's tokenizer files. Streams tensor by
// tensor, each converted whole, so memory stays near the largest tensor (source and converted copy).
ExportResult exportMerged(const std::string &source, const std::string &outDir, const MergedExportOptions &options);

struct GgufLoraOptions {
    std::string baseDir; // empty: adapter_config.json's base_model_name_or_path (config.json is enough)
    bool f16 = false; // tensor data F16 instead of F32
    std::string ollamaFrom; // the Modelfile's FROM; empty: the base model's name
};
// A GGUF v3 LoRA adapter as llama.cpp's convert_lora_to_gguf.py writes it, plus "<stem>.Modelfile"
// for Ollama beside it (adapter.gguf -> adapter.Modelfile). Returns the .gguf (bytes: the .gguf alone).
ExportResult exportGgufLora(const std::string &source, const std::string &outFile, const GgufLoraOptions &options);

} // namespace headroom
