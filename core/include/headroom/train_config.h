// The training configuration: one JSON file drives the studio, the CLI and the tests.
//
// TrainConfig mirrors the JSON of docs/contracts.md ("Training configuration"); JSON names follow the
// Hugging Face classes (BitsAndBytesConfig, LoraConfig, TrainingArguments), C++ members are their
// camelCase. Every field is described once, as data, in TrainConfig::fields(): its dotted JSON
// path, type, valid range or choices and a one-sentence help on what it does to memory and speed.
// Parsing, serialising, validation and `--set a.b=value` overrides all walk that table, and the
// studio builds its form (ranges, tooltips) and the CLI its help from it, so a new setting is one
// member plus one table row (train_config_fields.cpp).
//
//   TrainConfig config = TrainConfig::fromFile("run.json");  // syntax and types checked
//   config.applyOverride("training.learning_rate=1e-4");     // as `headroom-cli train --set`
//   config.validate();                                       // ranges, choices, combinations
//   nlohmann::json saved = config.toJson();                  // round-trips through fromJson
//
// Parsing checks only names and types, so a later override can still repair a value; validate()
// checks everything else. All problems throw headroom::Error (InvalidInput) naming the field and
// what would be valid; an unknown field is refused with the nearest valid name suggested.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "headroom/choices.h"

namespace headroom {

struct DatasetSettings {
    std::string path; // path: JSONL or JSON-array file (relative: to the config file)
    std::string format = "auto"; // format: auto, alpaca, messages (incl. ShareGPT), text
    int64_t maxSeqLength = 512; // max_seq_length: tokens per example; longer ones are cut
    bool packing = false; // packing: several examples per row, attention kept apart
    bool trainOnPrompt = false; // train_on_prompt: also learn the prompt (user/system) tokens
    double validationSplit = 0.05; // validation_split: fraction of examples held out for eval
    std::string chatTemplate = "auto"; // chat_template: auto (the tokenizer's) or a family name
    std::string onBadLine = "stop"; // on_bad_line (extension): stop at a bad record, or skip it
};

struct QuantizationSettings {
    bool loadIn4bit = true; // load_in_4bit: frozen weights stored in 4 bits (QLoRA)
    Quant4Type quantType = Quant4Type::NF4; // bnb_4bit_quant_type: nf4 or fp4
    // bnb_4bit_compute_dtype: dtype of the dequantized matmul; training computes in the precision's
    // dtype (TrainConfig::precision()), and setPrecision() keeps this equal to it.
    DtypeName computeDtype = DtypeName::BFloat16;
    bool useDoubleQuant = true; // bnb_4bit_use_double_quant: quantize the block scales too
    int64_t blocksize = 64; // bnb_4bit_blocksize (extension): weights per scale
};

struct LoraSettings {
    int64_t r = 16; // r: rank of the adapter matrices
    double loraAlpha = 32; // lora_alpha: scale = alpha / r (alpha / sqrt(r) with rsLoRA)
    // target_modules: projections that get an adapter; {"all-linear"} for every one of them.
    std::vector<std::string> targetModules = {"q_proj", "k_proj", "v_proj", "o_proj"};
    double loraDropout = 0.05; // lora_dropout: dropout on the adapter's input
    std::string bias = "none"; // bias: only "none" (biases stay frozen)
    bool useRslora = false; // use_rslora: rank-stabilised scale alpha / sqrt(r)
};

struct TrainingSettings {
    std::string outputDir = "runs/demo"; // output_dir: checkpoints, adapter, metrics
    int64_t perDeviceTrainBatchSize = 2; // per_device_train_batch_size: micro-batch (rows)
    int64_t gradientAccumulationSteps = 16; // gradient_accumulation_steps: micro-batches per step
    bool gradientCheckpointing = true; // gradient_checkpointing: recompute activations
    bool bf16 = true; // bf16: bfloat16 autocast
    bool fp16 = false; // fp16: float16 autocast with loss scaling
    OptimizerKind optim = OptimizerKind::PagedAdamW8bit; // optim: adamw_torch, adamw_8bit, paged_adamw_8bit, sgd
    double learningRate = 2e-4; // learning_rate: peak learning rate
    double numTrainEpochs = 3; // num_train_epochs: passes over the data (fractions ok)
    int64_t maxSteps = -1; // max_steps: optimizer steps; > 0 overrides epochs
    double warmupRatio = 0.03; // warmup_ratio: fraction of steps spent warming up
    int64_t warmupSteps = 0; // warmup_steps (extension): > 0 wins over the ratio
    std::string lrSchedulerType = "cosine"; // lr_scheduler_type: constant, linear, cosine
    double weightDecay = 0.0; // weight_decay: decoupled (AdamW) weight decay
    double maxGradNorm = 1.0; // max_grad_norm: clip threshold; 0 = no clipping
    int64_t loggingSteps = 10; // logging_steps: steps between console log lines
    int64_t evalSteps = 0; // eval_steps: steps between evaluations; 0 = per epoch
    std::string saveStrategy = "epoch"; // save_strategy: steps, epoch, no
    int64_t saveSteps = 500; // save_steps: steps between checkpoints ("steps")
    int64_t saveTotalLimit = 3; // save_total_limit: checkpoints kept; 0 = all
    int64_t seed = 42; // seed: data order, split, adapter init, dropout
    int64_t ddpTimeout = 1800; // ddp_timeout: seconds a collective waits for other ranks
    double adamBeta1 = 0.9; // adam_beta1 (extension)
    double adamBeta2 = 0.999; // adam_beta2 (extension)
    double adamEpsilon = 1e-8; // adam_epsilon (extension)
    std::string memoryBudget; // memory_budget (extension): preset or size, "" = device's
    std::string onOom = "stop"; // on_oom (extension): stop or adapt
    int64_t memoryTimelineStep = 0; // memory_timeline_step (extension): 0 = none
    // overwrite_output_dir (extension, TrainingArguments' name): move an earlier run in output_dir
    // aside instead of refusing the folder
    bool overwriteOutputDir = false;
};

struct TrainConfig;

// One setting: everything the parser, the validator, `--set`, the CLI help and the studio's form
// need to know about it.
struct FieldDescriptor {
    enum class Type { Bool, Integer, Number, String, StringList };

    std::string path; // dotted JSON path, e.g. "training.learning_rate"
    Type type = Type::String;
    std::string help; // one sentence: what it does, to memory and speed in particular
    std::optional<double> minimum, maximum; // Integer and Number
    bool minimumExclusive = false, maximumExclusive = false;
    // String: the valid values when not empty; StringList: the valid items. Integer: the valid
    // values (as text) when not empty.
    std::vector<std::string> choices;
    bool required = false; // String: must not be empty
    std::string listKeyword; // StringList: a string that stands for the whole list ("all-linear")
    // The member as JSON, and assigning it from JSON (throws invalidInput on a wrong type).
    std::function<nlohmann::json(const TrainConfig &)> get;
    std::function<void(TrainConfig &, const nlohmann::json &)> set;

    nlohmann::json defaultValue() const;
    // "an integer", "a number", "true or false", "a string", "a list of strings".
    std::string typeName() const;
    // The valid values in words ("a number > 0 and < 1", "one of: nf4, fp4"); "" if any is fine.
    std::string constraintText() const;
    // Why `value` (already of the right type) is not valid; "" when it is.
    std::string problem(const nlohmann::json &value) const;
    // A value typed as text (`--set`, a form's line edit) as JSON of this field's type: bools as
    // true/false/1/0/yes/no/on/off, lists comma-separated or as a JSON array. Throws invalidInput.
    nlohmann::json parseText(const std::string &text) const;
};

struct TrainConfig {
    std::string model; // model: HF model folder (relative: to the config file)
    std::string device = "auto"; // device: auto, cpu, cuda or cuda:N
    int64_t threads = 0; // threads (extension): CPU threads; 0 = all cores
    Attention attnImplementation = Attention::Sdpa; // attn_implementation (transformers' name): eager or sdpa
    DatasetSettings dataset;
    QuantizationSettings quantization;
    LoraSettings lora;
    TrainingSettings training;

    // `context` names the source in error messages (a file, "--config"). Names and types only.
    static TrainConfig fromJson(const nlohmann::json &json, const std::string &context);
    // Reads a JSON file; relative model and dataset paths are resolved against its folder.
    // Malformed JSON is reported with the file, line and column.
    static TrainConfig fromFile(const std::string &path);
    nlohmann::json toJson() const;

    // "a.b=value", value read by the field's type (FieldDescriptor::parseText).
    void applyOverride(const std::string &assignment);
    // applyOverride for each field of {"training.per_device_train_batch_size": 4, ...}: the form of
    // out-of-memory advice, fit suggestions and bench sweeps.
    void applyOverrides(const nlohmann::json &overrides);
    // Ranges, choices and combinations; throws invalidInput naming the field, prefixed by
    // `context` when given.
    void validate(const std::string &context = {}) const;

    // Sequences per optimizer step: micro-batch x accumulation x GPUs.
    int64_t effectiveBatch(int gpus = 1) const;

    // The compute precision, decided in this one place: training.fp16, else training.bf16, else
    // fp32. setPrecision() sets those flags and bnb_4bit_compute_dtype to match.
    Precision precision() const;
    void setPrecision(Precision precision);
    // load_in_4bit and bnb_4bit_quant_type as one choice (--quant), and setting both from one.
    WeightQuant weightQuant() const;
    void setWeightQuant(WeightQuant quant);

    // Every field, in the order of docs/contracts.md's example.
    static const std::vector<FieldDescriptor> &fields();
    // nullptr when `path` names no field.
    static const FieldDescriptor *field(const std::string &path);
};

} // namespace headroom
