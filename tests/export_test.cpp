// Exports for deployment (export.h): PEFT adapter folders, merged HF models, GGUF LoRA adapters, and
// what a failed export leaves behind. References: the PEFT-style adapter and its logits written by
// tests/reference/make_peft_adapter.py (numpy, base + scaling * B A x), PEFT's field list and key
// layout, llama.cpp's tensor names and GGUF layout re-derived here by an independent parser.
#include <QDirIterator>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>

#include <nlohmann/json.hpp>

#include "io/file_tree.h"
#include "headroom/adapter_io.h"
#include "headroom/causal_lm.h"
#include "headroom/error.h"
#include "headroom/export.h"
#include "memory/estimate/lora_count.h"
#include "headroom/memory.h"
#include "headroom/random_model.h"
#include "json_file.h"
#include "test_files.h"
#include "test_support.h"

using namespace headroom;
using test::readText;
namespace fs = std::filesystem;

namespace {

const char *const kBase = "models/llama_gqa_tied_bias_llama3rope";
const char *const kPeftAdapter = "export/peft_rslora_adapter";
// The fixture adapter (make_peft_adapter.py): r 4, alpha 8, rsLoRA, these modules, 2 layers.
const int64_t kRank = 4, kLayers = 2, kHidden = 64, kInter = 96, kHeads = 4, kKvHeads = 2, kHeadDim = 16;
const std::vector<std::string> kTargets = {"q_proj", "k_proj", "v_proj", "down_proj"};

std::string data(const char *relative) { return test::dataPath(relative).toStdString(); }

// (in, out) of each projection of the fixture, from its config.json's numbers.
std::pair<int64_t, int64_t> projection(const std::string &module) {
    if (module == "q_proj")
        return {kHidden, kHeads * kHeadDim};
    if (module == "k_proj" || module == "v_proj")
        return {kHidden, kKvHeads * kHeadDim};
    if (module == "down_proj")
        return {kInter, kHidden};
    throw std::runtime_error(module);
}

std::string peftKey(int64_t layer, const std::string &module, const char *which) {
    const bool attention = module != "down_proj";
    return "base_model.model.model.layers." + std::to_string(layer) + (attention ? ".self_attn." : ".mlp.") + module +
           "." + which + ".weight";
}

torch::Tensor logitsOf(const CausalLM &model, const SafetensorsFile &expected) {
    torch::NoGradGuard noGrad;
    return model.forward(test::readTensor(expected, "input_ids"), test::readTensor(expected, "attention_mask"))
        .to(torch::kFloat32);
}

double maxDiffOnTokens(const torch::Tensor &a, const torch::Tensor &b, const torch::Tensor &mask) {
    const auto valid = mask.to(torch::kBool).unsqueeze(-1).expand_as(a);
    return (a - b).abs().masked_select(valid).max().item<double>();
}

std::unique_ptr<CausalLM> baseWithAdapter(const std::string &adapterDir, const ModelLoadOptions &options = {}) {
    auto model = CausalLM::load(data(kBase), options);
    loadAdapter(*model, adapterDir);
    return model;
}

// --- an independent GGUF reader (GGUF v3 as ggml's docs/gguf.md specifies it) -------------------
struct GgufTensor {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type = 0;
    uint64_t offset = 0;
};
struct GgufFile {
    uint32_t version = 0;
    std::map<std::string, std::pair<uint32_t, std::string>> strings; // key -> (type, raw bytes)
    std::vector<GgufTensor> tensors;
    uint64_t dataStart = 0;
    std::string bytes;
};

GgufFile parseGguf(const std::string &path) {
    GgufFile f;
    std::ifstream in(path, std::ios::binary);
    f.bytes.assign(std::istreambuf_iterator<char>(in), {});
    size_t at = 0;
    auto take = [&](size_t n) {
        if (at + n > f.bytes.size())
            throw std::runtime_error("GGUF truncated at " + std::to_string(at));
        std::string s = f.bytes.substr(at, n);
        at += n;
        return s;
    };
    auto u32 = [&] {
        uint32_t v;
        std::memcpy(&v, take(4).data(), 4);
        return v;
    };
    auto u64 = [&] {
        uint64_t v;
        std::memcpy(&v, take(8).data(), 8);
        return v;
    };
    auto str = [&] { return take(u64()); };
    if (take(4) != "GGUF")
        throw std::runtime_error("bad magic");
    f.version = u32();
    const uint64_t tensorCount = u64(), kvCount = u64();
    for (uint64_t i = 0; i < kvCount; ++i) {
        const std::string key = str();
        const uint32_t type = u32();
        std::string value;
        if (type == 8)
            value = str();
        else if (type == 4 || type == 6)
            value = take(4);
        else
            throw std::runtime_error("unexpected KV type " + std::to_string(type) + " for " + key);
        f.strings[key] = {type, value};
    }
    for (uint64_t i = 0; i < tensorCount; ++i) {
        GgufTensor t;
        t.name = str();
        const uint32_t dims = u32();
        for (uint32_t d = 0; d < dims; ++d)
            t.ne.push_back(u64());
        t.type = u32();
        t.offset = u64();
        f.tensors.push_back(t);
    }
    f.dataStart = (at + 31) / 32 * 32;
    return f;
}

float kvFloat(const GgufFile &f, const std::string &key) {
    float v;
    std::memcpy(&v, f.strings.at(key).second.data(), 4);
    return v;
}

torch::Tensor ggufTensorData(const GgufFile &f, const GgufTensor &t) {
    const auto type = t.type == 0 ? torch::kFloat32 : torch::kFloat16;
    const int64_t rows = int64_t(t.ne[1]), cols = int64_t(t.ne[0]);
    const size_t bytes = size_t(rows * cols) * (t.type == 0 ? 4 : 2);
    if (f.dataStart + t.offset + bytes > f.bytes.size())
        throw std::runtime_error(t.name + " data past the end of the file");
    return torch::from_blob(const_cast<char *>(f.bytes.data()) + f.dataStart + t.offset, {rows, cols}, type)
        .to(torch::kFloat32)
        .clone();
}

// convert_hf_to_gguf.py's q/k permutation, written as index arithmetic: within each head of
// `headDim` rows, new row 2i + j comes from old row j * headDim / 2 + i.
torch::Tensor permutedRows(const torch::Tensor &rows, int64_t heads) {
    const int64_t headDim = rows.size(0) / heads;
    auto out = torch::empty_like(rows);
    for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < headDim / 2; ++i)
            for (int64_t j = 0; j < 2; ++j)
                out[h * headDim + 2 * i + j] = rows[h * headDim + j * headDim / 2 + i];
    return out;
}

// llama.cpp's name of a block's projection (gguf-py's constants.py TENSOR_NAMES and tensor_mapping.py):
// Phi-3's fused qkv_proj is attn_qkv and its gate_up_proj ffn_up, both kept whole.
std::string ggufBlockTensor(int64_t layer, const std::string &module) {
    static const std::map<std::string, std::string> names = {
        {"q_proj", "attn_q"},      {"k_proj", "attn_k"},      {"v_proj", "attn_v"},
        {"o_proj", "attn_output"}, {"qkv_proj", "attn_qkv"},  {"gate_proj", "ffn_gate"},
        {"up_proj", "ffn_up"},     {"down_proj", "ffn_down"}, {"gate_up_proj", "ffn_up"}};
    return "blk." + std::to_string(layer) + "." + names.at(module) + ".weight";
}

// An adapter as training leaves it: every A and B random and non-zero (B starts at zero, which
// would make every export of it look right).
void randomizeLora(CausalLM &model, uint64_t seed) {
    torch::NoGradGuard noGrad;
    auto gen = at::detail::createCPUGenerator(seed);
    for (auto &p : model.loraParameters())
        p.tensor.copy_(torch::randn(p.tensor.sizes(), gen) * 0.1);
}

// --- running the CLI ----------------------------------------------------------------------------
struct CliResult {
    int exitCode = -1;
    QString out, err;
};

// limitFiles: through sh with `ulimit -f 8` (4 KiB) and SIGXFSZ ignored, so that writing a
// larger file fails part way with EFBIG, as on a full disk.
CliResult runCli(const QStringList &args, const QString &workingDir = {}, bool limitFiles = false) {
    QProcess process;
    if (!workingDir.isEmpty())
        process.setWorkingDirectory(workingDir);
    if (limitFiles)
        process.start(
            "/bin/sh",
            QStringList{"-c", "trap '' XFSZ; ulimit -f 8; exec \"$0\" \"$@\"", test::binPath("headroom-cli")} + args);
    else
        process.start(test::binPath("headroom-cli"), args);
    process.waitForFinished(120000);
    CliResult r;
    r.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    r.out = QString::fromUtf8(process.readAllStandardOutput());
    r.err = QString::fromUtf8(process.readAllStandardError());
    return r;
}

QStringList entriesIn(const QString &dir) {
    return QDir(dir).entryList(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden);
}

// Every file and folder under `dir` with its size, to see that nothing was touched.
std::map<std::string, uintmax_t> treeOf(const fs::path &dir) {
    std::map<std::string, uintmax_t> tree;
    const QDir root(QString::fromStdString(dir.string()));
    QDirIterator it(root.path(), QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QFileInfo entry(it.next());
        tree[root.relativeFilePath(entry.filePath()).toStdString()] = entry.isFile() ? uintmax_t(entry.size()) : 0;
    }
    return tree;
}

// One tensor of a safetensors file, its bytes copied, for rewriting a file with edits.
struct StoredTensor {
    std::string name;
    Dtype dtype;
    std::vector<int64_t> shape;
    std::string bytes;
};

// Rewrites `path` after `edit` changed its tensor list (names, dtypes, shapes; data as it was).
void rewriteSafetensors(const fs::path &path, const std::function<void(std::vector<StoredTensor> &)> &edit) {
    std::vector<StoredTensor> tensors;
    {
        const auto file = SafetensorsFile::open(path.string());
        for (const auto &info : file->tensors())
            tensors.push_back({info.name, info.dtype, info.shape,
                               std::string(reinterpret_cast<const char *>(file->data(info)), info.byteSize())});
    }
    edit(tensors);
    std::vector<std::pair<std::string, TensorBytes>> out;
    for (const auto &t : tensors)
        out.push_back({t.name, {t.dtype, t.shape, t.bytes.data()}});
    writeSafetensors(path.string(), out);
}

void editJsonFile(const fs::path &path, const std::function<void(nlohmann::json &)> &edit) {
    auto json = test::readJsonFile(path.string());
    edit(json);
    std::ofstream(path) << json.dump(2);
}

StoredTensor &tensorNamed(std::vector<StoredTensor> &tensors, const std::string &name) {
    for (auto &t : tensors)
        if (t.name == name)
            return t;
    throw std::runtime_error("no tensor " + name);
}

// Siblings of `path` named like an export's temporary or set-aside copy.
int leftoversBeside(const fs::path &path) {
    int count = 0;
    for (const auto &entry : fs::directory_iterator(path.parent_path())) {
        const std::string name = entry.path().filename().string(), stem = path.filename().string();
        count += name.rfind(stem + ".tmp-", 0) == 0 || name.rfind(stem + ".old-", 0) == 0;
    }
    return count;
}

// The config.json of a QLoRA run: the base loaded NF4 with double quantization, LoRA r 4.
void writeQloraRunConfig(const fs::path &run) {
    const nlohmann::json config = {
        {"lora", {{"r", 4}}},
        {"quantization",
         {{"load_in_4bit", true}, {"bnb_4bit_quant_type", "nf4"}, {"bnb_4bit_use_double_quant", true}}}};
    std::ofstream(run / "config.json") << config.dump();
}

// What everyFamilyRoundTripsThroughAllExports expects of one family fixture (its columns).
struct FamilyExpectations {
    std::string fixture, ggufArchitecture;
    bool permutesQk = false;
    std::vector<std::string> modules;
    std::string peftDecoder, checkpointDecoder;
};

// A copy of the fixture as base, an adapter on it as training would save one (random non-zero A and
// B on all-linear), and that adapter exported all three ways, everything under `root`.
void checkFamilyExports(const FamilyExpectations &want, const fs::path &root) {
    const fs::path base = root / "base";
    fs::create_directories(root);
    fs::copy(test::dataPath(QString::fromStdString("models/" + want.fixture)).toStdString(), base);
    // As transformers 4.5x saves a multimodal model: its dtype stated in the sub-configs too, and
    // its image processor's settings beside it.
    const bool multimodal = test::readJsonFile((base / "config.json").string()).contains("vision_config");
    if (multimodal) {
        editJsonFile(base / "config.json", [](nlohmann::json &c) {
            c["text_config"]["torch_dtype"] = c["vision_config"]["torch_dtype"] = c["torch_dtype"];
        });
        std::ofstream(base / "preprocessor_config.json") << R"({"image_processor_type": "Gemma3ImageProcessor"})";
    }
    const auto config = ModelConfig::fromFile((base / "config.json").string());
    const auto expected = SafetensorsFile::open((base / "expected.safetensors").string());
    const auto mask = test::readTensor(*expected, "attention_mask");

    auto trained = CausalLM::load(base.string());
    LoraOptions lora;
    lora.r = 4;
    lora.alpha = 8;
    lora.dropout = 0;
    lora.targetModules = {"all-linear"};
    trained->addLora(lora, 1);
    randomizeLora(*trained, 7);
    const auto withAdapter = logitsOf(*trained, *expected);
    AdapterCard card;
    card.baseModel = base.string();
    saveAdapter(*trained, (root / "trained").string(), card);

    // export adapter: PEFT's keys under the decoder's module path, every module of every block,
    // and loaded onto the base again, the very same logits.
    const fs::path peft = exportAdapter((root / "trained").string(), (root / "peft").string()).path;
    auto targets =
        test::readJsonFile((peft / "adapter_config.json").string())["target_modules"].get<std::vector<std::string>>();
    std::sort(targets.begin(), targets.end());
    auto wantTargets = want.modules;
    std::sort(wantTargets.begin(), wantTargets.end());
    QVERIFY(targets == wantTargets);
    const auto adapter = SafetensorsFile::open((peft / "adapter_model.safetensors").string());
    QCOMPARE(int64_t(adapter->tensors().size()), 2 * config.numLayers * int64_t(want.modules.size()));
    const std::regex peftKey("base_model\\.model\\." + std::regex_replace(want.peftDecoder, std::regex("\\."), "\\.") +
                             "layers\\.([0-9]+)\\.(self_attn|mlp)\\.([a-z_]+)\\.lora_(A|B)\\.weight");
    for (const auto &info : adapter->tensors())
        QVERIFY2(std::regex_match(info.name, peftKey), info.name.c_str());
    auto reloaded = CausalLM::load(base.string());
    loadAdapter(*reloaded, peft.string());
    QVERIFY(torch::equal(logitsOf(*reloaded, *expected), withAdapter));

    // export merged: a plain model folder with every tensor of the base (a vision tower too),
    // whose logits are the base's with the adapter.
    MergedExportOptions options;
    options.dtype = Dtype::F32;
    const fs::path merged = exportMerged(peft.string(), (root / "merged").string(), options).path;
    const double mergedDiff = maxDiffOnTokens(logitsOf(*CausalLM::load(merged.string()), *expected), withAdapter, mask);
    const double adapterEffect =
        maxDiffOnTokens(logitsOf(*CausalLM::load(base.string()), *expected), withAdapter, mask);
    qInfo().noquote() << QString("%1: merged vs base+adapter max |dlogit| %2; the adapter moves logits by %3")
                             .arg(QString::fromStdString(want.fixture))
                             .arg(mergedDiff)
                             .arg(adapterEffect);
    QVERIFY2(mergedDiff < 1e-4, qPrintable(QString("merged: max diff %1").arg(mergedDiff)));
    QVERIFY2(adapterEffect > 0.1, qPrintable(QString("the adapter moves logits by only %1").arg(adapterEffect)));
    QCOMPARE(ModelConfig::fromFile((merged / "config.json").string()).torchDtype, std::string("float32"));
    if (multimodal) {
        const auto json = test::readJsonFile((merged / "config.json").string());
        QCOMPARE(json["vision_config"]["torch_dtype"].get<std::string>(), std::string("float32"));
        QCOMPARE(readText(merged / "preprocessor_config.json"), readText(base / "preprocessor_config.json"));
    }
    const auto baseTensors = SafetensorsCheckpoint::openDir(base.string());
    const auto mergedTensors = SafetensorsCheckpoint::openDir(merged.string());
    auto baseNames = baseTensors.names(), mergedNames = mergedTensors.names();
    std::sort(baseNames.begin(), baseNames.end());
    std::sort(mergedNames.begin(), mergedNames.end());
    QVERIFY(mergedNames == baseNames);
    for (const auto &name : baseNames)
        QVERIFY2(mergedTensors.find(name).info->shape == baseTensors.find(name).info->shape, name.c_str());

    // export gguf-lora: llama.cpp's architecture and tensor names, lora_a [in, r] and lora_b
    // [r, out] in ggml's order with in and out from the base's own weight, the data as PEFT's
    // (lora_b's q and k rows permuted where the converter permutes the base's).
    GgufLoraOptions ggufOptions;
    const auto gguf = parseGguf(exportGgufLora(peft.string(), (root / "adapter.gguf").string(), ggufOptions).path);
    QCOMPARE(gguf.strings.at("general.architecture").second, want.ggufArchitecture);
    std::map<std::string, const GgufTensor *> byName;
    for (const auto &t : gguf.tensors)
        byName[t.name] = &t;
    QCOMPARE(byName.size(), adapter->tensors().size());
    for (const auto &info : adapter->tensors()) {
        std::smatch key;
        std::regex_match(info.name, key, peftKey);
        const int64_t layer = std::stoll(key[1]);
        const std::string module = key[3];
        const bool isA = key[4] == "A";
        const std::string name = ggufBlockTensor(layer, module) + (isA ? ".lora_a" : ".lora_b");
        QVERIFY2(byName.count(name), (info.name + " -> " + name).c_str());
        const std::string baseWeight = want.checkpointDecoder + "layers." + std::to_string(layer) + "." +
                                       std::string(key[2]) + "." + module + ".weight";
        QVERIFY2(baseTensors.contains(baseWeight), baseWeight.c_str());
        const auto &weight = *baseTensors.find(baseWeight).info;
        const uint64_t out = uint64_t(weight.shape[0]), in = uint64_t(weight.shape[1]), r = uint64_t(lora.r);
        QVERIFY2(byName.at(name)->ne == (isA ? std::vector<uint64_t>{in, r} : std::vector<uint64_t>{r, out}),
                 name.c_str());
        auto values = test::readTensor(*adapter, info.name);
        if (!isA && want.permutesQk && (module == "q_proj" || module == "k_proj"))
            values = permutedRows(values, module == "q_proj" ? config.numHeads : config.numKvHeads);
        QVERIFY2(torch::equal(ggufTensorData(gguf, *byName.at(name)), values), name.c_str());
    }
}

} // namespace

class ExportTest : public QObject {
    Q_OBJECT

    QTemporaryDir m_tmp;
    std::string tmp(const std::string &name) const {
        return m_tmp.filePath(QString::fromStdString(name)).toStdString();
    }

private slots:
    void initTestCase() {
        torch::manual_seed(0);
        QVERIFY(m_tmp.isValid());
    }

    void peftStyleRsloraAdapterLoadsAndMatchesReferenceLogits() {
        const auto expected = SafetensorsFile::open(data("export/peft_rslora_expected.safetensors"));
        const auto model = baseWithAdapter(data(kPeftAdapter));
        QCOMPARE(model->lora()->scaling(), 8.0 / 2.0); // alpha / sqrt(r)
        const auto reference = test::readTensor(*expected, "logits");
        const double diff =
            maxDiffOnTokens(logitsOf(*model, *expected), reference, test::readTensor(*expected, "attention_mask"));
        QVERIFY2(diff < 2e-4, qPrintable(QString("max |logit - reference| = %1").arg(diff)));
        // The adapter matters: without it the logits are far from the reference.
        const auto base = CausalLM::load(data(kBase));
        QVERIFY(maxDiffOnTokens(logitsOf(*base, *expected), reference, test::readTensor(*expected, "attention_mask")) >
                0.05);
    }

    void exportedAdapterHasPeftFieldsKeysAndShapes() {
        const auto result = exportAdapter(data(kPeftAdapter), tmp("adapter_out"));
        const fs::path out = result.path;
        const auto config = test::readJsonFile((out / "adapter_config.json").string());
        // Every field PEFT's LoraConfig saves that a LoRA load reads (peft/tuners/lora/config.py).
        for (const char *field : {"task_type", "peft_type", "base_model_name_or_path", "revision", "r", "lora_alpha",
                                  "lora_dropout", "target_modules", "bias", "fan_in_fan_out", "use_rslora", "use_dora",
                                  "modules_to_save", "init_lora_weights", "layers_to_transform", "layers_pattern",
                                  "rank_pattern", "alpha_pattern", "inference_mode"})
            QVERIFY2(config.contains(field), field);
        QCOMPARE(config["peft_type"].get<std::string>(), std::string("LORA"));
        QCOMPARE(config["task_type"].get<std::string>(), std::string("CAUSAL_LM"));
        QCOMPARE(config["inference_mode"].get<bool>(), true);
        QCOMPARE(config["use_rslora"].get<bool>(), true);
        QCOMPARE(config["r"].get<int64_t>(), kRank);
        QCOMPARE(config["lora_alpha"].get<double>(), 8.0);
        QCOMPARE(config["bias"].get<std::string>(), std::string("none"));
        auto targets = config["target_modules"].get<std::vector<std::string>>();
        std::sort(targets.begin(), targets.end());
        auto want = kTargets;
        std::sort(want.begin(), want.end());
        QVERIFY(targets == want);
        QCOMPARE(config["base_model_name_or_path"].get<std::string>(),
                 std::string("headroom-fixtures/llama_gqa_tied_bias_llama3rope"));

        const auto weights = SafetensorsFile::open((out / "adapter_model.safetensors").string());
        QCOMPARE(weights->metadata().at("format"), std::string("pt"));
        QCOMPARE(int64_t(weights->tensors().size()), kLayers * int64_t(kTargets.size()) * 2);
        for (int64_t layer = 0; layer < kLayers; ++layer)
            for (const auto &module : kTargets) {
                const auto [in, outFeatures] = projection(module);
                const auto *a = weights->find(peftKey(layer, module, "lora_A"));
                const auto *b = weights->find(peftKey(layer, module, "lora_B"));
                QVERIFY2(a && b, peftKey(layer, module, "lora_A").c_str());
                QVERIFY(a->shape == (std::vector<int64_t>{kRank, in}));
                QVERIFY(b->shape == (std::vector<int64_t>{outFeatures, kRank}));
                QCOMPARE(a->dtype, Dtype::F32);
            }
        QVERIFY(fs::exists(out / "README.md"));
        QCOMPARE(result.bytes, fs::file_size(out / "adapter_config.json") +
                                   fs::file_size(out / "adapter_model.safetensors") + fs::file_size(out / "README.md"));
    }

    void adapterRoundTripGivesIdenticalLogits() {
        const auto exported = exportAdapter(data(kPeftAdapter), tmp("roundtrip")).path;
        const auto expected = SafetensorsFile::open(data("export/peft_rslora_expected.safetensors"));
        const auto original = logitsOf(*baseWithAdapter(data(kPeftAdapter)), *expected);
        const auto again = logitsOf(*baseWithAdapter(exported), *expected);
        QVERIFY(torch::equal(original, again));
    }

    void findsTheAdapterOfRunsAndCheckpoints() {
        const fs::path run = tmp("run");
        fs::create_directories(run / "checkpoint-2");
        fs::create_directories(run / "checkpoint-10");
        fs::copy(data(kPeftAdapter), run / "checkpoint-2" / "adapter");
        fs::copy(data(kPeftAdapter), run / "checkpoint-10" / "adapter");
        fs::create_directories(run / "checkpoint-11" / "adapter"); // incomplete: no trainer_state.json
        const nlohmann::json trainConfig = {{"lora", {{"r", 4}}}, {"quantization", {{"load_in_4bit", true}}}};
        for (const char *ckpt : {"checkpoint-2", "checkpoint-10"})
            std::ofstream(run / ckpt / "trainer_state.json")
                << nlohmann::json{{"step", 1}, {"config", trainConfig}}.dump();
        std::ofstream(run / "config.json") << trainConfig.dump();

        // A stopped run (no adapter/ yet): its newest complete checkpoint.
        auto source = findAdapter(run.string());
        QCOMPARE(source.adapterDir, (run / "checkpoint-10" / "adapter").string());
        QCOMPARE(source.trainConfig, trainConfig);
        // A finished run: its adapter/.
        fs::copy(data(kPeftAdapter), run / "adapter");
        source = findAdapter(run.string());
        QCOMPARE(source.adapterDir, (run / "adapter").string());
        QCOMPARE(source.trainConfig, trainConfig);
        QCOMPARE(findAdapter((run / "checkpoint-2").string()).adapterDir, (run / "checkpoint-2" / "adapter").string());
        QCOMPARE(findAdapter((run / "checkpoint-2" / "adapter").string()).checkpointDir,
                 (run / "checkpoint-2").string());
        QVERIFY(findAdapter(data(kPeftAdapter)).trainConfig.is_null());
        QVERIFY_EXCEPTION_THROWN(findAdapter(data("models")), headroom::Error);
        // This adapter/ has no model card stating its step: a checkpoint saved after it wins.
        fs::last_write_time(run / "checkpoint-10" / "trainer_state.json",
                            fs::last_write_time(run / "adapter" / "adapter_model.safetensors") + std::chrono::hours(1));
        source = findAdapter(run.string());
        QCOMPARE(source.adapterDir, (run / "checkpoint-10" / "adapter").string());
        QVERIFY2(source.chosen.find("modification time") != std::string::npos, source.chosen.c_str());
    }

    void mergedModelLogitsEqualBaseWithAdapter() {
        // A base folder with tokenizer and generation files, to see them carried over.
        const fs::path base = tmp("base_with_tokenizer");
        fs::copy(data(kBase), base);
        std::ofstream(base / "tokenizer.json") << "{\"model\": {}}";
        std::ofstream(base / "generation_config.json")
            << "{\"bos_token_id\": 1, \"eos_token_id\": 2, \"do_sample\": false}";
        const auto expected = SafetensorsFile::open(data("export/peft_rslora_expected.safetensors"));
        const auto mask = test::readTensor(*expected, "attention_mask");
        const auto withAdapter = logitsOf(*baseWithAdapter(data(kPeftAdapter)), *expected);

        MergedExportOptions options;
        options.baseDir = base.string();
        options.dtype = Dtype::F32;
        const fs::path merged32 = exportMerged(data(kPeftAdapter), tmp("merged32"), options).path;
        const double diff32 =
            maxDiffOnTokens(logitsOf(*CausalLM::load(merged32.string()), *expected), withAdapter, mask);
        QVERIFY2(diff32 < 1e-4, qPrintable(QString("float32 merge: max diff %1").arg(diff32)));
        QCOMPARE(test::readJsonFile((merged32 / "config.json").string())["torch_dtype"].get<std::string>(),
                 std::string("float32"));
        QVERIFY(fs::exists(merged32 / "tokenizer.json"));
        QCOMPARE(test::readJsonFile((merged32 / "generation_config.json").string())["do_sample"].get<bool>(), false);
        QVERIFY(!fs::exists(merged32 / "model.safetensors.index.json"));

        options.dtype = Dtype::BF16;
        const fs::path merged16 = exportMerged(data(kPeftAdapter), tmp("merged16"), options).path;
        QCOMPARE(test::readJsonFile((merged16 / "config.json").string())["torch_dtype"].get<std::string>(),
                 std::string("bfloat16"));
        const auto weights = SafetensorsFile::open((merged16 / "model.safetensors").string());
        QCOMPARE(weights->find("model.layers.0.self_attn.q_proj.weight")->dtype, Dtype::BF16);
        // bf16 rounds each weight by up to 2^-9 relative: the logits move by a few hundredths.
        const double diff16 =
            maxDiffOnTokens(logitsOf(*CausalLM::load(merged16.string()), *expected), withAdapter, mask);
        QVERIFY2(diff16 < 0.05, qPrintable(QString("bfloat16 merge: max diff %1").arg(diff16)));
        // Exactness of the fold itself: an adapted weight equals W + scaling * B A.
        const auto baseFile = SafetensorsFile::open(data(kBase) + "/model.safetensors");
        const auto adapterFile = SafetensorsFile::open(data(kPeftAdapter) + "/adapter_model.safetensors");
        const auto merged32File = SafetensorsFile::open((merged32 / "model.safetensors").string());
        const std::string name = "model.layers.1.mlp.down_proj.weight";
        const auto want = test::readTensor(*baseFile, name) +
                          4.0 * test::readTensor(*adapterFile, peftKey(1, "down_proj", "lora_B"))
                                    .matmul(test::readTensor(*adapterFile, peftKey(1, "down_proj", "lora_A")));
        QVERIFY(torch::allclose(test::readTensor(*merged32File, name), want, 1e-6, 1e-6));
        // An untouched projection is copied as it was.
        QVERIFY(torch::equal(test::readTensor(*merged32File, "model.layers.1.self_attn.o_proj.weight"),
                             test::readTensor(*baseFile, "model.layers.1.self_attn.o_proj.weight")));
    }

    void mergedExportShardsWithAnIndex() {
        MergedExportOptions options;
        options.baseDir = data(kBase);
        options.dtype = Dtype::F32;
        options.maxShardBytes = 40000; // the fixture holds ~150 kB in float32
        const fs::path out = exportMerged(data(kPeftAdapter), tmp("sharded"), options).path;
        const auto index = test::readJsonFile((out / "model.safetensors.index.json").string());
        std::map<std::string, std::string> weightMap = index["weight_map"].get<std::map<std::string, std::string>>();
        const auto base = SafetensorsCheckpoint::openDir(data(kBase));
        QCOMPARE(weightMap.size(), base.names().size());
        std::set<std::string> shards;
        uint64_t total = 0;
        for (const auto &[name, file] : weightMap) {
            shards.insert(file);
            const auto shard = SafetensorsFile::open((out / file).string());
            QVERIFY2(shard->find(name), name.c_str());
            total += shard->find(name)->byteSize();
        }
        QVERIFY(shards.size() > 2);
        char first[64];
        std::snprintf(first, sizeof first, "model-00001-of-%05zu.safetensors", shards.size());
        QVERIFY2(shards.count(first), first);
        QCOMPARE(index["metadata"]["total_size"].get<uint64_t>(), total);
        const auto expected = SafetensorsFile::open(data("export/peft_rslora_expected.safetensors"));
        const auto withAdapter = logitsOf(*baseWithAdapter(data(kPeftAdapter)), *expected);
        QVERIFY(maxDiffOnTokens(logitsOf(*CausalLM::load(out.string()), *expected), withAdapter,
                                test::readTensor(*expected, "attention_mask")) < 1e-4);
    }

    void mergeOntoDequantizedWeightsMatchesTheQloraModel() {
        // A QLoRA run folder: its config says the base was loaded NF4 with double quantization.
        const fs::path run = tmp("qlora_run");
        fs::create_directories(run);
        fs::copy(data(kPeftAdapter), run / "adapter");
        writeQloraRunConfig(run);
        MergedExportOptions options;
        options.baseDir = data(kBase);
        options.dtype = Dtype::F32;
        options.onto = MergeOnto::Dequantized;
        const fs::path out = exportMerged(run.string(), tmp("merged_nf4"), options).path;

        ModelLoadOptions qlora;
        qlora.quantization.enabled = true;
        const auto expected = SafetensorsFile::open(data("export/peft_rslora_expected.safetensors"));
        const auto mask = test::readTensor(*expected, "attention_mask");
        const auto qloraLogits = logitsOf(*baseWithAdapter(data(kPeftAdapter), qlora), *expected);
        const auto merged = logitsOf(*CausalLM::load(out.string()), *expected);
        QVERIFY2(maxDiffOnTokens(merged, qloraLogits, mask) < 1e-4,
                 qPrintable(QString("max diff %1").arg(maxDiffOnTokens(merged, qloraLogits, mask))));
        // ... and differs from the merge onto the original weights by the 4-bit rounding.
        const auto original = logitsOf(*baseWithAdapter(data(kPeftAdapter)), *expected);
        QVERIFY(maxDiffOnTokens(merged, original, mask) > 1e-3);
        // A bare adapter folder does not say how the run quantized: refused, not guessed.
        QVERIFY_EXCEPTION_THROWN(exportMerged(data(kPeftAdapter), tmp("merged_nf4_bare"), options), headroom::Error);
    }

    void ggufLoraHasLlamaCppNamesShapesAlignmentAndData() {
        GgufLoraOptions options;
        options.baseDir = data(kBase);
        fs::create_directories(tmp("gguf"));
        const auto result = exportGgufLora(data(kPeftAdapter), tmp("gguf/adapter.gguf"), options);
        const auto gguf = parseGguf(result.path);
        QCOMPARE(gguf.version, 3u);
        QCOMPARE(result.bytes, uint64_t(gguf.bytes.size()));
        QCOMPARE(gguf.strings.at("general.architecture").second, std::string("llama"));
        QCOMPARE(gguf.strings.at("general.type").second, std::string("adapter"));
        QCOMPARE(gguf.strings.at("adapter.type").second, std::string("lora"));
        QCOMPARE(gguf.strings.at("adapter.lora.alpha").first, 6u); // float32
        // llama.cpp scales by alpha / r: that must equal rsLoRA's alpha / sqrt(r) = 8 / 2.
        QCOMPARE(double(kvFloat(gguf, "adapter.lora.alpha")) / double(kRank), 4.0);
        uint32_t alignment;
        std::memcpy(&alignment, gguf.strings.at("general.alignment").second.data(), 4);
        QCOMPARE(alignment, 32u);

        const auto adapter = SafetensorsFile::open(data(kPeftAdapter) + "/adapter_model.safetensors");
        std::map<std::string, const GgufTensor *> byName;
        for (const auto &t : gguf.tensors)
            byName[t.name] = &t;
        QCOMPARE(int64_t(byName.size()), kLayers * int64_t(kTargets.size()) * 2);
        for (int64_t layer = 0; layer < kLayers; ++layer)
            for (const auto &module : kTargets) {
                const std::string base = ggufBlockTensor(layer, module);
                QVERIFY2(byName.count(base + ".lora_a") && byName.count(base + ".lora_b"), base.c_str());
                const auto &a = *byName.at(base + ".lora_a");
                const auto &b = *byName.at(base + ".lora_b");
                const auto [in, out] = projection(module);
                // llama-adapter.cpp: a.ne = [in, r], b.ne = [r, out] (base weight ne = [in, out]).
                QVERIFY2(a.ne == (std::vector<uint64_t>{uint64_t(in), uint64_t(kRank)}), a.name.c_str());
                QVERIFY2(b.ne == (std::vector<uint64_t>{uint64_t(kRank), uint64_t(out)}), b.name.c_str());
                QCOMPARE(a.type, 0u);
                QCOMPARE(a.offset % 32, 0ull);
                QCOMPARE(b.offset % 32, 0ull);
                QVERIFY(torch::equal(ggufTensorData(gguf, a),
                                     test::readTensor(*adapter, peftKey(layer, module, "lora_A"))));
                auto wantB = test::readTensor(*adapter, peftKey(layer, module, "lora_B"));
                if (module == "q_proj")
                    wantB = permutedRows(wantB, kHeads);
                if (module == "k_proj")
                    wantB = permutedRows(wantB, kKvHeads);
                QVERIFY2(torch::equal(ggufTensorData(gguf, b), wantB), b.name.c_str());
            }
        QCOMPARE(gguf.dataStart % 32, 0ull);

        const std::string text = readText(tmp("gguf/adapter.Modelfile"));
        QVERIFY2(text.find("\nFROM headroom-fixtures/llama_gqa_tied_bias_llama3rope\n") != std::string::npos,
                 text.c_str());
        QVERIFY2(text.find("\nADAPTER ./adapter.gguf\n") != std::string::npos, text.c_str());
        QVERIFY(!fs::exists(tmp("gguf/Modelfile")));

        // A second adapter in the same folder gets its own Modelfile; the first one's stays.
        options.f16 = true;
        const auto half = parseGguf(exportGgufLora(data(kPeftAdapter), tmp("gguf/adapter-f16.gguf"), options).path);
        QVERIFY(readText(tmp("gguf/adapter-f16.Modelfile")).find("\nADAPTER ./adapter-f16.gguf\n") !=
                std::string::npos);
        QCOMPARE(readText(tmp("gguf/adapter.Modelfile")), text);
        const auto &a0 = *std::find_if(half.tensors.begin(), half.tensors.end(),
                                       [](const GgufTensor &t) { return t.name == "blk.0.attn_v.weight.lora_a"; });
        QCOMPARE(a0.type, 1u);
        QVERIFY(torch::equal(
            ggufTensorData(half, a0),
            test::readTensor(*adapter, peftKey(0, "v_proj", "lora_A")).to(torch::kHalf).to(torch::kFloat32)));
    }

    // Every family fixture (tests/data/models/README.md) through all three exports, with a random
    // non-zero adapter on all its linear modules. Per row: the GGUF architecture llama.cpp's
    // convert_hf_to_gguf.py gives the base, whether that converter permutes q_proj/k_proj rows
    // (LlamaModel and its subclass SmolLM3Model do; Qwen, Gemma and Phi-3 do not), the block's
    // linear modules as PEFT names them, and where the decoder lives in transformers' module tree
    // (PEFT's keys) and in the checkpoint (Gemma3ForConditionalGeneration: model.language_model. and
    // language_model.model.).
    void everyFamilyRoundTripsThroughAllExports_data() {
        QTest::addColumn<QString>("fixture");
        QTest::addColumn<QString>("ggufArchitecture");
        QTest::addColumn<bool>("permutesQk");
        QTest::addColumn<QStringList>("modules");
        QTest::addColumn<QString>("peftDecoder");
        QTest::addColumn<QString>("checkpointDecoder");
        const QStringList separate = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
        const QStringList fused = {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"};
        auto row = [&](const char *fixture, const char *arch, bool permutes, const QStringList &modules,
                       const char *peftDecoder = "model.", const char *checkpointDecoder = "model.") {
            QTest::newRow(fixture) << QString(fixture) << QString(arch) << permutes << modules << QString(peftDecoder)
                                   << QString(checkpointDecoder);
        };
        row("llama_mha_untied", "llama", true, separate);
        row("mistral_headdim_linear", "llama", true, separate);
        row("qwen2_bias_gqa", "qwen2", false, separate);
        row("qwen3_qknorm_window", "qwen3", false, separate);
        row("gemma3_text_softcap_layer_types", "gemma3", false, separate);
        row("gemma3_conditional_bf16", "gemma3", false, separate, "model.language_model.", "language_model.model.");
        row("gemma2_softcap_alternating", "gemma2", false, separate);
        row("smollm3_no_rope_layers", "smollm3", true, separate);
        row("phi3_fused_longrope", "phi3", false, fused);
    }

    void everyFamilyRoundTripsThroughAllExports() {
        QFETCH(QString, fixture);
        QFETCH(QString, ggufArchitecture);
        QFETCH(bool, permutesQk);
        QFETCH(QStringList, modules);
        QFETCH(QString, peftDecoder);
        QFETCH(QString, checkpointDecoder);
        FamilyExpectations want{fixture.toStdString(),     ggufArchitecture.toStdString(), permutesQk, {},
                                peftDecoder.toStdString(), checkpointDecoder.toStdString()};
        for (const auto &module : modules)
            want.modules.push_back(module.toStdString());
        try {
            checkFamilyExports(want, tmp("family_" + want.fixture));
        } catch (const std::exception &e) { // an export that refuses the family: the row fails saying why
            QFAIL(e.what());
        }
    }

    void failedExportsSayWhyAndLeaveNothingWhole_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("exitCode");
        QTest::addColumn<QString>("mentions");
        QTest::addColumn<bool>("limitFiles");
        const QString adapter = test::dataPath(kPeftAdapter), base = test::dataPath(kBase);
        const QString out = m_tmp.filePath("fail/out");
        QTest::newRow("merged: base model missing")
            << QStringList{"export", "merged", adapter, out} << 2 << "base model" << false;
        QTest::newRow("gguf: base model missing")
            << QStringList{"export", "gguf-lora", adapter, out + ".gguf"} << 2 << "base model" << false;
        QTest::newRow("merged: adapter for another base")
            << QStringList{"export", "merged", adapter, out, "--base", test::dataPath("models/llama_mha_untied")} << 2
            << "shape" << false;
        QTest::newRow("merged: corrupt adapter")
            << QStringList{"export", "merged", m_tmp.filePath("fail/corrupt"), out, "--base", base} << 2
            << "adapter_model.safetensors" << false;
        QTest::newRow("adapter: not an adapter")
            << QStringList{"export", "adapter", base, out} << 2 << "not an adapter folder" << false;
        QTest::newRow("merged: unwritable path")
            << QStringList{"export", "merged", adapter, m_tmp.filePath("fail/a_file/out"), "--base", base} << 1
            << "a_file/out" << false;
        QTest::newRow("gguf: folder missing")
            << QStringList{"export", "gguf-lora", adapter, m_tmp.filePath("fail/nowhere/x.gguf"), "--base", base} << 1
            << "nowhere" << false;
        QTest::newRow("merged: bad dtype")
            << QStringList{"export", "merged", adapter, out, "--base", base, "--dtype", "int8"} << 2 << "--dtype"
            << false;
        // Writes that fail once the staged output has begun (EFBIG past a 4 KiB file-size limit).
        QTest::newRow("merged: write fails part way")
            << QStringList{"export", "merged", adapter, out, "--base", base, "--dtype", "float32"} << 1
            << "File too large" << true;
        QTest::newRow("gguf: write fails part way")
            << QStringList{"export", "gguf-lora", adapter, out + ".gguf", "--base", base} << 1 << "File too large"
            << true;
        QTest::newRow("adapter: write fails part way")
            << QStringList{"export", "adapter", adapter, out} << 1 << "File too large" << true;
    }

    void failedExportsSayWhyAndLeaveNothingWhole() {
        QFETCH(QStringList, args);
        QFETCH(int, exitCode);
        QFETCH(QString, mentions);
        QFETCH(bool, limitFiles);
        const QString dir = m_tmp.filePath("fail");
        QDir().mkpath(dir);
        headroom::detail::removeTree(m_tmp.filePath("fail/corrupt").toStdString());
        fs::copy(data(kPeftAdapter), m_tmp.filePath("fail/corrupt").toStdString());
        fs::resize_file(m_tmp.filePath("fail/corrupt/adapter_model.safetensors").toStdString(), 5000);
        std::ofstream(m_tmp.filePath("fail/a_file").toStdString()) << "not a folder";
        const QStringList before = entriesIn(dir);

        const CliResult run = runCli(args, {}, limitFiles);
        const QStringList errLines = run.err.trimmed().split('\n');
        QVERIFY2(run.exitCode == exitCode, qPrintable(QString("exit %1\n%2").arg(run.exitCode).arg(run.err)));
        QCOMPARE(errLines.size(), 1);
        QVERIFY2(errLines[0].startsWith("error: ") && errLines[0].contains(mentions), qPrintable(errLines[0]));
        QCOMPARE(entriesIn(dir), before); // no output, no temporary left behind
    }

    // What `export merged` cannot merge, each refused by the API the CLI calls (invalidInput, exit
    // code 2) with a message naming the input at fault, and with nothing written: no output
    // folder, no temporary beside it, the inputs untouched. Rows already covered elsewhere are not
    // repeated: a base model that is not there and an adapter shaped for another base's config.json
    // (failedExportsSayWhyAndLeaveNothingWhole), an adapter holding a weight with and without
    // ".default" (adapterHoldingANameWithAndWithoutDefaultIsRefusedNamingTheInput), a bad --dtype
    // (the CLI's --dtype parse) and an output folder that is an input or not an earlier export
    // (destinationsThatAreInputsOrNotEarlierExportsAreRefused).
    // Each row works on its own copies: ROOT/run/adapter (the fixture adapter), ROOT/run/config.json
    // (a QLoRA run's training config: NF4, double quantization), ROOT/base (the fixture base).
    void mergedExportRefusesWhatItCannotMerge_data() {
        QTest::addColumn<QString>("damage");
        QTest::addColumn<QString>("source"); // "run", or "bare": an adapter folder outside a run
        QTest::addColumn<bool>("giveBase"); // --base ROOT/base
        QTest::addColumn<bool>("dequantized"); // --onto dequantized
        QTest::addColumn<QStringList>("mentions"); // {adapter} {bare} {base}: the row's folders
        const QString adapterConfig = "{adapter}/adapter_config.json",
                      adapterWeights = "{adapter}/adapter_model.safetensors";
        QTest::newRow("target module the model lacks")
            << "target lm_head"
            << "run" << true << false << QStringList{adapterConfig, "target_modules", "'lm_head'"};
        QTest::newRow("adapter without a targeted lora_B")
            << "drop lora_B"
            << "run" << true << false
            << QStringList{adapterWeights, "base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight", "missing"};
        QTest::newRow("adapter tensor of an untargeted projection")
            << "extra o_proj"
            << "run" << true << false
            << QStringList{adapterWeights, "base_model.model.model.layers.0.self_attn.o_proj.lora_A.weight",
                           "not the lora_A/lora_B of a targeted projection"};
        QTest::newRow("adapter weights not floating point")
            << "int lora_A"
            << "run" << true << false
            << QStringList{adapterWeights, "base_model.model.model.layers.0.mlp.down_proj.lora_A.weight", "I32", "F32"};
        QTest::newRow("DoRA adapter") << "dora"
                                      << "run" << true << false << QStringList{adapterConfig, "use_dora"};
        QTest::newRow("no base named") << "no base name"
                                       << "run" << false << false
                                       << QStringList{adapterConfig, "base_model_name_or_path", "--base"};
        QTest::newRow("base tensor shaped unlike its config.json")
            << "reshape base q_proj"
            << "run" << true << false
            << QStringList{"{base}/model.safetensors", "model.layers.0.self_attn.q_proj.weight", "[32, 128]",
                           "[64, 64]"};
        QTest::newRow("base without an adapted tensor")
            << "drop base down_proj"
            << "run" << true << false << QStringList{"{base}", "model.layers.1.mlp.down_proj.weight", "not found"};
        QTest::newRow("base saved 4-bit")
            << "quantized base"
            << "run" << true << false << QStringList{"{base}/config.json", "4-bit", "--base"};
        QTest::newRow("dequantized: bare adapter folder")
            << "bare"
            << "bare" << true << true << QStringList{"{bare}", "quantization settings", "run or checkpoint folder"};
        QTest::newRow("dequantized: run not trained in 4 bits")
            << "run not 4-bit"
            << "run" << true << true << QStringList{"{adapter}", "load_in_4bit", "--onto original"};
    }

    void mergedExportRefusesWhatItCannotMerge() {
        QFETCH(QString, damage);
        QFETCH(QString, source);
        QFETCH(bool, giveBase);
        QFETCH(bool, dequantized);
        QFETCH(QStringList, mentions);
        QTemporaryDir rowDir;
        const fs::path root = rowDir.path().toStdString(), run = root / "run", adapter = run / "adapter",
                       bare = root / "bare", base = root / "base", out = root / "merged";
        fs::create_directories(run);
        fs::copy(data(kPeftAdapter), adapter);
        fs::copy(data(kBase), base);
        writeQloraRunConfig(run);
        const std::string adapterPrefix = "base_model.model.model.layers.";
        if (damage == "target lm_head")
            editJsonFile(adapter / "adapter_config.json", [](nlohmann::json &c) {
                c["target_modules"] = {"q_proj", "lm_head"};
            });
        else if (damage == "drop lora_B")
            rewriteSafetensors(adapter / "adapter_model.safetensors", [&](std::vector<StoredTensor> &t) {
                t.erase(std::find_if(t.begin(), t.end(), [&](const StoredTensor &x) {
                    return x.name == adapterPrefix + "1.self_attn.k_proj.lora_B.weight";
                }));
            });
        else if (damage == "extra o_proj")
            rewriteSafetensors(adapter / "adapter_model.safetensors", [&](std::vector<StoredTensor> &t) {
                StoredTensor extra = tensorNamed(t, adapterPrefix + "0.self_attn.q_proj.lora_A.weight");
                extra.name = adapterPrefix + "0.self_attn.o_proj.lora_A.weight";
                t.push_back(extra);
            });
        else if (damage == "int lora_A")
            rewriteSafetensors(adapter / "adapter_model.safetensors", [&](std::vector<StoredTensor> &t) {
                tensorNamed(t, adapterPrefix + "0.mlp.down_proj.lora_A.weight").dtype = Dtype::I32; // same bytes
            });
        else if (damage == "dora")
            editJsonFile(adapter / "adapter_config.json", [](nlohmann::json &c) { c["use_dora"] = true; });
        else if (damage == "no base name")
            editJsonFile(adapter / "adapter_config.json", [](nlohmann::json &c) { c["base_model_name_or_path"] = ""; });
        else if (damage == "reshape base q_proj")
            rewriteSafetensors(base / "model.safetensors", [](std::vector<StoredTensor> &t) {
                tensorNamed(t, "model.layers.0.self_attn.q_proj.weight").shape = {32, 128}; // same bytes
            });
        else if (damage == "drop base down_proj")
            rewriteSafetensors(base / "model.safetensors", [](std::vector<StoredTensor> &t) {
                tensorNamed(t, "model.layers.1.mlp.down_proj.weight").name = "model.layers.1.mlp.down_proj.weight_kept";
            });
        else if (damage == "quantized base")
            editJsonFile(base / "config.json", [](nlohmann::json &c) {
                c["quantization_config"] = {
                    {"load_in_4bit", true}, {"bnb_4bit_quant_type", "nf4"}, {"quant_method", "bitsandbytes"}};
            });
        else if (damage == "bare")
            fs::copy(data(kPeftAdapter), bare);
        else if (damage == "run not 4-bit")
            std::ofstream(run / "config.json")
                << nlohmann::json{{"lora", {{"r", 4}}}, {"quantization", {{"load_in_4bit", false}}}}.dump();
        else
            QFAIL(qPrintable("unknown damage " + damage));

        const auto before = treeOf(root);
        MergedExportOptions options;
        options.baseDir = giveBase ? base.string() : std::string();
        options.dtype = Dtype::F32;
        options.onto = dequantized ? MergeOnto::Dequantized : MergeOnto::Original;
        std::string message;
        int exitCode = 0;
        try {
            exportMerged((source == "bare" ? bare : run).string(), out.string(), options);
        } catch (const headroom::Error &e) {
            message = e.what();
            exitCode = e.exitCode();
        } catch (const std::exception &e) { // e.g. LibTorch's own error from a merge it should have refused
            message = std::string("not a headroom::Error: ") + e.what();
            exitCode = -1;
        }
        QVERIFY2(exitCode == 2, qPrintable(QString("exit code %1, message: %2").arg(exitCode).arg(message.c_str())));
        for (QString needle : mentions) {
            needle.replace("{adapter}", QString::fromStdString(adapter.string()))
                .replace("{bare}", QString::fromStdString(bare.string()))
                .replace("{base}", QString::fromStdString(base.string()));
            QVERIFY2(QString::fromStdString(message).contains(needle),
                     qPrintable("message lacks '" + needle + "': " + QString::fromStdString(message)));
        }
        QVERIFY2(!fs::exists(out), out.c_str());
        QCOMPARE(leftoversBeside(out), 0);
        QVERIFY(treeOf(root) == before); // inputs untouched, nothing added
    }

    // A folder with a finished run (run/adapter, run/config.json), a base model, an unrelated
    // folder and file; the refused exports below run with it as the working folder.
    fs::path guardFolder() const {
        const fs::path guard = tmp("guard");
        if (fs::exists(guard))
            return guard;
        fs::create_directories(guard / "run");
        fs::copy(data(kPeftAdapter), guard / "run" / "adapter");
        std::ofstream(guard / "run" / "config.json") << nlohmann::json{{"lora", {{"r", 4}}}}.dump();
        fs::copy(data(kBase), guard / "base");
        fs::create_directories(guard / "notes");
        std::ofstream(guard / "notes" / "keep.txt") << "mine";
        std::ofstream(guard / "notes.txt") << "mine too";
        return guard;
    }

    void destinationsThatAreInputsOrNotEarlierExportsAreRefused_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("mentions");
        const QString guard = QString::fromStdString(guardFolder().string()) + "/";
        // Exports of the run in guardFolder() to `destination` (relative to it).
        auto row = [](const char *name, const QString &kind, const QString &destination, const QString &mentions) {
            QStringList args{"export", kind, "run", destination};
            if (kind != "adapter")
                args << "--base"
                     << "base";
            QTest::newRow(name) << args << mentions;
        };
        row("adapter into its run folder", "adapter", "run", guard + "run: is a folder this export reads");
        row("adapter into the run's adapter/", "adapter", "run/adapter/",
            guard + "run/adapter: is a folder this export reads");
        row("adapter into a new folder inside the run", "adapter", "run/out", guard + "run/out: lies inside");
        row("merged into the base folder", "merged", "base", guard + "base: is a folder this export reads");
        row("merged into a folder holding the run", "merged", "./", guard.chopped(1) + ": holds");
        row("merged into an unrelated folder", "merged", "notes",
            guard + "notes: is a folder that is not an earlier merged export");
        row("adapter into an unrelated folder", "adapter", "notes",
            guard + "notes: is a folder that is not an earlier adapter export");
        row("merged onto a file", "merged", "notes.txt", guard + "notes.txt: exists and is not a folder");
        row("gguf into the run folder", "gguf-lora", "run/adapter.gguf", guard + "run/adapter.gguf: lies inside");
        row("gguf onto an existing folder", "gguf-lora", "notes", guard + "notes: is a folder");
        row("gguf to out/", "gguf-lora", "out/", "out/: names a folder");
        row("gguf to ./", "gguf-lora", "./", "./: names a folder");
        row("gguf onto a file that is not GGUF", "gguf-lora", "notes.txt",
            guard + "notes.txt: exists and is not a GGUF file");
    }

    void destinationsThatAreInputsOrNotEarlierExportsAreRefused() {
        QFETCH(QStringList, args);
        QFETCH(QString, mentions);
        const fs::path guard = guardFolder();
        const auto before = treeOf(guard);
        const CliResult run = runCli(args, QString::fromStdString(guard.string()));
        const QStringList errLines = run.err.trimmed().split('\n');
        QVERIFY2(run.exitCode == 2, qPrintable(QString("exit %1\n%2").arg(run.exitCode).arg(run.err)));
        QCOMPARE(errLines.size(), 1);
        QVERIFY2(errLines[0].startsWith("error: ") && errLines[0].contains(mentions), qPrintable(errLines[0]));
        QVERIFY(treeOf(guard) == before); // the run, the base and the other files all still there, nothing added
        QVERIFY(before.count("run/adapter/adapter_model.safetensors") && before.count("base/model.safetensors"));
    }

    void exportReplacesAnEarlierExportOfTheSameKind() {
        const fs::path adapterOut = tmp("again/adapter");
        exportAdapter(data(kPeftAdapter), adapterOut.string());
        std::ofstream(adapterOut / "stale.txt") << "from the first export";
        exportAdapter(data(kPeftAdapter), adapterOut.string());
        QVERIFY(fs::exists(adapterOut / "adapter_config.json"));
        QVERIFY(!fs::exists(adapterOut / "stale.txt"));
        QCOMPARE(leftoversBeside(adapterOut), 0);

        MergedExportOptions merged;
        merged.baseDir = data(kBase);
        const fs::path mergedOut = tmp("again/merged");
        fs::create_directories(mergedOut); // an empty folder is fine too
        exportMerged(data(kPeftAdapter), mergedOut.string(), merged);
        std::ofstream(mergedOut / "stale.txt") << "from the first export";
        exportMerged(data(kPeftAdapter), mergedOut.string(), merged);
        QVERIFY(fs::exists(mergedOut / "model.safetensors") && !fs::exists(mergedOut / "stale.txt"));
        QCOMPARE(leftoversBeside(mergedOut), 0);

        GgufLoraOptions gguf;
        gguf.baseDir = data(kBase);
        const fs::path ggufOut = tmp("again/adapter.gguf");
        exportGgufLora(data(kPeftAdapter), ggufOut.string(), gguf);
        const auto size = fs::file_size(ggufOut);
        gguf.f16 = true;
        exportGgufLora(data(kPeftAdapter), ggufOut.string(), gguf);
        QVERIFY(fs::file_size(ggufOut) < size);
        QCOMPARE(leftoversBeside(ggufOut), 0);
    }

    void runFolderExportsTheNewerOfAdapterAndCheckpoint() {
        // A run that finished (adapter/, card written by saveAdapter) and has checkpoint-10.
        const fs::path run = tmp("resumed_run");
        fs::create_directories(run / "checkpoint-10");
        fs::copy(data(kPeftAdapter), run / "checkpoint-10" / "adapter");
        std::ofstream(run / "checkpoint-10" / "trainer_state.json") << nlohmann::json{{"step", 10}}.dump();
        const auto model = baseWithAdapter(data(kPeftAdapter));
        AdapterCard card;
        card.baseModel = "base";
        for (const int64_t adapterSteps : {12, 10, 6}) {
            card.steps = adapterSteps;
            saveAdapter(*model, (run / "adapter").string(), card);
            const auto source = findAdapter(run.string());
            // The checkpoint only when it is strictly newer: on a tie the run's final adapter/.
            const fs::path want = adapterSteps < 10 ? run / "checkpoint-10" / "adapter" : run / "adapter";
            QCOMPARE(source.adapterDir, want.string());
            QVERIFY2(source.chosen.find("step " + std::to_string(adapterSteps)) != std::string::npos,
                     source.chosen.c_str());
        }
        // The stale adapter/ (step 6) is passed over, and the CLI says so.
        const CliResult cli =
            runCli({"export", "adapter", QString::fromStdString(run.string()), m_tmp.filePath("resumed_out")});
        QVERIFY2(cli.exitCode == 0, qPrintable(cli.err));
        QVERIFY2(cli.out.contains("from " + QString::fromStdString((run / "checkpoint-10" / "adapter").string()) +
                                  ": checkpoint-10's adapter, newer than the run's adapter/ (step 6"),
                 qPrintable(cli.out));
    }

    void adapterHoldingANameWithAndWithoutDefaultIsRefusedNamingTheInput() {
        const fs::path dir = tmp("duplicate_adapter");
        fs::create_directories(dir);
        fs::copy_file(data(kPeftAdapter) + "/adapter_config.json", dir / "adapter_config.json");
        const auto original = SafetensorsFile::open(data(kPeftAdapter) + "/adapter_model.safetensors");
        const std::string first = peftKey(0, "q_proj", "lora_A");
        std::string duplicate = first;
        duplicate.insert(duplicate.rfind(".weight"), ".default");
        {
            SafetensorsWriter writer((dir / "adapter_model.safetensors").string(), {{"format", "pt"}});
            for (const auto &info : original->tensors())
                writer.declare(info.name, info.dtype, info.shape);
            writer.declare(duplicate, original->find(first)->dtype, original->find(first)->shape);
            for (const auto &info : original->tensors())
                writer.writeTensor(info.name, original->data(info), info.byteSize());
            writer.writeTensor(duplicate, original->data(*original->find(first)), original->find(first)->byteSize());
            writer.finish();
        }
        const std::string input = (dir / "adapter_model.safetensors").string();
        GgufLoraOptions gguf;
        gguf.baseDir = data(kBase);
        MergedExportOptions merged;
        merged.baseDir = data(kBase);
        for (const auto &exportIt : std::vector<std::function<void()>>{
                 [&] { exportAdapter(dir.string(), tmp("duplicate_out")); },
                 [&] { exportGgufLora(dir.string(), tmp("duplicate_out.gguf"), gguf); },
                 [&] { exportMerged(dir.string(), tmp("duplicate_out_merged"), merged); }}) {
            try {
                exportIt();
                QFAIL("exported an adapter holding a weight twice");
            } catch (const headroom::Error &e) {
                const std::string message = e.what();
                QCOMPARE(e.exitCode(), 2);
                QVERIFY2(message.rfind(input + ": holds both", 0) == 0, e.what());
            }
        }
        QVERIFY(!fs::exists(tmp("duplicate_out")) && !fs::exists(tmp("duplicate_out.gguf")) &&
                !fs::exists(tmp("duplicate_out_merged")));
    }

    void cliExportPrintsPathAndBytes() {
        const QString out = m_tmp.filePath("cli/merged");
        const CliResult run = runCli({"--json", "export", "merged", test::dataPath(kPeftAdapter), out, "--base",
                                      test::dataPath(kBase), "--dtype", "float16"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        const auto json = nlohmann::json::parse(run.out.toStdString());
        QCOMPARE(json["path"].get<std::string>(), fs::absolute(out.toStdString()).lexically_normal().string());
        uint64_t bytes = 0;
        for (const auto &entry : fs::directory_iterator(out.toStdString()))
            bytes += entry.file_size();
        QCOMPARE(json["bytes"].get<uint64_t>(), bytes);
        QCOMPARE(test::readJsonFile(out.toStdString() + "/config.json")["torch_dtype"].get<std::string>(),
                 std::string("float16"));
    }

    // export merged streams (export.h, docs/export.md's 656 MiB for a 1B model): it holds about one
    // tensor at a time, never the model. Measured with the counting allocator on a generated model
    // of 12 layers (bfloat16 on disk) and an r-8 adapter with random A and B on all seven
    // projections, merged to float32, so that every tensor of the model is converted and allocated
    // once. Per tensor the merge holds at most: its float32 copy, the B A product if addmm forms it
    // apart, and the cast to the output dtype (on --onto dequantized the 4-bit blocks and their
    // dequantized float32 copy instead): 3 times the largest tensor in float32. The adapter's A and
    // B (read as float32 once for the whole export) come on top, and 1 MiB for the small tensors
    // and the allocator's rounding. The model's float32 bytes must be several times that bound, so
    // an export holding the model (or even a quarter of it) fails. Observed: 1.00 MiB held on
    // --onto original (the embedding's float32 copy: A and B alias the mapped adapter file) and
    // 1.60 MiB on --onto dequantized, against a bound of 5.78 MiB and a model of 38.0 MiB; keeping
    // every merged tensor alive instead holds all 38.0 MiB. Last: it installs the counting
    // allocator for the rest of the process.
    void mergedExportHoldsOneTensorNotTheModel() {
        const fs::path root = tmp("streaming"), base = root / "base", run = root / "run", adapter = run / "adapter";
        const nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                                       {"model_type", "llama"},
                                       {"hidden_size", 256},
                                       {"intermediate_size", 768},
                                       {"num_hidden_layers", 12},
                                       {"num_attention_heads", 8},
                                       {"num_key_value_heads", 4},
                                       {"head_dim", 32},
                                       {"max_position_embeddings", 128},
                                       {"rms_norm_eps", 1e-5},
                                       {"rope_theta", 10000.0},
                                       {"tie_word_embeddings", false},
                                       {"vocab_size", 1024},
                                       {"bos_token_id", 1},
                                       {"eos_token_id", 2},
                                       {"initializer_range", 0.02}};
        RandomModelOptions random;
        random.seed = 11;
        random.dtype = "bfloat16";
        writeRandomModel(config, base.string(), random);

        LoraOptions lora;
        lora.r = 8;
        lora.alpha = 16;
        lora.targetModules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
        fs::create_directories(adapter);
        std::ofstream(adapter / "adapter_config.json") << peftAdapterConfig(lora, base.string()).dump(2);
        std::ofstream(run / "config.json") << nlohmann::json{{"lora", {{"r", 8}}},
                                                             {"quantization",
                                                              {{"load_in_4bit", true},
                                                               {"bnb_4bit_quant_type", "nf4"},
                                                               {"bnb_4bit_use_double_quant", true}}}}
                                                  .dump();
        const auto modelConfig = ModelConfig::fromJson(config, "streaming model");
        std::vector<torch::Tensor> keep;
        std::vector<std::pair<std::string, TensorBytes>> tensors;
        int64_t adapterBytes = 0;
        auto gen = at::detail::createCPUGenerator(3);
        for (int64_t layer = 0; layer < modelConfig.numLayers; ++layer)
            for (const auto &module : lora.targetModules) {
                const auto [in, outFeatures] = moduleShape(modelConfig, module);
                const std::string prefix = "base_model.model." + peftModulePath(modelConfig, layer, module);
                keep.push_back(torch::randn({lora.r, in}, gen) * 0.05);
                tensors.push_back({prefix + ".lora_A.weight", {Dtype::F32, {lora.r, in}, keep.back().data_ptr()}});
                keep.push_back(torch::randn({outFeatures, lora.r}, gen) * 0.05);
                tensors.push_back(
                    {prefix + ".lora_B.weight", {Dtype::F32, {outFeatures, lora.r}, keep.back().data_ptr()}});
                adapterBytes += 4 * lora.r * (in + outFeatures);
            }
        writeSafetensors((adapter / "adapter_model.safetensors").string(), tensors, {{"format", "pt"}});
        keep.clear();

        int64_t largest = 0, total = 0;
        const auto checkpoint = SafetensorsCheckpoint::openDir(base.string());
        for (const auto &name : checkpoint.names()) {
            const int64_t bytes = checkpoint.find(name).info->numel() * 4;
            largest = std::max(largest, bytes);
            total += bytes;
        }
        const int64_t bound = 3 * largest + adapterBytes + (int64_t(1) << 20);
        QVERIFY2(total > 4 * bound,
                 qPrintable(QString("model %1 bytes, bound %2: too small to tell").arg(total).arg(bound)));

        installMemoryTracking();
        const torch::Device cpu(torch::kCPU);
        for (const MergeOnto onto : {MergeOnto::Original, MergeOnto::Dequantized}) {
            const bool original = onto == MergeOnto::Original;
            MergedExportOptions options;
            options.baseDir = base.string();
            options.dtype = Dtype::F32;
            options.onto = onto;
            const int64_t before = allocatorStats(cpu).allocated;
            resetPeakMemory(cpu);
            const auto result =
                exportMerged(run.string(), (root / (original ? "merged" : "merged_nf4")).string(), options);
            const int64_t held = allocatorStats(cpu).peak - before;
            qInfo().noquote() << QString(
                                     "export merged --dtype float32 --onto %1: peak %2 bytes held; largest tensor %3, "
                                     "adapter %4, model %5 (float32), bound %6")
                                     .arg(original ? "original" : "dequantized")
                                     .arg(held)
                                     .arg(largest)
                                     .arg(adapterBytes)
                                     .arg(total)
                                     .arg(bound);
            QCOMPARE(int64_t(SafetensorsFile::open(result.path + "/model.safetensors")->tensors().size()),
                     int64_t(checkpoint.names().size()));
            QVERIFY2(held >= largest, qPrintable(QString("held %1 bytes, less than one float32 tensor (%2): is the "
                                                         "allocator counting?")
                                                     .arg(held)
                                                     .arg(largest)));
            QVERIFY2(held <= bound,
                     qPrintable(QString("--onto %1: held %2 bytes, above %3 (3 x the largest tensor %4 + "
                                        "adapter %5 + 1 MiB); the model is %6")
                                    .arg(original ? "original" : "dequantized")
                                    .arg(held)
                                    .arg(bound)
                                    .arg(largest)
                                    .arg(adapterBytes)
                                    .arg(total)));
        }
    }
};

QTEST_GUILESS_MAIN(ExportTest)
#include "export_test.moc"
