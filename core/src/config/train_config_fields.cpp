// The table of training settings: each field of TrainConfig described once (docs/contracts.md's
// JSON name, type, valid values, help). Everything that reads, writes, checks or shows a setting
// walks this table.
#include "headroom/choices.h"
#include "headroom/chat_template.h"
#include "headroom/error.h"
#include "headroom/train_config.h"
#include "config/model_layout.h"

#include "io/json_text.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <type_traits>

namespace headroom {

namespace {

using Type = FieldDescriptor::Type;

// Builds one row: `access` is a generic lambda returning a reference to the member.
class Field {
public:
    template <typename Access>
    Field(const char *path, Access access, const char *help) {
        using Member = std::decay_t<decltype(access(std::declval<TrainConfig &>()))>;
        m_field.path = path;
        m_field.help = help;
        m_field.type = typeOf<Member>();
        if constexpr (std::is_enum_v<Member>) {
            // A choice (choices.h): its names in JSON, its valid values from its name table.
            m_field.choices = choiceNames<Member>();
            m_field.get = [access](const TrainConfig &config) -> nlohmann::json { return choiceName(access(config)); };
            m_assign = [access, field = m_field](TrainConfig &config, const nlohmann::json &value) {
                if (!value.is_string())
                    return false;
                if (const std::string problem = field.problem(value); !problem.empty())
                    throw invalidInput(field.path + ": " + problem);
                access(config) = parseChoice<Member>(value.get<std::string>(), field.path);
                return true;
            };
        } else {
            m_field.get = [access](const TrainConfig &config) -> nlohmann::json { return access(config); };
            m_assign = [access](TrainConfig &config, const nlohmann::json &value) {
                const auto converted = convertedOrNothing<Member>(value);
                if (converted)
                    access(config) = *converted;
                return converted.has_value();
            };
        }
    }

    Field &atLeast(double minimum) { return bound(minimum, false, true); }
    Field &above(double minimum) { return bound(minimum, true, true); }
    Field &below(double maximum) { return bound(maximum, true, false); }
    Field &oneOf(std::vector<std::string> choices) {
        m_field.choices = std::move(choices);
        return *this;
    }
    Field &required() {
        m_field.required = true;
        return *this;
    }
    Field &orKeyword(const char *keyword) {
        m_field.listKeyword = keyword;
        // A list of just the keyword is written back as the keyword itself.
        m_field.get = [get = m_field.get, keyword = std::string(keyword)](const TrainConfig &config) {
            nlohmann::json value = get(config);
            return value == nlohmann::json::array({keyword}) ? nlohmann::json(keyword) : value;
        };
        return *this;
    }
    // The finished row; its setter names the field and the expected type on a mismatch.
    operator FieldDescriptor() const {
        FieldDescriptor field = m_field;
        field.set = [assign = m_assign, path = field.path, expected = field.typeName()](TrainConfig &config,
                                                                                        const nlohmann::json &value) {
            if (!assign(config, value))
                throw invalidInput(path + ": expected " + expected + ", got " + detail::quoteForError(value));
        };
        return field;
    }

private:
    template <typename Member>
    static Type typeOf() {
        if constexpr (std::is_same_v<Member, bool>)
            return Type::Bool;
        else if constexpr (std::is_same_v<Member, int64_t>)
            return Type::Integer;
        else if constexpr (std::is_same_v<Member, double>)
            return Type::Number;
        else if constexpr (std::is_same_v<Member, std::string> || std::is_enum_v<Member>)
            return Type::String;
        else
            return Type::StringList;
    }

    // `value` as the member's type, or nothing when it has another type.
    template <typename Member>
    static std::optional<Member> convertedOrNothing(const nlohmann::json &value) {
        bool fits = false;
        if constexpr (std::is_same_v<Member, bool>) {
            fits = value.is_boolean();
        } else if constexpr (std::is_same_v<Member, int64_t>) {
            fits =
                value.is_number_integer() &&
                !(value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()));
        } else if constexpr (std::is_same_v<Member, double>) {
            fits = value.is_number();
        } else if constexpr (std::is_same_v<Member, std::string>) {
            fits = value.is_string();
        } else {
            if (value.is_string())
                return Member{value.get<std::string>()};
            fits = value.is_array() &&
                   std::all_of(value.begin(), value.end(), [](const nlohmann::json &item) { return item.is_string(); });
        }
        if (!fits)
            return std::nullopt;
        return value.get<Member>();
    }

    Field &bound(double value, bool exclusive, bool lower) {
        (lower ? m_field.minimum : m_field.maximum) = value;
        (lower ? m_field.minimumExclusive : m_field.maximumExclusive) = exclusive;
        return *this;
    }

    FieldDescriptor m_field;
    std::function<bool(TrainConfig &, const nlohmann::json &)> m_assign; // false: wrong type
};

std::vector<std::string> chatTemplateChoices() {
    std::vector<std::string> choices = {"auto"};
    for (const auto &name : ChatTemplate::names())
        choices.push_back(name);
    return choices;
}

std::vector<FieldDescriptor> describeFields() {
    return {
        Field(
            "model", [](auto &c) -> auto & { return c.model; },
            "Hugging Face model folder to fine-tune (config.json, safetensors weights, tokenizer); "
            "its size sets most of the memory.")
            .required(),
        Field(
            "device", [](auto &c) -> auto & { return c.device; },
            "Where to train: auto takes the first CUDA GPU when there is one, else the CPU "
            "(cpu, cuda, cuda:N choose); the CPU is far slower."),
        Field(
            "threads", [](auto &c) -> auto & { return c.threads; },
            "CPU threads for computation and tokenization; 0 uses every core.")
            .atLeast(0),
        Field(
            "attn_implementation", [](auto &c) -> auto & { return c.attnImplementation; },
            "How attention is computed: sdpa (fused) keeps only q, k and v for backward and "
            "recomputes the attention weights; eager keeps a [batch, heads, seq, seq] float32 "
            "matrix per layer, the largest activation at long sequences."),

        Field(
            "dataset.path", [](auto &c) -> auto & { return c.dataset.path; },
            "Training data: a JSONL file (one record per line) or a JSON array; a relative path is "
            "read from the configuration file's folder.")
            .required(),
        Field(
            "dataset.format", [](auto &c) -> auto & { return c.dataset.format; },
            "How records are laid out: alpaca (instruction, input, output), messages (role/content, "
            "or ShareGPT's from/value), text (raw text), or auto to detect it from the first record.")
            .oneOf({"auto", "alpaca", "messages", "text"}),
        Field(
            "dataset.max_seq_length", [](auto &c) -> auto & { return c.dataset.maxSeqLength; },
            "Longest example in tokens, longer ones are cut: activation memory and step time grow "
            "with it (attention faster than linearly).")
            .atLeast(8),
        Field(
            "dataset.packing", [](auto &c) -> auto & { return c.dataset.packing; },
            "Pack several short examples into each row of max_seq_length tokens (attention stays "
            "within each example): less padding, so faster epochs for the same memory."),
        Field(
            "dataset.train_on_prompt", [](auto &c) -> auto & { return c.dataset.trainOnPrompt; },
            "Also learn the prompt (system and user turns), not only the replies; no effect on "
            "memory or speed."),
        Field(
            "dataset.validation_split", [](auto &c) -> auto & { return c.dataset.validationSplit; },
            "Fraction of the examples held out to measure eval loss: they are not trained on, and "
            "evaluating them takes time.")
            .atLeast(0)
            .below(1),
        Field(
            "dataset.chat_template", [](auto &c) -> auto & { return c.dataset.chatTemplate; },
            "How conversations become text: auto renders the model's own Jinja template (its "
            "chat_template.jinja or tokenizer_config.json; plain text when it has none), a family "
            "name forces that built-in format instead.")
            .oneOf(chatTemplateChoices()),
        Field(
            "dataset.on_bad_line", [](auto &c) -> auto & { return c.dataset.onBadLine; },
            "What a malformed record does: stop with an error naming its line, or skip it (skipped "
            "lines are counted and reported).")
            .oneOf({"stop", "skip"}),

        Field(
            "quantization.load_in_4bit", [](auto &c) -> auto & { return c.quantization.loadIn4bit; },
            "Keep the frozen base weights in 4 bits (QLoRA): about a quarter of the 16-bit weight "
            "memory, for somewhat slower matmuls (each weight is dequantized on use)."),
        Field(
            "quantization.bnb_4bit_quant_type", [](auto &c) -> auto & { return c.quantization.quantType; },
            "The 4-bit code: nf4 (normal float, suits trained weights best) or fp4; same memory "
            "and speed."),
        Field(
            "quantization.bnb_4bit_compute_dtype", [](auto &c) -> auto & { return c.quantization.computeDtype; },
            "Dtype the 4-bit weights are expanded to for each matmul: bfloat16 or float16 are "
            "faster and lighter than float32; training computes in the dtype training.bf16 / "
            "training.fp16 choose."),
        Field(
            "quantization.bnb_4bit_use_double_quant", [](auto &c) -> auto & { return c.quantization.useDoubleQuant; },
            "Quantize the block scales to 8 bits as well: saves about 0.37 bits per weight (0.3 GB "
            "for a 7B model) for a little more dequantization work."),
        Field(
            "quantization.bnb_4bit_blocksize", [](auto &c) -> auto & { return c.quantization.blocksize; },
            "Weights that share one scale: smaller blocks quantize more accurately but store more "
            "scales (32 bits per block, about 8 with double quantization).")
            .oneOf({"32", "64", "128", "256", "512", "1024", "2048", "4096"}),

        Field(
            "lora.r", [](auto &c) -> auto & { return c.lora.r; },
            "Rank of each adapter: adapter, gradient and optimizer memory grow in proportion; a "
            "higher rank can learn more.")
            .atLeast(1),
        Field(
            "lora.lora_alpha", [](auto &c) -> auto & { return c.lora.loraAlpha; },
            "Adapter strength: the update is scaled by lora_alpha / r; no effect on memory or speed.")
            .above(0),
        Field(
            "lora.target_modules", [](auto &c) -> auto & { return c.lora.targetModules; },
            "Projections that get an adapter, by PEFT's names (all-linear: every linear of the block; "
            "Phi-3 fuses q/k/v into qkv_proj and gate/up into gate_up_proj): each one adds trainable "
            "parameters, memory and time, and usually quality.")
            .oneOf(knownLinearModules())
            .orKeyword("all-linear"),
        Field(
            "lora.lora_dropout", [](auto &c) -> auto & { return c.lora.loraDropout; },
            "Dropout on each adapter's input while training, against overfitting; costs a mask per "
            "adapted layer (0 skips it).")
            .atLeast(0)
            .below(1),
        Field(
            "lora.bias", [](auto &c) -> auto & { return c.lora.bias; },
            "Which biases train alongside the adapters; only none is supported (biases stay frozen).")
            .oneOf({"none"}),
        Field(
            "lora.use_rslora", [](auto &c) -> auto & { return c.lora.useRslora; },
            "Rank-stabilised LoRA: scale by lora_alpha / sqrt(r), which keeps high ranks learning; "
            "no effect on memory or speed."),

        Field(
            "training.output_dir", [](auto &c) -> auto & { return c.training.outputDir; },
            "Folder for the checkpoints, the final adapter and metrics.jsonl.")
            .required(),
        Field(
            "training.per_device_train_batch_size",
            [](auto &c) -> auto & { return c.training.perDeviceTrainBatchSize; },
            "Rows per forward and backward pass (the micro-batch): activation memory grows in "
            "proportion; larger is faster per example until the GPU is busy.")
            .atLeast(1),
        Field(
            "training.gradient_accumulation_steps",
            [](auto &c) -> auto & { return c.training.gradientAccumulationSteps; },
            "Micro-batches summed into each optimizer step: a larger effective batch for no extra "
            "memory, each step taking proportionally longer.")
            .atLeast(1),
        Field(
            "training.gradient_checkpointing", [](auto &c) -> auto & { return c.training.gradientCheckpointing; },
            "Recompute each layer's activations during the backward pass instead of keeping them: "
            "far less activation memory for about a third more compute."),
        Field(
            "training.bf16", [](auto &c) -> auto & { return c.training.bf16; },
            "Compute in bfloat16 mixed precision: about half the activation memory and faster on "
            "GPUs that support it (Ampere and newer)."),
        Field(
            "training.fp16", [](auto &c) -> auto & { return c.training.fp16; },
            "Compute in float16 with loss scaling, for GPUs without bfloat16 (T4, V100): about half "
            "the activation memory; not together with bf16."),
        Field(
            "training.optim", [](auto &c) -> auto & { return c.training.optim; },
            "Optimizer: adamw_torch keeps 8 bytes of state per trainable parameter, adamw_8bit about "
            "2, paged_adamw_8bit also pages it out under memory pressure; sgd keeps the least."),
        Field(
            "training.learning_rate", [](auto &c) -> auto & { return c.training.learningRate; },
            "Peak learning rate, reached after warmup (1e-4 to 3e-4 is usual for LoRA); no effect "
            "on memory or speed.")
            .above(0),
        Field(
            "training.num_train_epochs", [](auto &c) -> auto & { return c.training.numTrainEpochs; },
            "Passes over the training data (fractions allowed); training time grows in proportion. "
            "Ignored when max_steps > 0.")
            .atLeast(0),
        Field(
            "training.max_steps", [](auto &c) -> auto & { return c.training.maxSteps; },
            "Optimizer steps to train; when > 0 it replaces num_train_epochs (-1: train for the "
            "epochs).")
            .atLeast(-1),
        Field(
            "training.warmup_ratio", [](auto &c) -> auto & { return c.training.warmupRatio; },
            "Fraction of the steps over which the learning rate ramps up from 0.")
            .atLeast(0)
            .below(1),
        Field(
            "training.warmup_steps", [](auto &c) -> auto & { return c.training.warmupSteps; },
            "Warmup length in optimizer steps; when > 0 it wins over warmup_ratio.")
            .atLeast(0),
        Field(
            "training.lr_scheduler_type", [](auto &c) -> auto & { return c.training.lrSchedulerType; },
            "Learning-rate curve after warmup: constant, linear decay to 0, or cosine decay to 0.")
            .oneOf({"constant", "linear", "cosine"}),
        Field(
            "training.weight_decay", [](auto &c) -> auto & { return c.training.weightDecay; },
            "Decoupled weight decay on the adapter weights; no effect on memory or speed.")
            .atLeast(0),
        Field(
            "training.max_grad_norm", [](auto &c) -> auto & { return c.training.maxGradNorm; },
            "Gradients are scaled down when their global norm exceeds this (0: no clipping); costs "
            "one norm per step.")
            .atLeast(0),
        Field(
            "training.logging_steps", [](auto &c) -> auto & { return c.training.loggingSteps; },
            "Optimizer steps between progress lines on the console (metrics.jsonl gets every step).")
            .atLeast(1),
        Field(
            "training.eval_steps", [](auto &c) -> auto & { return c.training.evalSteps; },
            "Optimizer steps between evaluations on the validation split (0: at the end of each "
            "epoch); each evaluation costs a forward pass over it.")
            .atLeast(0),
        Field(
            "training.save_strategy", [](auto &c) -> auto & { return c.training.saveStrategy; },
            "When to write checkpoints: every save_steps steps, at the end of each epoch, or no "
            "(the final adapter is always written).")
            .oneOf({"steps", "epoch", "no"}),
        Field(
            "training.save_steps", [](auto &c) -> auto & { return c.training.saveSteps; },
            "Optimizer steps between checkpoints with save_strategy steps; each one writes the "
            "adapter and optimizer state to disk.")
            .atLeast(1),
        Field(
            "training.save_total_limit", [](auto &c) -> auto & { return c.training.saveTotalLimit; },
            "Checkpoints kept on disk, the oldest deleted first (0 keeps all); bounds disk use.")
            .atLeast(0),
        Field(
            "training.seed", [](auto &c) -> auto & { return c.training.seed; },
            "Seeds the data order, the validation split, adapter initialisation and dropout: the "
            "same seed gives the same run.")
            .atLeast(0),
        Field(
            "training.ddp_timeout", [](auto &c) -> auto & { return c.training.ddpTimeout; },
            "Multi-process training: seconds a collective (gradient all-reduce, rendezvous) waits "
            "for the other ranks before the run ends with an error naming the cause; no effect on "
            "one process.")
            .atLeast(1),
        Field(
            "training.adam_beta1", [](auto &c) -> auto & { return c.training.adamBeta1; },
            "AdamW's decay rate of the gradient average; no effect on memory or speed.")
            .atLeast(0)
            .below(1),
        Field(
            "training.adam_beta2", [](auto &c) -> auto & { return c.training.adamBeta2; },
            "AdamW's decay rate of the squared-gradient average; no effect on memory or speed.")
            .atLeast(0)
            .below(1),
        Field(
            "training.adam_epsilon", [](auto &c) -> auto & { return c.training.adamEpsilon; },
            "AdamW's term added to the denominator for numerical stability.")
            .above(0),
        Field(
            "training.memory_budget", [](auto &c) -> auto & { return c.training.memoryBudget; },
            "Simulated memory limit: a GPU preset (t4, a10, ...) or a size such as 6GiB; past it a "
            "step runs out of memory as on that card (empty: the device's own memory)."),
        Field(
            "training.on_oom", [](auto &c) -> auto & { return c.training.onOom; },
            "When a step runs out of memory: stop with a checkpoint and the change that fits, or "
            "adapt (apply that change, e.g. halve the micro-batch and double accumulation, and go "
            "on).")
            .oneOf({"stop", "adapt"}),
        Field(
            "training.memory_timeline_step", [](auto &c) -> auto & { return c.training.memoryTimelineStep; },
            "Record memory after each layer's forward and backward and after the optimizer in this "
            "optimizer step, into memory_timeline.json (0: none); costs nothing in other steps.")
            .atLeast(0),
        Field(
            "training.overwrite_output_dir", [](auto &c) -> auto & { return c.training.overwriteOutputDir; },
            "Start afresh in an output folder that holds an earlier run: that run is moved aside to "
            "<output_dir>.old-<time>, never deleted (without this such a folder is refused; resuming ignores it)."),
    };
}

} // namespace

const std::vector<FieldDescriptor> &TrainConfig::fields() {
    static const std::vector<FieldDescriptor> kFields = describeFields();
    return kFields;
}

const FieldDescriptor *TrainConfig::field(const std::string &path) {
    for (const auto &descriptor : fields()) {
        if (descriptor.path == path)
            return &descriptor;
    }
    return nullptr;
}

} // namespace headroom
