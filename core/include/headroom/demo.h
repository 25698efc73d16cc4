// The bundled demo: a small Llama-architecture model in HF layout (config.json, model.safetensors,
// tokenizer.json, tokenizer_config.json, generation_config.json) and a demo dataset, small enough to
// fine-tune at interactive speed on two CPU cores.
//
// The dataset teaches review sentiment: "Is this review positive or negative?" -> "positive" or
// "negative". Reviews are assembled from subjects and adjectives; the held-out file uses
// subject/adjective pairs that never occur in training, so a correct answer there shows that
// fine-tuning taught the task rather than the examples. The model starts from random weights, so
// before fine-tuning its answers are noise.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace headroom {

struct DemoPaths {
    std::string modelDir; // DIR/model
    std::string dataset; // DIR/demo.jsonl (alpaca format)
    std::string heldOut; // DIR/demo-heldout.jsonl (same format, never trained on)
    std::string config; // DIR/train.json: the demo training configuration
};

struct DemoExample {
    std::string instruction, input, output;
};

// The demo dataset, generated deterministically. heldOut selects the held-out split.
std::vector<DemoExample> demoExamples(bool heldOut);

// The demo's training configuration: resources/configs/demo.json (compiled in) with its output
// folder inside `dir`:
// NF4 + double quant, LoRA r 16 on all linear layers, gradient checkpointing, bf16, 8-bit AdamW,
// 12 epochs at learning rate 1e-3. Trains in well under a minute on two CPU cores.
nlohmann::json demoTrainConfig(const std::string &dir);

// Writes the demo into `dir` (created if needed). An existing demo there is replaced; any other
// non-empty folder is refused, so make-demo never overwrites a user's files.
DemoPaths makeDemo(const std::string &dir);

} // namespace headroom
