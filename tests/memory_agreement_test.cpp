// The memory estimate against real training steps on CPU: for each setting, two optimizer steps of
// runTrainingOn() on random rows of exactly `seq` tokens (the counting allocator measures them; the
// StepEvent of the last step gives the peak) and estimateMemory() for the same settings.
//
// The persistent categories are measured by the counting allocator, not from the tensors' sizes that
// the estimate also uses: the bytes in use grow by the weights when the model loads, by the adapters
// when LoRA is added, by the gradients over a backward pass (its graph freed), and by the optimizer
// states over the first update. Activations are the training step's peak less those four. Weights,
// adapters, gradients and optimizer must agree within 1%, activations within 5% (the default rows
// measure -2.5% to +0.2%) and the total within 10% (-5.4% to +1.8%: it holds "other", the
// process's resident memory outside the allocator, which the estimate cannot know on CPU).
//
// The default rows keep the run under a minute on two cores. HEADROOM_MEMORY_SWEEP=full selects the
// whole sweep of docs/memory.md, one row per process: scripts/memory_sweep.sh runs each row in a
// process of its own ("other" on CPU is the process's resident memory, which grows with the steps
// a process has seen), and the test fails a second full-sweep row in one process.
// HEADROOM_MEMORY_TABLE=FILE appends one JSON line per row (settings, estimate, measurement).
#include <QtTest/QtTest>

#include <cmath>
#include <fstream>
#include <random>

#include "headroom/bench.h"
#include "headroom/causal_lm.h"
#include "train/chunked_loss.h"
#include "headroom/dataset.h"
#include "headroom/memory.h"
#include "headroom/memory_estimate.h"
#include "train/optimizer.h"
#include "headroom/random_model.h"
#include "headroom/runtime.h"
#include "headroom/trainer.h"

using namespace headroom;

namespace {

struct Case {
    std::string model;
    int64_t batch = 1, seq = 128, r = 8;
    bool checkpointing = false;
    std::string quant = "nf4", precision = "fp32", optim = "adamw_8bit", targets = "attn";
    double dropout = 0;
    std::string attention = "eager";

    std::string label() const {
        return model + " b" + std::to_string(batch) + " s" + std::to_string(seq) + " r" + std::to_string(r) + " " +
               quant + " " + precision + (checkpointing ? " ckpt" : " no-ckpt") + " " + targets + " " + optim +
               (dropout > 0 ? " drop" : "") + " " + attention;
    }
};

class LastStep : public TrainingObserver {
public:
    StepEvent last;
    void onStep(const StepEvent &e) override { last = e; }
};

// Two shapes unlike each other: Llama with GQA and tied embeddings; Qwen2 with MQA, q/k/v biases,
// an untied lm_head and head_dim 32 over a hidden size of 96.
nlohmann::json modelShape(const std::string &name) {
    if (name == "llama")
        return {{"architectures", {"LlamaForCausalLM"}},
                {"model_type", "llama"},
                {"hidden_size", 128},
                {"intermediate_size", 344},
                {"num_hidden_layers", 2},
                {"num_attention_heads", 4},
                {"num_key_value_heads", 2},
                {"vocab_size", 1024},
                {"max_position_embeddings", 4096},
                {"tie_word_embeddings", true},
                {"rms_norm_eps", 1e-5}};
    return {{"architectures", {"Qwen2ForCausalLM"}},
            {"model_type", "qwen2"},
            {"hidden_size", 96},
            {"intermediate_size", 256},
            {"num_hidden_layers", 3},
            {"num_attention_heads", 3},
            {"num_key_value_heads", 1},
            {"vocab_size", 768},
            {"max_position_embeddings", 4096},
            {"tie_word_embeddings", false},
            {"rms_norm_eps", 1e-6},
            {"use_sliding_window", false}};
}

std::vector<std::string> targetList(const std::string &targets) {
    if (targets == "all")
        return {"all-linear"};
    if (targets == "attn")
        return {"q_proj", "k_proj", "v_proj", "o_proj"};
    return {targets};
}

void addCase(const Case &c) { QTest::newRow(c.label().c_str()) << QString::fromStdString(c.label()); }

// The default rows: every lever at least once, both shapes, sizes that run in about a minute.
std::vector<Case> quickCases() {
    std::vector<Case> cases;
    auto add = [&](Case c) { cases.push_back(c); };
    add({"llama", 1, 128, 8, false, "nf4", "fp32", "adamw_8bit", "attn", 0});
    add({"llama", 4, 256, 16, false, "none", "fp32", "adamw_torch", "all", 0});
    add({"llama", 2, 512, 64, true, "nf4", "fp32", "adamw_8bit", "all", 0.05});
    add({"llama", 8, 256, 8, true, "nf4", "bf16", "adamw_8bit", "attn", 0});
    add({"llama", 1, 1024, 32, false, "nf4", "fp32", "sgd", "attn", 0});
    add({"qwen2", 2, 128, 8, false, "fp4", "fp32", "adamw_torch", "all", 0.05});
    add({"qwen2", 4, 512, 16, true, "none", "fp32", "adamw_8bit", "attn", 0});
    add({"qwen2", 1, 512, 64, false, "nf4", "bf16", "adamw_8bit", "all", 0});
    add({"qwen2", 8, 128, 8, true, "nf4", "fp32", "adamw_8bit", "attn", 0});
    // Fused attention, in several chunks where T is long (attentionChunkRows).
    add({"llama", 4, 1024, 16, false, "none", "fp32", "adamw_torch", "all", 0, "sdpa"});
    add({"llama", 2, 512, 8, true, "nf4", "bf16", "adamw_8bit", "attn", 0, "sdpa"});
    add({"qwen2", 4, 512, 8, false, "nf4", "fp32", "adamw_8bit", "attn", 0, "sdpa"});
    add({"qwen2", 2, 1024, 16, true, "none", "fp32", "adamw_torch", "all", 0.05, "sdpa"});
    // bf16 with checkpointing where the loss's chunk of logits is the peak.
    add({"llama", 8, 128, 8, true, "nf4", "bf16", "adamw_8bit", "attn", 0, "sdpa"});
    add({"qwen2", 8, 128, 8, false, "nf4", "bf16", "adamw_8bit", "attn", 0, "sdpa"});
    return cases;
}

// The sweep of docs/memory.md: micro-batch 1..8, seq 128..1024, checkpointing on/off, nf4/none,
// r 8 and 64, both shapes (fp32, attention adapters, eager attention), plus bf16 and all-linear with
// dropout rows, and fused (sdpa) attention at 512 and 2048 tokens.
std::vector<Case> fullCases() {
    std::vector<Case> cases;
    for (const std::string model : {"llama", "qwen2"})
        for (const int64_t batch : {1, 4, 8})
            for (const int64_t seq : {128, 512, 1024})
                for (const bool ckpt : {false, true})
                    for (const std::string quant : {"nf4", "none"})
                        cases.push_back(
                            {model, batch, seq, quant == "nf4" ? 8 : 64, ckpt, quant, "fp32", "adamw_8bit", "attn", 0});
    for (const std::string model : {"llama", "qwen2"})
        for (const int64_t batch : {1, 4})
            for (const bool ckpt : {false, true})
                for (const std::string precision : {"fp32", "bf16"})
                    cases.push_back({model, batch, 512, 16, ckpt, "nf4", precision, "adamw_torch", "all", 0.05});
    for (const std::string model : {"llama", "qwen2"})
        for (const int64_t batch : {1, 4})
            for (const int64_t seq : {512, 2048})
                for (const bool ckpt : {false, true})
                    for (const std::string precision : {"fp32", "bf16"})
                        cases.push_back(
                            {model, batch, seq, 16, ckpt, "nf4", precision, "adamw_8bit", "attn", 0, "sdpa"});
    return cases;
}

double relative(int64_t estimate, int64_t measured) {
    return measured == 0 ? (estimate == 0 ? 0.0 : 1.0) : double(estimate - measured) / double(measured);
}

} // namespace

class MemoryAgreementTest : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    std::map<std::string, std::string> m_modelDirs;
    std::map<std::string, Case> m_cases;
    int m_runs = 0;
    int m_rowsMeasured = 0;

    bool fullSweep() const { return qEnvironmentVariable("HEADROOM_MEMORY_SWEEP") == "full"; }

    EstimateSettings settingsOf(const Case &c) const {
        EstimateSettings s;
        s.loraR = c.r;
        s.loraAlpha = double(2 * c.r);
        s.loraDropout = c.dropout;
        s.targetModules = targetList(c.targets);
        s.quant = parseChoice<WeightQuant>(c.quant, "quant");
        s.microBatch = c.batch;
        s.accumulation = 1;
        s.seqLength = c.seq;
        s.precision = parseChoice<Precision>(c.precision, "precision");
        s.gradientCheckpointing = c.checkpointing;
        s.optimizer = parseChoice<OptimizerKind>(c.optim, "optim");
        s.device = "cpu";
        s.attention = parseChoice<Attention>(c.attention, "attention");
        return s;
    }

    MemoryBreakdown train(const Case &c) {
        TrainConfig config;
        config.model = m_modelDirs.at(c.model);
        config.device = "cpu";
        config.attnImplementation = parseChoice<Attention>(c.attention, "attention");
        config.dataset.path = "(random rows)";
        config.dataset.maxSeqLength = c.seq;
        config.dataset.validationSplit = 0;
        config.setWeightQuant(parseChoice<WeightQuant>(c.quant, "quant"));
        config.setPrecision(parseChoice<Precision>(c.precision, "precision"));
        config.lora.r = c.r;
        config.lora.loraAlpha = double(2 * c.r);
        config.lora.loraDropout = c.dropout;
        config.lora.targetModules = targetList(c.targets);
        auto &t = config.training;
        t.outputDir = (m_dir.path() + "/runs/" + QString::number(m_runs++)).toStdString();
        t.perDeviceTrainBatchSize = c.batch;
        t.gradientAccumulationSteps = 1;
        t.gradientCheckpointing = c.checkpointing;
        t.optim = parseChoice<OptimizerKind>(c.optim, "optim");
        t.maxSteps = 2; // the second step is measured: gradients exist from its start, as in a run
        t.warmupRatio = 0;
        t.saveStrategy = "no";
        const auto vocab = modelShape(c.model).at("vocab_size").get<int64_t>();
        LastStep observer;
        runTrainingOn(config, TrainingDataset::fromExamples(randomTokenRows(2 * c.batch, c.seq, vocab, 7), {}),
                      observer, nullptr);
        return observer.last.memory;
    }

    // Weights, adapters, gradients and optimizer states as the counting allocator sees them: the
    // growth of the bytes in use over loading, adding LoRA, one backward pass, and creating the
    // optimizer with its first update.
    MemoryBreakdown persistentBytesByAllocator(const Case &c) const {
        const auto inUse = [] { return allocatorStats(torch::kCPU).allocated; };
        ModelLoadOptions load;
        load.dtype = c.precision == "bf16" ? torch::kBFloat16 : torch::kFloat32;
        load.attention = parseChoice<Attention>(c.attention, "attention");
        load.quantization = {c.quant != "none", c.quant == "fp4" ? Quant4Type::FP4 : Quant4Type::NF4, 64, true};
        MemoryBreakdown m;
        const int64_t start = inUse();
        auto model = CausalLM::load(m_modelDirs.at(c.model), load);
        const int64_t loaded = inUse();
        model->addLora({c.r, double(2 * c.r), c.dropout, targetList(c.targets), false}, 7);
        const int64_t adapted = inUse();
        {
            const auto vocab = model->config().vocabSize;
            ForwardInputs in;
            in.inputIds = torch::randint(vocab, {c.batch, c.seq}, torch::kLong);
            in.training = true;
            const auto loss = chunkedCrossEntropySum(model->hiddenStates(in), model->lmHeadWeight(), in.inputIds);
            loss.sum.backward();
        }
        const int64_t withGradients = inUse();
        auto optimizer = Optimizer::create(parseChoice<OptimizerKind>(c.optim, "optim"), model->loraParameters(), {});
        optimizer->step(1e-4);
        const int64_t stepped = inUse();
        m.weights = loaded - start;
        m.adapters = adapted - loaded;
        m.gradients = withGradients - adapted;
        m.optimizer = stepped - withGradients;
        return m;
    }

    // One JSON line per row for scripts/memory_sweep.sh.
    void appendJson(const Case &c, const MemoryEstimate &e, const MemoryBreakdown &m) const {
        const auto path = qEnvironmentVariable("HEADROOM_MEMORY_TABLE");
        if (path.isEmpty())
            return;
        auto measured = m.toJson();
        measured["total"] = m.total();
        std::ofstream(path.toStdString(), std::ios::app) << nlohmann::json{{"setting", c.label()},
                                                                           {"model", c.model},
                                                                           {"estimate", e.toJson()},
                                                                           {"measured", measured}}
                                                                .dump()
                                                         << "\n";
    }

private slots:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        initRuntime({});
        installMemoryTracking();
        for (const std::string name : {"llama", "qwen2"}) {
            const std::string dir = (m_dir.path() + "/" + QString::fromStdString(name)).toStdString();
            RandomModelOptions options;
            options.dtype = "float32";
            writeRandomModel(modelShape(name), dir, options);
            m_modelDirs[name] = dir;
        }
        for (const auto &c : fullSweep() ? fullCases() : quickCases())
            m_cases[c.label()] = c;
        // Process-wide tables made on first use (1 KiB in the first backward pass) belong to no
        // run's categories: one unmeasured pass makes them before the rows measure.
        persistentBytesByAllocator(quickCases().front());
    }

    void agreement_data() {
        QTest::addColumn<QString>("label");
        for (const auto &c : fullSweep() ? fullCases() : quickCases())
            addCase(c);
    }

    void agreement() {
        QFETCH(QString, label);
        if (fullSweep() && m_rowsMeasured > 0)
            QFAIL("HEADROOM_MEMORY_SWEEP=full measures one row per process (scripts/memory_sweep.sh): "
                  "the resident memory in \"other\" grows with the steps a process has seen");
        ++m_rowsMeasured;
        const Case c = m_cases.at(label.toStdString());
        MemoryBreakdown m;
        try {
            m = persistentBytesByAllocator(c);
            const auto step = train(c);
            m.activations = step.peak - m.weights - m.adapters - m.gradients - m.optimizer;
            m.other = step.other;
            m.peak = step.peak;
        } catch (const std::exception &error) {
            QFAIL(error.what());
        }
        const auto e = estimateMemory(ModelConfig::fromFile(m_modelDirs.at(c.model) + "/config.json"), settingsOf(c));
        appendJson(c, e, m);
        qInfo("activations %.2f / %.2f MiB (%+.1f%%, %s), total %.2f / %.2f MiB (%+.1f%%)",
              double(e.activations) / 1048576, double(m.activations) / 1048576,
              100 * relative(e.activations, m.activations), e.peakPhase.c_str(), double(e.total()) / 1048576,
              double(m.total()) / 1048576, 100 * relative(e.total(), m.total()));
        for (const auto &[name, estimated, measured] :
             {std::tuple{"weights", e.weights, m.weights}, std::tuple{"adapters", e.adapters, m.adapters},
              std::tuple{"gradients", e.gradients, m.gradients}, std::tuple{"optimizer", e.optimizer, m.optimizer}})
            QVERIFY2(
                std::abs(relative(estimated, measured)) <= 0.01,
                qPrintable(
                    QString("%1: estimated %2, measured by the allocator %3").arg(name).arg(estimated).arg(measured)));
        QVERIFY2(std::abs(relative(e.activations, m.activations)) <= 0.05,
                 qPrintable(QString("activations: estimated %1 (%2), measured %3")
                                .arg(e.activations)
                                .arg(QString::fromStdString(e.peakPhase))
                                .arg(m.activations)));
        QVERIFY2(std::abs(relative(e.total(), m.total())) <= 0.10,
                 qPrintable(QString("total: estimated %1, measured %2 (other: %3 vs %4)")
                                .arg(e.total())
                                .arg(m.total())
                                .arg(e.other)
                                .arg(m.other)));
    }
};

QTEST_APPLESS_MAIN(MemoryAgreementTest)
#include "memory_agreement_test.moc"
