#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "io/staged_output.h"
#include "tokenizer/bpe_trainer.h"
#include "headroom/chat_template.h"
#include "headroom/demo.h"
#include "headroom/error.h"
#include "headroom/random_model.h"
#include "headroom/tokenizer.h"

namespace headroom {

namespace detail {
// resources/configs/demo.json, in the embedded_resources.cpp that core/CMakeLists.txt generates.
const std::string &embeddedDemoConfig();
} // namespace detail

namespace fs = std::filesystem;

namespace {

const char *const kMarkerFile = "headroom-demo.json";
constexpr int kTokenizerVocab = 1024;
constexpr int64_t kHidden = 128, kIntermediate = 384, kLayers = 4, kHeads = 4, kKvHeads = 2;
constexpr int64_t kMaxPositions = 512;
constexpr uint64_t kSeed = 1234;
constexpr double kEmbeddingStd = 0.25;

void writeJson(const fs::path &path, const nlohmann::json &json) {
    std::ofstream out(path);
    out << json.dump(2) << "\n";
    if (!out)
        throw runtimeFailure(path.string() + ": cannot write");
}

void writeDataset(const fs::path &path, const std::vector<DemoExample> &examples) {
    std::ofstream out(path);
    for (const auto &e : examples)
        out << nlohmann::json{{"instruction", e.instruction}, {"input", e.input}, {"output", e.output}}.dump() << "\n";
    if (!out)
        throw runtimeFailure(path.string() + ": cannot write");
}

nlohmann::json modelConfigJson(int64_t vocab, int64_t bos, int64_t eos) {
    return {{"architectures", {"LlamaForCausalLM"}},
            {"model_type", "llama"},
            {"hidden_size", kHidden},
            {"intermediate_size", kIntermediate},
            {"num_hidden_layers", kLayers},
            {"num_attention_heads", kHeads},
            {"num_key_value_heads", kKvHeads},
            {"head_dim", kHidden / kHeads},
            {"hidden_act", "silu"},
            {"max_position_embeddings", kMaxPositions},
            {"rms_norm_eps", 1e-5},
            {"rope_theta", 10000.0},
            {"rope_scaling", nullptr},
            {"attention_bias", false},
            {"mlp_bias", false},
            {"tie_word_embeddings", true},
            {"vocab_size", vocab},
            {"bos_token_id", bos},
            {"eos_token_id", eos},
            {"initializer_range", 0.02},
            {"torch_dtype", "bfloat16"}};
}

std::vector<std::string> renderedCorpus(const ChatTemplate &chat) {
    std::vector<std::string> texts;
    for (bool heldOut : {false, true})
        for (const auto &e : demoExamples(heldOut))
            texts.push_back(
                chat.renderText({{"user", e.instruction + "\n\n" + e.input}, {"assistant", e.output}}, false));
    return texts;
}

} // namespace

nlohmann::json demoTrainConfig(const std::string &dir) {
    // resources/configs/demo.json, compiled in; only the output folder moves into `dir` (the model
    // and dataset paths are relative to train.json, which sits in `dir`).
    nlohmann::json config = nlohmann::json::parse(detail::embeddedDemoConfig());
    config["training"]["output_dir"] = (fs::path(dir) / "runs" / "demo").string();
    return config;
}

DemoPaths makeDemo(const std::string &dirName) {
    const fs::path dir = fs::absolute(dirName);
    if (fs::exists(dir) && !fs::is_directory(dir))
        throw invalidInput(dir.string() + ": exists and is not a folder");
    if (fs::is_directory(dir) && !fs::is_empty(dir) && !fs::exists(dir / kMarkerFile))
        throw invalidInput(dir.string() +
                           ": folder is not empty and holds no Headroom demo; choose an empty or new folder");

    // Build everything in a sibling folder and swap it in, so an interrupted make-demo leaves no
    // half demo behind.
    detail::StagedOutput staged(dir, "demo");
    const fs::path &staging = staged.tmp();
    try {
        const fs::path modelDir = staging / "model";
        fs::create_directories(modelDir);
        const auto chat = ChatTemplate::fromName("llama3");
        trainByteLevelBpe(
            renderedCorpus(chat), kTokenizerVocab,
            {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"},
            modelDir.string());
        const auto tokenizer = Tokenizer::load(modelDir.string());
        const int64_t vocab = tokenizer->vocabSize();
        const int64_t bos = *tokenizer->tokenId("<|begin_of_text|>");
        const int64_t eot = *tokenizer->tokenId("<|eot_id|>");
        // transformers' initialisation except the tied embedding: with N(0, 0.02) a frozen lm_head
        // cannot express a confident prediction (|logit| <= sqrt(hidden) * 0.02 * sqrt(hidden) ~ 2.6
        // against ~470 tokens caps the loss near 3.6), so LoRA could never teach it anything.
        // N(0, 0.25) leaves room for logits of ~30.
        RandomModelOptions random;
        random.seed = kSeed;
        random.embeddingStd = kEmbeddingStd;
        writeRandomModel(modelConfigJson(vocab, bos, eot), modelDir.string(), random);
        writeJson(modelDir / "generation_config.json", {{"bos_token_id", bos}, {"eos_token_id", eot}});
        writeDataset(staging / "demo.jsonl", demoExamples(false));
        writeDataset(staging / "demo-heldout.jsonl", demoExamples(true));
        writeJson(staging / "train.json", demoTrainConfig(dir.string()));
        writeJson(staging / kMarkerFile, {{"headroom_demo", 1}, {"seed", kSeed}});
    } catch (const fs::filesystem_error &e) {
        throw runtimeFailure(dir.string() + ": cannot write the demo (" + e.code().message() + ")");
    }
    staged.commit();
    return {(dir / "model").string(), (dir / "demo.jsonl").string(), (dir / "demo-heldout.jsonl").string(),
            (dir / "train.json").string()};
}

} // namespace headroom
