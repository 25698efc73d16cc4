// The memory estimator's arithmetic: hand-computed numbers for a tiny config, the exactly counted
// categories against the real thing (Optimizer::stateBytes() over the same shapes,
// CausalLM::baseWeightBytes() of loaded fixtures and the demo), the calibration cache, bundled
// configs and GPU presets, suggestFit(), and `headroom-cli estimate` (JSON result, exit codes).
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <fstream>
#include <map>
#include <set>
#include <unistd.h>

#include "headroom/attention.h"
#include "headroom/causal_lm.h"
#include "headroom/demo.h"
#include "headroom/error.h"
#include "headroom/gpu_presets.h"
#include "memory/estimate/lora_count.h"
#include "train/loss_chunk.h"
#include "headroom/memory_estimate.h"
#include "train/optimizer.h"
#include "headroom/runtime.h"
#include "headroom/train_config.h"
#include "test_support.h"

using namespace headroom;

namespace {

// The bytes of the part alive at the activation peak whose name starts with `prefix`; 0 if none.
int64_t peakPartBytes(const MemoryEstimate &e, const std::string &prefix) {
    for (const auto &part : e.peakParts)
        if (part.name.rfind(prefix, 0) == 0)
            return part.bytes;
    return 0;
}

// One gradient-carrying layer's saved tensors by name.
std::map<std::string, int64_t> perLayerTerms(const MemoryEstimate &e) {
    std::map<std::string, int64_t> terms;
    for (const auto &t : e.perLayer)
        terms[t.name] = t.bytes;
    return terms;
}

// hidden 8, intermediate 16, 2 layers, 2 heads of 4 over 1 kv head, vocab 32, tied embeddings.
ModelConfig tinyConfig() {
    return ModelConfig::fromJson({{"architectures", {"LlamaForCausalLM"}},
                                  {"hidden_size", 8},
                                  {"intermediate_size", 16},
                                  {"num_hidden_layers", 2},
                                  {"num_attention_heads", 2},
                                  {"num_key_value_heads", 1},
                                  {"vocab_size", 32},
                                  {"tie_word_embeddings", true}},
                                 "tiny");
}

EstimateSettings tinySettings() {
    EstimateSettings s;
    s.loraR = 2;
    s.loraDropout = 0;
    s.targetModules = {"q_proj", "v_proj"};
    s.quant = WeightQuant::NF4;
    s.doubleQuant = true;
    s.microBatch = 1;
    s.accumulation = 1;
    s.seqLength = 4;
    s.precision = Precision::FP32;
    s.gradientCheckpointing = true;
    s.optimizer = OptimizerKind::AdamWTorch;
    s.device = "cpu";
    s.libtorchVersion = 113; // mean's backward keeps its input (LibTorch 1.x)
    return s;
}

struct CliRun {
    int exitCode = -1;
    QByteArray out, err;
};

CliRun runCli(const QStringList &args) {
    QProcess process;
    process.start(test::binPath("headroom-cli"), args);
    CliRun run;
    if (!process.waitForFinished(60000) || process.exitStatus() != QProcess::NormalExit)
        return run;
    run.exitCode = process.exitCode();
    run.out = process.readAllStandardOutput();
    run.err = process.readAllStandardError();
    return run;
}

} // namespace

class MemoryEstimateTest : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;

private slots:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        initRuntime({});
    }

    void weightsOfATinyConfigByHand() {
        const auto c = tinyConfig();
        auto s = tinySettings();
        // Embedding 32x8 + final norm 8, float32: 1056. Per layer: two norms (64) and the 4-bit
        // linears: q and o 64 elements -> 32 packed + 1 block; k and v 32 -> 16 + 1 block; gate, up
        // and down 128 -> 64 + 2 blocks. Double quant: a uint8 per block + one float32 per 256
        // blocks + the float32 offset; without it a float32 per block.
        QCOMPARE(estimateWeightBytes(c, s), int64_t(1056 + 2 * (64 + 2 * (32 + 9) + 2 * (16 + 9) + 3 * (64 + 10))));
        s.doubleQuant = false;
        QCOMPARE(estimateWeightBytes(c, s), int64_t(1056 + 2 * (64 + 2 * (32 + 4) + 2 * (16 + 4) + 3 * (64 + 8))));
        s.quant = WeightQuant::None;
        QCOMPARE(estimateWeightBytes(c, s), int64_t(1056 + 2 * (64 + 4 * (64 + 32 + 32 + 64 + 3 * 128))));
        s.precision = Precision::BF16;
        QCOMPARE(estimateWeightBytes(c, s), int64_t(528 + 2 * (32 + 2 * (64 + 32 + 32 + 64 + 3 * 128))));
    }

    void parametersAdaptersAndOptimizerByHand() {
        const auto c = tinyConfig();
        auto s = tinySettings();
        const auto e = estimateMemory(c, s);
        // q: r * (8 + 8), v: r * (8 + 4), two layers.
        QCOMPARE(e.trainableParameters, int64_t(2 * (2 * 16 + 2 * 12)));
        QCOMPARE(e.trainableParameters, loraParameterCount(c, 2, s.targetModules));
        QCOMPARE(e.totalParameters, c.totalParameters() + e.trainableParameters);
        QCOMPARE(e.adapters, 4 * e.trainableParameters);
        QCOMPARE(e.gradients, 4 * e.trainableParameters);
        QCOMPARE(e.optimizer, 8 * e.trainableParameters); // AdamW: two float32 moments
        s.optimizer = OptimizerKind::AdamW8bit; // every tensor < 4096 elements: float32
        QCOMPARE(estimateMemory(c, s).optimizer, 8 * e.trainableParameters);
        s.optimizer = OptimizerKind::Sgd;
        QCOMPARE(estimateMemory(c, s).optimizer, int64_t(0));
        s.microBatch = 2;
        s.accumulation = 16;
        s.gpus = 3;
        QCOMPARE(estimateMemory(c, s).effectiveBatch, int64_t(96));
    }

    void oneLayersSavedTensorsByHand() {
        // B 1, T 4 (N 4), float32, checkpointing (the layer input is the checkpoint's: no copy),
        // LoRA r 2 on q and v without dropout; 2 heads of 4 over 1 kv head; eager attention.
        auto s = tinySettings();
        s.attention = Attention::Eager;
        const auto e = estimateMemory(tinyConfig(), s);
        std::map<std::string, int64_t> terms;
        for (const auto &t : e.perLayer)
            terms[t.name] = t.bytes;
        QCOMPARE(terms.at("input_layernorm: squared input, float32 [B,T,H] (kept by mean's backward)"),
                 int64_t(4 * 4 * 8));
        QCOMPARE(terms.at("input_layernorm: 1/rms, float32 [B,T,1]"), int64_t(4 * 4));
        QCOMPARE(terms.at("q_proj LoRA: A·x [B,T,r]"), int64_t(4 * 4 * 2));
        QCOMPARE(terms.at("softmax output, float32 [B,heads,T,T] (our attention materialises it)"),
                 int64_t(4 * 2 * 4 * 4));
        QCOMPARE(terms.at("mask of disallowed keys, bool [B,1,1,T,T] (kept by masked_fill)"), int64_t(16));
        QCOMPARE(terms.at("gate output (SiLU input) [B,T,I]"), int64_t(4 * 4 * 16));
        QVERIFY(!terms.count("input_layernorm: input in float32 [B,T,H]"));
        // norm1 144 + q/v LoRA (A·x twice, shared input) 192 + q, k^T, mask, softmax, v 400 +
        // norm2 272 + gate, SiLU, up 768.
        int64_t total = 0;
        for (const auto &t : e.perLayer)
            total += t.bytes;
        QCOMPARE(total, int64_t(1776));
    }

    void rmsNormKeepsTheSquaredInputOnlyInLibTorch1() {
        // In 2.x mean's backward keeps the element count, not the squared float32 input [N,H]: 4 x 4 x 8
        // bytes less per norm (two in a layer, one after the last layer).
        auto s = tinySettings();
        s.attention = Attention::Eager;
        const auto one = estimateMemory(tinyConfig(), s);
        s.libtorchVersion = 211;
        const auto two = estimateMemory(tinyConfig(), s);
        int64_t oneLayer = 0, twoLayer = 0;
        for (const auto &t : one.perLayer)
            oneLayer += t.bytes;
        for (const auto &t : two.perLayer) {
            twoLayer += t.bytes;
            QVERIFY2(t.name.find("squared input") == std::string::npos, t.name.c_str());
        }
        QCOMPARE(oneLayer - twoLayer, int64_t(2 * 4 * 4 * 8));
        QVERIFY(two.activations < one.activations);

        // Unset, it is the linked LibTorch's on a CPU and at least 2.5's in a plan for CUDA.
        auto keepsSquared = [](const MemoryEstimate &e) {
            for (const auto &t : e.perLayer)
                if (t.name.find("squared input") != std::string::npos)
                    return true;
            return false;
        };
        s.libtorchVersion = 0;
        QCOMPARE(keepsSquared(estimateMemory(tinyConfig(), s)), linkedLibTorchVersion() < 200);
        s.device = "cuda";
        QVERIFY(!keepsSquared(estimateMemory(tinyConfig(), s)));
    }

    void cudaCountsTorchsCublasWorkspacesAndLeavesTheContextOutOfAnAllocatorBudget() {
        // Two workspaces (forward thread, autograd's device thread): 32 MiB each on compute
        // capability 9.0, 4096 KiB x 2 + 16 KiB x 8 elsewhere (torch's CublasHandlePool.cpp).
        auto s = tinySettings();
        auto workspace = [](const MemoryEstimate &e) { return peakPartBytes(e, "cuBLAS workspaces"); };
        const auto cpu = estimateMemory(tinyConfig(), s);
        QCOMPARE(workspace(cpu), int64_t(0));
        s.device = "cuda";
        s.cudaCapability = 90;
        const auto hopper = estimateMemory(tinyConfig(), s);
        QCOMPARE(workspace(hopper), int64_t(64) << 20);
        s.cudaCapability = 75;
        const auto turing = estimateMemory(tinyConfig(), s);
        QCOMPARE(workspace(turing), int64_t(2) * (4096 * 1024 * 2 + 16 * 1024 * 8));
        QCOMPARE(hopper.activations - turing.activations, workspace(hopper) - workspace(turing));

        // A budget that caps an allocator leaves out what no allocator holds: the CUDA context
        // (500 MiB), the CPU process baseline; a card's whole memory holds it all.
        QCOMPARE(hopper.total() - hopper.budgetedBytes(true), int64_t(500) << 20);
        QCOMPARE(hopper.budgetedBytes(false), hopper.total());
        QCOMPARE(cpu.budgetedBytes(true), cpu.total() - cpu.other);
    }

    void theLossChunkIsBoundedInBytesNotTokens() {
        // 128 MiB of float32 logits: 1024 tokens of a 32k vocabulary, 261 of Llama 3's 128,256,
        // never fewer than 16 or more than 1024.
        QCOMPARE(lossChunkTokens(32000), int64_t(1024));
        QCOMPARE(lossChunkTokens(128256), int64_t(261));
        QCOMPARE(lossChunkTokens(49152), int64_t(682));
        QCOMPARE(lossChunkTokens(512), int64_t(1024));
        QCOMPARE(lossChunkTokens(int64_t(1) << 26), int64_t(16));
        // The estimate's loss chunk follows it: Llama-3.2-1B, 1 x 2048 tokens in bf16 holds 10 bytes
        // per logit of one chunk (float32 logits and softmax, the softmax's bf16 copy).
        EstimateSettings s;
        s.microBatch = 1;
        s.seqLength = 2048;
        s.device = "cpu";
        const auto e = estimateMemory(bundledModelConfig("llama-3.2-1b"), s);
        const int64_t lossPeak = peakPartBytes(e, "loss: row copies and one chunk of logits");
        const int64_t rows = 2047, hidden = 2048, vocab = 128256, chunk = 261;
        QCOMPARE(lossPeak, 2 * rows * hidden + 8 * rows + rows + 10 * chunk * vocab + 2 * chunk * hidden);
    }

    void fusedAttentionKeepsQKVInsteadOfTheAttentionMatrix() {
        // tinySettings() with sdpa: q [1,2,4,4] and contiguous k, v [1,1,4,4] in float32 (128 + 128)
        // replace eager's q and k^T copies, mask, softmax output and v copy (400).
        auto s = tinySettings();
        s.attention = Attention::Sdpa;
        const auto e = estimateMemory(tinyConfig(), s);
        std::map<std::string, int64_t> terms;
        int64_t total = 0;
        for (const auto &t : e.perLayer) {
            terms[t.name] = t.bytes;
            total += t.bytes;
        }
        QCOMPARE(terms.at("q after rotary [B,heads,T,d] (kept by fused attention)"), int64_t(4 * 2 * 4 * 4));
        QCOMPARE(terms.at("k after rotary and v, contiguous [B,kv,T,d] (kept by fused attention)"),
                 int64_t(2 * 4 * 4 * 4));
        QVERIFY(!terms.count("softmax output, float32 [B,heads,T,T] (our attention materialises it)"));
        QCOMPARE(total, int64_t(1776 - 400 + 256));
        // The [B,heads,T,T] term is what sets eager apart at length: at 8192 tokens sdpa keeps less.
        s.seqLength = 8192;
        const auto fused = estimateMemory(tinyConfig(), s);
        s.attention = Attention::Eager;
        QVERIFY(estimateMemory(tinyConfig(), s).activations > 2 * fused.activations);
        QVERIFY_THROWS_EXCEPTION(Error, parseChoice<Attention>("flash", "--attn-implementation"));
    }

    void eightBitStateEqualsTheRealOptimizer() {
        // Mixed sizes: some LoRA tensors under 4096 elements (float32 states), some above (blocks).
        const auto c = ModelConfig::fromJson({{"architectures", {"LlamaForCausalLM"}},
                                              {"hidden_size", 320},
                                              {"intermediate_size", 1000},
                                              {"num_hidden_layers", 2},
                                              {"num_attention_heads", 5},
                                              {"num_key_value_heads", 1},
                                              {"vocab_size", 100}},
                                             "mixed");
        for (const int64_t r : {4, 16}) {
            for (const std::string optim : {"adamw_8bit", "paged_adamw_8bit", "adamw_torch", "sgd"}) {
                EstimateSettings s;
                s.loraR = r;
                s.targetModules = {"all-linear"};
                s.optimizer = parseChoice<OptimizerKind>(optim, "optim");
                std::vector<NamedTensor> params;
                for (int64_t layer = 0; layer < c.numLayers; ++layer)
                    for (const auto &module : linearModules(c)) {
                        const auto [in, out] = moduleShape(c, module);
                        params.push_back({module + std::to_string(layer) + ".A", torch::zeros({r, in})});
                        params.push_back({module + std::to_string(layer) + ".B", torch::zeros({out, r})});
                    }
                const auto optimizer = Optimizer::create(s.optimizer, params, {});
                QCOMPARE(estimateOptimizerBytes(c, s), optimizer->stateBytes());
            }
        }
    }

    void weightsEqualLoadedModels_data() {
        QTest::addColumn<QString>("model");
        for (const char *name : {"llama_mha_untied", "llama_gqa_tied_bias_llama3rope", "qwen2_bias_gqa",
                                 "mistral_headdim_linear", "mistral_mqa_window_large", "llama_bf16",
                                 "qwen3_qknorm_window", "gemma2_softcap_alternating", "gemma3_text_softcap_layer_types",
                                 "gemma3_conditional_bf16", "smollm3_no_rope_layers", "phi3_fused_longrope"})
            QTest::newRow(name) << test::dataPath(QString("models/") + name);
        QTest::newRow("demo") << QString();
    }

    void weightsEqualLoadedModels() {
        QFETCH(QString, model);
        std::string dir = model.toStdString();
        if (dir.empty())
            dir = makeDemo((m_dir.path() + "/demo").toStdString()).modelDir;
        const auto config = ModelConfig::fromFile(dir + "/config.json");
        struct Variant {
            std::string quant;
            bool doubleQuant;
            int64_t blocksize;
            std::string precision;
        };
        for (const auto &v :
             {Variant{"none", true, 64, "fp32"}, Variant{"none", true, 64, "bf16"}, Variant{"nf4", true, 64, "fp32"},
              Variant{"nf4", false, 64, "bf16"}, Variant{"fp4", true, 32, "fp16"}, Variant{"nf4", true, 128, "bf16"}}) {
            ModelLoadOptions options;
            options.dtype = v.precision == "fp32"   ? torch::kFloat32
                            : v.precision == "bf16" ? torch::kBFloat16
                                                    : torch::kFloat16;
            options.quantization.enabled = v.quant != std::string("none");
            options.quantization.type = v.quant == std::string("fp4") ? Quant4Type::FP4 : Quant4Type::NF4;
            options.quantization.doubleQuant = v.doubleQuant;
            options.quantization.blocksize = v.blocksize;
            EstimateSettings s;
            s.quant = parseChoice<WeightQuant>(v.quant, "quant");
            s.doubleQuant = v.doubleQuant;
            s.quantBlocksize = v.blocksize;
            s.precision = parseChoice<Precision>(v.precision, "precision");
            const auto loaded = CausalLM::load(dir, options);
            QCOMPARE(estimateWeightBytes(config, s), loaded->baseWeightBytes());
        }
    }

    void calibrationCacheRoundTrips() {
        const auto path = (m_dir.path() + "/cache/calibration.json").toStdString();
        const auto c = tinyConfig();
        const auto key = calibrationKey(c, "cpu", Attention::Sdpa);
        QVERIFY(!calibrationRatio(path, key));
        QCOMPARE(calibrateActivations(path, key, 1100, 1000), 1.1);
        QCOMPARE(*calibrationRatio(path, key), 1.1);
        QVERIFY(!calibrationRatio(path, calibrationKey(c, "cuda", Attention::Sdpa)));
        QVERIFY(!calibrationRatio(path, calibrationKey(c, "cpu", Attention::Eager)));
        calibrateActivations(path, calibrationKey(c, "cuda", Attention::Sdpa), 900, 1000);
        QCOMPARE(*calibrationRatio(path, key), 1.1); // other entries are kept
        // Applied through the settings: activations scale, nothing else does.
        auto s = tinySettings();
        const auto plain = estimateMemory(c, s);
        s.activationScale = *calibrationRatio(path, key);
        const auto scaled = estimateMemory(c, s);
        QCOMPARE(scaled.activations, int64_t(double(plain.activations) * 1.1));
        QCOMPARE(scaled.weights, plain.weights);
        std::ofstream(path) << "{not json";
        QVERIFY(!calibrationRatio(path, key)); // a damaged cache is an empty one
        QVERIFY_THROWS_EXCEPTION(Error, calibrateActivations(path, key, 0, 1000));
    }

    void bundledConfigsAndPresets() {
        const auto names = bundledModelNames();
        QVERIFY(names.size() >= 10);
        for (const auto &name : names)
            bundledModelConfig(name);
        QCOMPARE(bundledModelConfig("llama-3.1-8b").totalParameters(), int64_t(8030261248));
        QCOMPARE(bundledModelConfig("qwen2.5-0.5b").totalParameters(), int64_t(494032768));
        QVERIFY_THROWS_EXCEPTION(Error, bundledModelConfig("llama-9b"));
        const auto *t4 = findGpuPreset("t4");
        QVERIFY(t4);
        QCOMPARE(t4->memoryBytes, int64_t(16106127360));
        QVERIFY(!t4->bf16);
        QCOMPARE(findGpuPreset("h100-80g")->memoryBytes, int64_t(85520809984));
        const auto *cpu = findGpuPreset("cpu");
        QVERIFY(cpu && cpu->isCpu());
        QCOMPARE(cpu->memoryBytes, int64_t(sysconf(_SC_PHYS_PAGES)) * int64_t(sysconf(_SC_PAGESIZE)));
        QVERIFY(!findGpuPreset("t5"));
        QCOMPARE(QString::fromStdString(gpuPresetNameList()).split(", ").size(), int(gpuPresets().size()));
    }

    void settingsComeFromATrainingConfigAndAreChecked() {
        TrainConfig config;
        config.quantization.loadIn4bit = false;
        config.training.bf16 = false;
        config.training.perDeviceTrainBatchSize = 3;
        config.dataset.maxSeqLength = 700;
        config.device = "cpu";
        const auto s = EstimateSettings::fromTrainConfig(config);
        QCOMPARE(s.quant, WeightQuant::None);
        QCOMPARE(s.precision, Precision::FP32);
        QCOMPARE(s.microBatch, int64_t(3));
        QCOMPARE(s.seqLength, int64_t(700));
        QCOMPARE(s.device, std::string("cpu"));
        QCOMPARE(s.optimizer, config.training.optim);
        try {
            parseChoice<WeightQuant>("int3", "--quant");
            QFAIL("no error for --quant int3");
        } catch (const Error &e) {
            QCOMPARE(std::string(e.what()), std::string("--quant: 'int3' is not one of none, nf4, fp4"));
        }
        auto bad = s;
        bad.targetModules = {"qproj"};
        QVERIFY_THROWS_EXCEPTION(Error, bad.validate());
    }

    void activationsGrowWithBatchSeqAndFallWithCheckpointing() {
        const auto c = bundledModelConfig("llama-3.2-1b");
        EstimateSettings s;
        s.microBatch = 2;
        s.seqLength = 1024;
        s.gradientCheckpointing = false;
        const auto base = estimateMemory(c, s).activations;
        s.microBatch = 4;
        QVERIFY(estimateMemory(c, s).activations > base);
        s.microBatch = 2;
        s.seqLength = 2048;
        QVERIFY(estimateMemory(c, s).activations > base);
        s.seqLength = 1024;
        s.gradientCheckpointing = true;
        QVERIFY(estimateMemory(c, s).activations < base / 3);
    }

    void fusedAttentionCountsFlashOnlyWhereFlashRuns() {
        // torch's flash-attention 2: sm80..sm90, head_dim a multiple of 8 up to 256 (192 for
        // training on sm86/sm89); 0 = an unknown card, taken as one it runs on.
        QVERIFY(flashAttentionRuns(90, 128, true));
        QVERIFY(flashAttentionRuns(0, 64, true));
        QVERIFY(!flashAttentionRuns(75, 64, true)); // T4
        QVERIFY(!flashAttentionRuns(100, 64, true)); // newer than torch 2.5's flash
        QVERIFY(!flashAttentionRuns(86, 256, true));
        QVERIFY(flashAttentionRuns(86, 256, false));
        QVERIFY(!flashAttentionRuns(90, 100, true));
        EstimateSettings s; // cuda, bf16, sdpa
        const auto c = bundledModelConfig("llama-3.2-1b");
        auto kept = [&](int capability) {
            s.cudaCapability = capability;
            std::set<std::string> names;
            for (const auto &t : estimateMemory(c, s).perLayer)
                names.insert(t.name);
            return names;
        };
        QVERIFY(kept(90).count("flash attention log-sum-exp, float32 [B,heads,T]"));
        QVERIFY(!kept(75).count("flash attention log-sum-exp, float32 [B,heads,T]"));
        QVERIFY(kept(75).count("q after rotary [B,heads,T,d] (kept by fused attention)"));
    }

    void newerFamiliesCountWhatTheirBlocksKeep() {
        // tinySettings() (B 1, T 4: N 4, float32, LoRA r 2 on q and v, checkpointing, eager) on the
        // tiny shape of each family.
        auto s = tinySettings();
        s.attention = Attention::Eager;
        auto shape = [](nlohmann::json extra) {
            nlohmann::json json = {{"hidden_size", 8},         {"intermediate_size", 16},  {"num_hidden_layers", 2},
                                   {"num_attention_heads", 2}, {"num_key_value_heads", 1}, {"vocab_size", 32}};
            json.update(extra);
            return ModelConfig::fromJson(json, "tiny family");
        };
        // Qwen3: a norm over head_dim for every head of q (2) and k (1): float32 input, squared
        // input (LibTorch 1.x), 1/rms per token and head.
        const auto qwen3 = perLayerTerms(estimateMemory(
            shape({{"architectures", {"Qwen3ForCausalLM"}}, {"model_type", "qwen3"}, {"head_dim", 4}}), s));
        QCOMPARE(qwen3.at("q_norm: input in float32 [B,T,heads,d]"), int64_t(4 * 4 * 2 * 4));
        QCOMPARE(qwen3.at("q_norm: squared input, float32 [B,T,heads,d] (kept by mean's backward)"),
                 int64_t(4 * 4 * 2 * 4));
        QCOMPARE(qwen3.at("q_norm: 1/rms, float32 [B,T,heads,1]"), int64_t(4 * 4 * 2));
        QCOMPARE(qwen3.at("k_norm: input in float32 [B,T,kv,d]"), int64_t(4 * 4 * 1 * 4));
        // Gemma 2: four (1 + w) norms, GELU, the eager scores' tanh for soft-capping
        // [B,heads,T,T]; the final soft-capping's chunk holds five float32 logits per token, its peak.
        const auto gemma2Json = nlohmann::json{{"architectures", {"Gemma2ForCausalLM"}},
                                               {"model_type", "gemma2"},
                                               {"head_dim", 8},
                                               {"query_pre_attn_scalar", 8}};
        const auto gemma2Config = shape(gemma2Json);
        const auto gemma2 = estimateMemory(gemma2Config, s);
        const auto terms = perLayerTerms(gemma2);
        for (const char *norm : {"input_layernorm", "post_attention_layernorm (attention output)",
                                 "pre_feedforward_layernorm", "post_feedforward_layernorm (MLP output)"})
            QCOMPARE(terms.at(std::string(norm) + ": 1 + weight, float32 [H]"), int64_t(4 * 8));
        QCOMPARE(terms.at("soft-capping: tanh of the scores [B,heads,T,T] (kept by tanh's backward)"),
                 int64_t(4 * 2 * 4 * 4));
        QCOMPARE(terms.at("gate output (GELU input) [B,T,I]"), int64_t(4 * 4 * 16));
        // With 4096 tokens in the vocabulary the loss is the peak: rows 3 (gathered once: B 1), their
        // int64 indices twice and a bool, 3 x 4096 logits x 5 float32.
        auto largeVocabulary = gemma2Json;
        largeVocabulary["vocab_size"] = 4096;
        QCOMPARE(peakPartBytes(estimateMemory(shape(largeVocabulary), s), "loss: row copies and one chunk of logits"),
                 int64_t(4 * 3 * 8 + 8 * 3 + 3 + 5 * 4 * 3 * 4096));
        // Soft-capped scores keep Gemma 2 off torch's flash kernel: its terms are the chunked form's.
        EstimateSettings cuda; // cuda, bf16, sdpa
        cuda.cudaCapability = 90;
        const std::string lse = "flash attention log-sum-exp, float32 [B,heads,T]";
        QVERIFY(!perLayerTerms(estimateMemory(gemma2Config, cuda)).count(lse));
        auto uncapped = gemma2Json;
        uncapped["attn_logit_softcapping"] = nullptr;
        QVERIFY(perLayerTerms(estimateMemory(shape(uncapped), cuda)).count(lse));
        // Gemma 3: a second pair of rotary tables for the sliding layers' base.
        const auto gemma3 = estimateMemory(
            shape({{"architectures", {"Gemma3ForCausalLM"}}, {"model_type", "gemma3_text"}, {"head_dim", 4}}), s);
        QCOMPARE(peakPartBytes(gemma3, "rotary cos and sin, global and local base"), int64_t(2 * 2 * 4 * 4 * 4));
        // Phi-3: q/k/v targets name the fused qkv_proj (in 8, out 4 x (2 + 2 x 2)); partial rotary
        // turns 2 of the 4 dims, so its tables are [B,1,T,2]; at B 1 probs·v keeps qkv_proj's output
        // through v's view.
        auto phiSettings = s;
        phiSettings.targetModules = {"q_proj", "k_proj", "v_proj"};
        const auto phi3 = estimateMemory(shape({{"architectures", {"Phi3ForCausalLM"}},
                                                {"model_type", "phi3"},
                                                {"num_key_value_heads", 2},
                                                {"partial_rotary_factor", 0.5}}),
                                         phiSettings);
        const auto phiTerms = perLayerTerms(phi3);
        QCOMPARE(phiTerms.at("qkv_proj LoRA: A·x [B,T,r]"), int64_t(4 * 4 * 2));
        QCOMPARE(phiTerms.at("qkv_proj output, kept by probs·v through v's view [B,T,(heads+2kv)*d]"),
                 int64_t(4 * 4 * 24));
        QCOMPARE(peakPartBytes(phi3, "rotary cos and sin"), int64_t(2 * 4 * 4 * 2));
        QCOMPARE(phi3.trainableParameters, int64_t(2 * 2 * (8 + 24)));
    }

    void aSlidingWindowMaskCountsOnlyForRowsLongerThanTheWindow() {
        // Mistral-7B's window is 4096 tokens: at 4096 it leaves out no key, so one mask [B,1,T,T]
        // is built; at 4160 a second one for the window.
        const auto c = bundledModelConfig("mistral-7b");
        EstimateSettings s;
        s.microBatch = 1;
        auto maskBytes = [&](int64_t seq) {
            s.seqLength = seq;
            return peakPartBytes(estimateMemory(c, s), "attention mask");
        };
        QCOMPARE(maskBytes(4096), int64_t(4096) * 4096);
        QCOMPARE(maskBytes(4160), int64_t(2) * 4160 * 4160);
    }

    void suggestionFitsAndIsTheMildest() {
        const auto c = bundledModelConfig("llama-3.1-8b");
        EstimateSettings s;
        s.microBatch = 8;
        s.accumulation = 4;
        s.seqLength = 2048;
        const int64_t budget = findGpuPreset("t4")->memoryBytes;
        QVERIFY(estimateMemory(c, s).total() > budget);
        const auto fit = suggestFit(c, s, budget);
        QVERIFY(fit);
        QVERIFY(fit->estimate.total() <= budget);
        QVERIFY(fit->settings.microBatch < 8);
        QCOMPARE(fit->settings.microBatch * fit->settings.accumulation, int64_t(32)); // same effective batch
        // The next micro-batch that keeps it (a divisor of 32) does not fit.
        auto larger = fit->settings;
        do
            ++larger.microBatch;
        while (32 % larger.microBatch != 0);
        larger.accumulation = 32 / larger.microBatch;
        QVERIFY(estimateMemory(c, larger).total() > budget);
        // Nothing makes an 8B model fit in 4 GiB.
        QVERIFY(!suggestFit(c, s, int64_t(4) << 30));

        // Under a budget that caps the caching allocator the context is not counted: a budget between
        // micro-batch 4's allocator bytes and its total takes micro-batch 4 only as such a cap.
        auto four = s;
        four.microBatch = 4;
        four.accumulation = 8;
        const auto fourEstimate = estimateMemory(c, four);
        const int64_t between = fourEstimate.budgetedBytes(true) + (fourEstimate.outsideAllocator / 2);
        const auto asCap = suggestFit(c, s, between, true);
        const auto asCard = suggestFit(c, s, between, false);
        QVERIFY(asCap && asCard);
        QCOMPARE(asCap->settings.microBatch, int64_t(4));
        QVERIFY(asCard->settings.microBatch < 4);
    }

    void cliEstimateJsonAndErrors() {
        QVERIFY2(QFileInfo(test::binPath("headroom-cli")).isExecutable(), "headroom-cli is not built");
        const auto ok = runCli({"--json", "estimate", "--config", "llama-3.1-8b", "--gpu", "t4", "--batch", "2",
                                "--seq", "2048", "--precision", "fp16"});
        QCOMPARE(ok.exitCode, 0);
        const auto json = nlohmann::json::parse(ok.out.toStdString());
        for (const char *key : {"trainable_params", "total_params", "effective_batch", "bytes", "budget", "fits"})
            QVERIFY2(json.contains(key), key);
        for (const char *key : {"weights", "adapters", "gradients", "optimizer", "activations", "other", "total"})
            QVERIFY2(json.at("bytes").contains(key), key);
        QCOMPARE(json.at("budget").get<int64_t>(), int64_t(16106127360));
        EstimateSettings s;
        s.microBatch = 2;
        s.seqLength = 2048;
        s.precision = Precision::FP16;
        s.cudaCapability = findGpuPreset("t4")->cudaCapability; // the preset's card
        QCOMPARE(json.at("bytes").at("total").get<int64_t>(),
                 estimateMemory(bundledModelConfig("llama-3.1-8b"), s).total());

        // A training config: its settings are the defaults, flags override them.
        const QString dir = m_dir.path() + "/train";
        QDir().mkpath(dir);
        std::ofstream(dir.toStdString() + "/train.json")
            << nlohmann::json{{"model", test::dataPath("models/qwen2_bias_gqa").toStdString()},
                              {"dataset", {{"path", "data.jsonl"}, {"max_seq_length", 64}}},
                              {"lora", {{"r", 4}}},
                              {"training", {{"per_device_train_batch_size", 3}, {"bf16", false}}}}
                   .dump();
        const auto fromConfig =
            runCli({"--json", "estimate", "--config", dir + "/train.json", "--accum", "5", "--gpu", "cpu"});
        QCOMPARE(fromConfig.exitCode, 0);
        const auto j = nlohmann::json::parse(fromConfig.out.toStdString());
        QCOMPARE(j.at("effective_batch").get<int64_t>(), int64_t(15));
        QCOMPARE(
            j.at("trainable_params").get<int64_t>(),
            loraParameterCount(ModelConfig::fromFile(test::dataPath("models/qwen2_bias_gqa/config.json").toStdString()),
                               4, {"q_proj", "k_proj", "v_proj", "o_proj"}));

        for (const auto &[args, needle] :
             {std::pair{QStringList{"estimate", "--config", "llama-3.1-8b", "--gpu", "t5"}, "--gpu: 't5'"},
              std::pair{QStringList{"estimate", "--config", "llama-9b"}, "--config: 'llama-9b'"},
              std::pair{QStringList{"estimate", "--model", "/nonexistent"}, "--model"},
              std::pair{QStringList{"estimate", "--config", "llama-3.1-8b", "--quant", "int3"}, "--quant"},
              std::pair{QStringList{"estimate", "--config", "llama-3.1-8b", "--budget", "12XB"}, "--budget"}}) {
            const auto run = runCli(args);
            QCOMPARE(run.exitCode, 2);
            const QString err = QString::fromUtf8(run.err).trimmed();
            QVERIFY2(err.startsWith("error: ") && err.contains(needle), qPrintable(err));
        }
        const auto presets = runCli({"estimate", "--config", "llama-3.1-8b", "--gpu", "t5"});
        QVERIFY(QString::fromUtf8(presets.err).contains(QString::fromStdString(gpuPresetNameList())));
        const auto models = runCli({"estimate", "--config", "llama-9b"});
        QVERIFY(QString::fromUtf8(models.err).contains("llama-3.1-8b"));
    }
};

QTEST_APPLESS_MAIN(MemoryEstimateTest)
#include "memory_estimate_test.moc"
