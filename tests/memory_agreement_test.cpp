// The memory estimate against real training steps on CPU: for each setting, two optimizer steps of
// runTrainingOn() on random rows of exactly `seq` tokens (the counting allocator measures them; the
// StepEvent of the last step gives the peak) and estimateMemory() for the same settings.
//
// The persistent categories are measured by the counting allocator, not from the tensors' sizes that
// the estimate also uses: the bytes in use grow by the weights when the model loads, by the adapters
// when LoRA is added, by the gradients over a backward pass (its graph freed), and by the optimizer
// states over the first update. Activations are the training step's peak less those four. Weights,
// adapters, gradients and optimizer must agree within 1%, activations within 5% and the total
// within 10% (it holds "other", the process's resident memory outside the allocator, which the
// estimate cannot know on CPU). docs/memory.md lists what each row measured.
//
// The default rows (Llama and Qwen2 shapes) keep the run under a minute on two cores.
// HEADROOM_MEMORY_SWEEP=families selects the newer families' rows instead (Qwen3, Gemma 2, Gemma 3,
// SmolLM3, Phi-3), which ctest runs as memory_agreement_families_test: "other" grows with the bf16
// matmul shapes a process has seen (oneDNN keeps the kernels it generated for them), so both row
// sets in one process would leave the last rows' totals near the limit. HEADROOM_MEMORY_SWEEP=full
// selects the whole sweep of docs/memory.md, one row per process: scripts/memory_sweep.sh runs each
// row in a process of its own, and the test fails a second full-sweep row in one process.
// HEADROOM_MEMORY_TABLE=FILE appends one JSON line per row (settings, estimate, measurement).
#include <QtTest/QtTest>

#include <cmath>
#include <fstream>
#include <map>
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

// The model shapes by name. Two Llama-family shapes unlike each other: Llama with GQA and tied
// embeddings; Qwen2 with MQA, q/k/v biases, an untied lm_head and head_dim 32 over a hidden size of
// 96. Then one small model of each newer family, with what changes the graph: Qwen3's q/k norms
// (4 heads of 32 over a hidden size of 96); Gemma 2's (1 + w) sandwich norms, GeGLU, two 256-wide
// heads over a hidden size of 64, attention and final soft-capping, a 128-token window on its first
// layer; Gemma 3's q/k norms, sliding and full layer types with their two rotary bases, 4 heads of
// 48 over a hidden size of 256 (with an intermediate size of 768, dense layers peak in the
// post-feedforward norm's backward); SmolLM3 with a RoPE-free last layer; Phi-3's fused qkv_proj and
// gate_up_proj (the latter's call is a peak), partial rotary (16 of 64 dims), longrope past 256
// positions.
const std::map<std::string, nlohmann::json> &modelShapes() {
    static const std::map<std::string, nlohmann::json> shapes = {
        {"llama",
         {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_size", 128},
          {"intermediate_size", 344},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"vocab_size", 1024},
          {"max_position_embeddings", 4096},
          {"tie_word_embeddings", true},
          {"rms_norm_eps", 1e-5}}},
        {"qwen2",
         {{"architectures", {"Qwen2ForCausalLM"}},
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
          {"use_sliding_window", false}}},
        {"qwen3",
         {{"architectures", {"Qwen3ForCausalLM"}},
          {"model_type", "qwen3"},
          {"hidden_size", 96},
          {"intermediate_size", 256},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"head_dim", 32},
          {"vocab_size", 1024},
          {"max_position_embeddings", 4096},
          {"tie_word_embeddings", true}}},
        {"gemma2",
         {{"architectures", {"Gemma2ForCausalLM"}},
          {"model_type", "gemma2"},
          {"hidden_size", 64},
          {"intermediate_size", 192},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 2},
          {"num_key_value_heads", 1},
          {"head_dim", 256},
          {"query_pre_attn_scalar", 64},
          {"sliding_window", 128},
          {"vocab_size", 512},
          {"max_position_embeddings", 4096}}},
        {"gemma3",
         {{"architectures", {"Gemma3ForCausalLM"}},
          {"model_type", "gemma3_text"},
          {"hidden_size", 256},
          {"intermediate_size", 768},
          {"num_hidden_layers", 3},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 1},
          {"head_dim", 48},
          {"query_pre_attn_scalar", 48},
          {"layer_types", {"sliding_attention", "full_attention", "sliding_attention"}},
          {"sliding_window", 96},
          {"rope_local_base_freq", 10000.0},
          {"vocab_size", 1024},
          {"max_position_embeddings", 4096}}},
        {"smollm3",
         {{"architectures", {"SmolLM3ForCausalLM"}},
          {"model_type", "smollm3"},
          {"hidden_size", 128},
          {"intermediate_size", 320},
          {"num_hidden_layers", 3},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"no_rope_layers", {1, 1, 0}},
          {"vocab_size", 1024},
          {"max_position_embeddings", 4096}}},
        {"phi3",
         {{"architectures", {"Phi3ForCausalLM"}},
          {"model_type", "phi3"},
          {"hidden_size", 256},
          {"intermediate_size", 768},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"partial_rotary_factor", 0.25},
          {"max_position_embeddings", 4096},
          {"original_max_position_embeddings", 256},
          {"rope_scaling",
           {{"type", "longrope"},
            {"short_factor", {1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7}},
            {"long_factor", {1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0}}}},
          {"vocab_size", 1024},
          {"tie_word_embeddings", false}}},
    };
    return shapes;
}

std::vector<std::string> targetList(const std::string &targets) {
    if (targets == "all")
        return {"all-linear"};
    if (targets == "attn")
        return {"q_proj", "k_proj", "v_proj", "o_proj"};
    return {targets};
}

void addCase(const Case &c) { QTest::newRow(c.label().c_str()) << QString::fromStdString(c.label()); }

const std::vector<std::string> &newerFamilies() {
    static const std::vector<std::string> names = {"qwen3", "gemma2", "gemma3", "smollm3", "phi3"};
    return names;
}

// The newer families' default rows: each family with and without 4-bit weights and checkpointing, in
// both attention forms and both compute dtypes, one row at micro-batch 1 (where more reshapes are
// views); the Gemma windows (128 and 96 tokens) are shorter than the rows.
std::vector<Case> familyCases() {
    std::vector<Case> cases;
    for (const auto &model : newerFamilies()) {
        cases.push_back({model, 1, 512, 8, false, "nf4", "fp32", "adamw_8bit", "attn", 0, "eager"});
        cases.push_back({model, 4, 256, 16, true, "none", "bf16", "adamw_torch", "all", 0.05, "sdpa"});
        cases.push_back({model, 2, 512, 8, true, "nf4", "bf16", "adamw_8bit", "all", 0, "eager"});
        cases.push_back({model, 2, 512, 16, false, "none", "fp32", "adamw_8bit", "attn", 0, "sdpa"});
    }
    return cases;
}

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
// dropout rows, and fused (sdpa) attention at 512 and 2048 tokens; then each newer family at 1024
// tokens, micro-batch 1 in fp32 and 4 in bf16, checkpointing on/off, both attention forms (nf4,
// r 16 on every linear layer).
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
    for (const auto &model : newerFamilies())
        for (const int64_t batch : {1, 4})
            for (const bool ckpt : {false, true})
                for (const std::string attention : {"eager", "sdpa"})
                    cases.push_back({model, batch, 1024, 16, ckpt, "nf4", batch == 1 ? "fp32" : "bf16", "adamw_8bit",
                                     "all", 0, attention});
    return cases;
}

// HEADROOM_MEMORY_SWEEP selects the rows: unset, the default rows; "families", the newer families'
// default rows; "full", the sweep.
std::vector<Case> selectedCases() {
    const auto rows = qEnvironmentVariable("HEADROOM_MEMORY_SWEEP");
    return rows == "full" ? fullCases() : rows == "families" ? familyCases() : quickCases();
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
        const auto vocab = modelShapes().at(c.model).at("vocab_size").get<int64_t>();
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
        const auto cases = selectedCases();
        for (const auto &c : cases) {
            m_cases[c.label()] = c;
            if (m_modelDirs.count(c.model))
                continue;
            const std::string dir = (m_dir.path() + "/" + QString::fromStdString(c.model)).toStdString();
            RandomModelOptions options;
            options.dtype = "float32";
            writeRandomModel(modelShapes().at(c.model), dir, options);
            m_modelDirs[c.model] = dir;
        }
        // Process-wide tables made on first use (1 KiB in the first backward pass) belong to no
        // run's categories: one unmeasured pass makes them before the rows measure.
        persistentBytesByAllocator(cases.front());
    }

    void agreement_data() {
        QTest::addColumn<QString>("label");
        for (const auto &c : selectedCases())
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
