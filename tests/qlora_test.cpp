// LoRA, 4-bit base weights, gradient checkpointing, chunked loss and loss scaling on the small
// reference checkpoints, each against an independent computation.
#include <QtTest/QtTest>

#include "headroom/attention.h"
#include "headroom/causal_lm.h"
#include "train/chunked_loss.h"
#include "memory/estimate/lora_count.h"
#include "train/grad_norm.h"
#include "headroom/mixed_precision.h"
#include "headroom/runtime.h"
#include "headroom/safetensors.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include "model/linear.h"
#include "test_support.h"

using namespace headroom;

namespace {

std::string fixture(const char *variant) { return test::dataPath(QString("models/") + variant).toStdString(); }

// One reference checkpoint per family (tests/data/models/README.md lists what each switches on):
// Llama with biases and llama3 RoPE; Qwen3's q/k norm and sliding layers; Gemma 2's soft-caps and
// alternating windows; Gemma 3's layer types, local RoPE base, head_dim != hidden / heads and
// final soft-cap; the text model of Gemma3ForConditionalGeneration; SmolLM3's RoPE-free layer;
// Phi-3's fused projections, partial RoPE and longrope.
constexpr const char *kFamilyFixtures[] = {"llama_gqa_tied_bias_llama3rope",
                                           "qwen3_qknorm_window",
                                           "gemma2_softcap_alternating",
                                           "gemma3_text_softcap_layer_types",
                                           "gemma3_conditional_bf16",
                                           "smollm3_no_rope_layers",
                                           "phi3_fused_longrope"};

struct Batch {
    torch::Tensor ids, mask, labels;
};

Batch fixtureBatch(const std::string &dir) {
    const auto expected = SafetensorsFile::open(dir + "/expected.safetensors");
    return {test::readTensor(*expected, "input_ids"), test::readTensor(*expected, "attention_mask"),
            test::readTensor(*expected, "labels")};
}

// Gives every LoRA B a nonzero value so the adapters change the output.
void perturbLoraB(CausalLM &model, double scale) {
    torch::NoGradGuard noGrad;
    auto gen = at::detail::createCPUGenerator(7);
    for (auto &p : model.loraParameters())
        if (p.name.find("lora_B") != std::string::npos)
            p.tensor.copy_(torch::randn(p.tensor.sizes(), gen) * scale);
}

// The trainer's loss: chunks of 5 target tokens, with the model's final soft-capping.
torch::Tensor lossOf(CausalLM &model, const Batch &b, bool training) {
    ForwardInputs in;
    in.inputIds = b.ids;
    in.attentionMask = b.mask;
    in.training = training;
    const auto hidden = model.hiddenStates(in);
    const auto loss =
        chunkedCrossEntropySum(hidden, model.lmHeadWeight(), b.labels, 5, model.config().finalLogitSoftcap);
    return loss.sum / double(loss.tokens);
}

// Two rows of 800 tokens (the second padded after 500), so fused attention works through several
// chunks of queries (attentionChunkRows: 655 rows for 2 x 4 heads), across every sliding window.
Batch longBatch(const ModelConfig &config) {
    const int64_t t = 800, real = 500;
    auto gen = at::detail::createCPUGenerator(17);
    Batch b;
    b.ids = torch::randint(3, config.vocabSize, {2, t}, gen, torch::kLong);
    b.mask = torch::ones({2, t}, torch::kLong);
    b.mask[1].narrow(0, real, t - real).zero_();
    b.ids[1].narrow(0, real, t - real).zero_();
    b.labels = b.ids.masked_fill(b.mask == 0, -100);
    b.labels.narrow(1, 0, 3).fill_(-100);
    return b;
}

std::vector<torch::Tensor> loraGrads(CausalLM &model) {
    std::vector<torch::Tensor> grads;
    for (auto &p : model.loraParameters()) {
        grads.push_back(p.tensor.grad().clone());
        p.tensor.mutable_grad().zero_();
    }
    return grads;
}

// The largest difference between two sets of gradients and the largest gradient of the first.
struct GradGap {
    double maxDiff = 0, maxGrad = 0;
};
GradGap gradGap(const std::vector<torch::Tensor> &a, const std::vector<torch::Tensor> &b) {
    GradGap gap;
    for (size_t i = 0; i < a.size(); ++i) {
        gap.maxDiff = std::max(gap.maxDiff, (a[i] - b[i]).abs().max().item<double>());
        gap.maxGrad = std::max(gap.maxGrad, a[i].abs().max().item<double>());
    }
    return gap;
}

// One intra-op thread for the family tests: on fixtures this small it is as fast as two, and it
// does not spin against the other tests ctest runs beside this one.
class OneThread {
public:
    OneThread() : m_previous(at::get_num_threads()) { at::set_num_threads(1); }
    ~OneThread() { at::set_num_threads(m_previous); }

private:
    int m_previous;
};

void familyFixtureRows() {
    QTest::addColumn<QString>("variant");
    for (const char *v : kFamilyFixtures)
        QTest::newRow(v) << QString(v);
}

} // namespace

class QloraTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { initRuntime({}); }

    void trainableCountsEqualPeftForRealConfigs() {
        // Llama-3.2-1B's published PEFT count (r 16 on q,k,v,o): 3,407,872.
        const auto llama = ModelConfig::fromJson(
            nlohmann::json::parse(R"({"architectures":["LlamaForCausalLM"],"hidden_size":2048,"intermediate_size":8192,
              "num_hidden_layers":16,"num_attention_heads":32,"num_key_value_heads":8,"head_dim":64,
              "vocab_size":128256,"tie_word_embeddings":true})"),
            "llama-3.2-1b");
        QCOMPARE(loraParameterCount(llama, 16, {"q_proj", "k_proj", "v_proj", "o_proj"}), int64_t(3407872));
        // All linear layers: r * sum(in + out) per layer = 16 * (4096+2560+2560+4096+3*10240) * 16.
        QCOMPARE(loraParameterCount(llama, 16, {"all-linear"}),
                 int64_t(16) * (4096 + 2560 * 2 + 4096 + 3 * 10240) * 16);
    }

    void modelAdaptersHaveTheCountedParametersAndPeftNames() {
        const auto dir = fixture("llama_gqa_tied_bias_llama3rope");
        auto model = CausalLM::load(dir);
        model->addLora({8, 16, 0.0, {"q_proj", "v_proj", "down_proj"}, false}, 1);
        QCOMPARE(model->trainableParameters(),
                 loraParameterCount(model->config(), 8, {"q_proj", "v_proj", "down_proj"}));
        const auto params = model->loraParameters();
        QCOMPARE(params.front().name, std::string("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
        QCOMPARE(params.back().name, std::string("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
        QVERIFY(params.front().tensor.requires_grad());
        QCOMPARE(params.front().tensor.scalar_type(), torch::kFloat32);
        // PEFT init: A ~ U(-1/sqrt(in), 1/sqrt(in)), B = 0.
        QVERIFY(params[1].tensor.abs().max().item<double>() == 0.0);
        const double bound = 1.0 / std::sqrt(64.0);
        QVERIFY(params[0].tensor.abs().max().item<double>() <= bound);
        QVERIFY(params[0].tensor.std().item<double>() > 0.5 * bound / std::sqrt(3.0));
    }

    void loraWithZeroBGivesExactlyTheBaseLogits() {
        const auto dir = fixture("qwen2_bias_gqa");
        const auto batch = fixtureBatch(dir);
        auto base = CausalLM::load(dir);
        auto adapted = CausalLM::load(dir);
        adapted->addLora({16, 32, 0.0, {"all-linear"}, false}, 3);
        torch::NoGradGuard noGrad;
        QVERIFY(torch::equal(base->forward(batch.ids, batch.mask), adapted->forward(batch.ids, batch.mask)));
    }

    void loraOutputEqualsBasePlusScaledBAx_data() {
        QTest::addColumn<bool>("rslora");
        QTest::newRow("plain") << false;
        QTest::newRow("rslora") << true;
    }
    // y = W x + b + scaling * B A x, checked through the whole model against an independent
    // computation: the fixture's weights with W + scaling * B A folded in by this test (from the
    // adapters' PEFT names and the scaling it computes itself), written to a new folder and loaded
    // as a plain model. r 4, alpha 8: alpha / r = 2, alpha / sqrt(r) = 4 and alpha = 8 all differ,
    // so using the wrong one of them moves the logits far beyond the tolerance.
    void loraOutputEqualsBasePlusScaledBAx() {
        QFETCH(bool, rslora);
        const int64_t r = 4;
        const double alpha = 8;
        const double scaling = rslora ? alpha / std::sqrt(double(r)) : alpha / double(r); // PEFT
        const auto dir = fixture("llama_mha_untied");
        auto model = CausalLM::load(dir);
        // q_proj (attention) and down_proj (MLP) in both layers.
        model->addLora({r, alpha, 0.0, {"q_proj", "down_proj"}, rslora}, 5);
        perturbLoraB(*model, 0.1);

        // Fold scaling * B A into a copy of the checkpoint, in float64.
        std::map<std::string, torch::Tensor> loraA, loraB;
        for (const auto &p : model->loraParameters()) {
            const std::string prefix = "base_model.model.";
            QVERIFY(p.name.rfind(prefix, 0) == 0);
            const auto module = p.name.substr(prefix.size(), p.name.find(".lora_") - prefix.size());
            (p.name.find(".lora_A.") != std::string::npos ? loraA : loraB)[module + ".weight"] =
                p.tensor.detach().to(torch::kFloat64);
        }
        QCOMPARE(loraA.size(), size_t(4));
        QCOMPARE(loraB.size(), size_t(4));
        QTemporaryDir merged;
        QVERIFY(merged.isValid());
        const std::string out = merged.path().toStdString();
        for (const auto &entry : std::filesystem::directory_iterator(dir))
            if (entry.path().filename() != "model.safetensors" && entry.path().filename() != "expected.safetensors")
                std::filesystem::copy_file(entry.path(), out + "/" + entry.path().filename().string());
        const auto source = SafetensorsFile::open(dir + "/model.safetensors");
        std::vector<torch::Tensor> keep;
        std::vector<std::pair<std::string, TensorBytes>> tensors;
        int folded = 0;
        for (const auto &info : source->tensors()) {
            auto t = test::readTensor(*source, info.name);
            QCOMPARE(t.scalar_type(), torch::kFloat32);
            if (loraA.count(info.name)) {
                QVERIFY(loraB.count(info.name));
                t = (t.to(torch::kFloat64) + scaling * torch::matmul(loraB[info.name], loraA[info.name]))
                        .to(torch::kFloat32);
                ++folded;
            }
            keep.push_back(t.contiguous());
            tensors.push_back({info.name, {Dtype::F32, keep.back().sizes().vec(), keep.back().data_ptr()}});
        }
        QCOMPARE(folded, 4);
        writeSafetensors(out + "/model.safetensors", tensors, {{"format", "pt"}});

        const auto batch = fixtureBatch(dir);
        torch::NoGradGuard noGrad;
        const auto withLora = model->forward(batch.ids, batch.mask);
        const auto expected = CausalLM::load(out)->forward(batch.ids, batch.mask);
        const auto base = CausalLM::load(dir)->forward(batch.ids, batch.mask);
        const double scale = expected.abs().max().item<double>();
        const double rel = (withLora - expected).abs().max().item<double>() / scale;
        const double moved = (withLora - base).abs().max().item<double>() / scale;
        qInfo() << (rslora ? "rsLoRA" : "LoRA") << "scaling" << scaling << "max |LoRA - merged| / max |logit|" << rel
                << "adapter moved the logits by (relative)" << moved;
        // Observed (fp32, CPU): 3.1e-7 plain, 3.0e-7 rsLoRA, the rounding of the merged weights and
        // of the matmuls; the limit leaves a 10x margin. The adapter moves the logits by 0.15 and
        // 0.28 (relative), so a scaling off by 2x (alpha / r against alpha / sqrt(r) or alpha)
        // misses by about as much.
        QVERIFY(moved > 1e-2);
        QVERIFY2(rel < 3e-6,
                 qPrintable(QString("LoRA logits differ from W + %1 * B A by %2 (relative)").arg(scaling).arg(rel)));
        QCOMPARE(model->lora()->scaling(), scaling);
    }

    // PEFT's dropout on the LoRA input: elements kept are scaled by 1 / (1 - p) in training, and
    // nothing is dropped in evaluation. With A = B = identity, (y - W x) / s is the dropped input.
    void loraDropoutRescalesInTrainingAndIsOffInEvaluation() {
        const int64_t n = 32;
        const double p = 0.5, s = 0.75;
        auto gen = at::detail::createCPUGenerator(31);
        const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
        const auto weight = torch::randn({n, n}, gen, f64) * 0.1;
        const auto bias = torch::randn({n}, gen, f64) * 0.1;
        Linear base(weight, bias);
        Linear adapted(weight, bias);
        LoraWeights lora;
        lora.a = torch::eye(n, f64);
        lora.b = torch::eye(n, f64);
        lora.scaling = s;
        lora.dropout = p;
        adapted.setLora(lora);
        // Inputs away from zero, so a dropped element is told apart from a kept one.
        const auto x = (torch::rand({4, 16, n}, gen, f64) + 0.5) * (torch::randint(0, 2, {4, 16, n}, gen, f64) * 2 - 1);
        torch::NoGradGuard noGrad;
        const auto baseY = base(x);

        const auto evalRatio = ((adapted(x, false) - baseY) / s) / x;
        const double evalErr = (evalRatio - 1).abs().max().item<double>();
        qInfo() << "evaluation: max |(y - Wx - b) / s / x - 1|" << evalErr;
        QVERIFY2(evalErr < 1e-12, qPrintable(QString("dropout in evaluation: ratio off by %1").arg(evalErr)));

        torch::manual_seed(99);
        const auto ratio = ((adapted(x, true) - baseY) / s) / x;
        const auto dropped = (ratio - 0).abs() < 1e-12;
        const auto kept = (ratio - 1 / (1 - p)).abs() < 1e-12;
        const int64_t nDropped = dropped.sum().item<int64_t>(), nKept = kept.sum().item<int64_t>();
        qInfo() << "training: dropped" << nDropped << "kept (x 1/(1-p))" << nKept << "of" << x.numel()
                << "ratios seen: min" << ratio.min().item<double>() << "max" << ratio.max().item<double>();
        QVERIFY2((dropped | kept).all().item<bool>(),
                 qPrintable(QString("training: (y - Wx - b) / s / x takes values other than 0 and 1/(1-p) = %1 "
                                    "(min %2, max %3)")
                                .arg(1 / (1 - p))
                                .arg(ratio.min().item<double>())
                                .arg(ratio.max().item<double>())));
        QVERIFY(nDropped > 0);
        QVERIFY(nKept > 0);
        // p = 0.5 over 2048 elements: the dropped share is 0.5 +- 0.011 (one sigma).
        const double share = double(nDropped) / double(x.numel());
        QVERIFY2(share > 0.4 && share < 0.6, qPrintable(QString("dropped share %1 for p = %2").arg(share).arg(p)));
    }

    void checkpointedGradientsEqualPlainGradientsWithDropout() {
        const auto dir = fixture("llama_gqa_tied_bias_llama3rope");
        const auto batch = fixtureBatch(dir);
        auto model = CausalLM::load(dir);
        model->addLora({8, 16, 0.1, {"all-linear"}, false}, 11);
        perturbLoraB(*model, 0.05);

        torch::manual_seed(1234);
        model->setGradientCheckpointing(false);
        auto plainLoss = lossOf(*model, batch, true);
        plainLoss.backward();
        const auto plain = loraGrads(*model);

        torch::manual_seed(1234);
        model->setGradientCheckpointing(true);
        auto ckptLoss = lossOf(*model, batch, true);
        ckptLoss.backward();
        const auto ckpt = loraGrads(*model);

        QCOMPARE(plainLoss.item<double>(), ckptLoss.item<double>());
        double maxDiff = 0, maxGrad = 0;
        for (size_t i = 0; i < plain.size(); ++i) {
            maxDiff = std::max(maxDiff, (plain[i] - ckpt[i]).abs().max().item<double>());
            maxGrad = std::max(maxGrad, plain[i].abs().max().item<double>());
        }
        qInfo() << "checkpointed vs plain: max |grad diff|" << maxDiff << "max |grad|" << maxGrad;
        QVERIFY(maxGrad > 0);
        QVERIFY(maxDiff <= 1e-6 * std::max(1.0, maxGrad));
    }

    // Gradient checkpointing on every family: the same loss and the same adapter gradients as
    // without it, with either attention and LoRA dropout on (so the recomputed layers must draw the
    // same masks, and receive every per-call input: masks, windows, both RoPE tables).
    void checkpointedGradientsEqualPlainGradientsOnEveryFamily_data() {
        QTest::addColumn<QString>("variant");
        QTest::addColumn<int>("attention");
        for (const char *v : kFamilyFixtures)
            for (const auto a : {Attention::Sdpa, Attention::Eager})
                QTest::newRow((std::string(v) + " " + choiceName(a)).c_str()) << QString(v) << int(a);
    }
    void checkpointedGradientsEqualPlainGradientsOnEveryFamily() {
        QFETCH(QString, variant);
        OneThread oneThread;
        QFETCH(int, attention);
        const auto dir = fixture(qPrintable(variant));
        const auto batch = fixtureBatch(dir);
        ModelLoadOptions options;
        options.attention = Attention(attention);
        auto model = CausalLM::load(dir, options);
        model->addLora({8, 16, 0.1, {"all-linear"}, false}, 11);
        perturbLoraB(*model, 0.05);
        auto lossAndGrads = [&](bool checkpointing) {
            torch::manual_seed(1234);
            model->setGradientCheckpointing(checkpointing);
            auto loss = lossOf(*model, batch, true);
            loss.backward();
            return std::pair{loss.item<double>(), loraGrads(*model)};
        };
        const auto [plainLoss, plain] = lossAndGrads(false);
        const auto [ckptLoss, ckpt] = lossAndGrads(true);
        const auto gap = gradGap(plain, ckpt);
        qInfo() << variant << choiceName(Attention(attention)) << "loss" << plainLoss << "checkpointed" << ckptLoss
                << "max |grad diff|" << gap.maxDiff << "max |grad|" << gap.maxGrad;
        // Measured: bit-identical on every row; before the recomputation received Gemma 3's local
        // RoPE tables its gradients were off by 1.3x (text) and 0.9x (conditional) the largest one.
        QCOMPARE(ckptLoss, plainLoss);
        QVERIFY(gap.maxGrad > 0);
        QVERIFY2(gap.maxDiff <= 1e-6 * gap.maxGrad,
                 qPrintable(QString("max |grad diff| %1 of max |grad| %2").arg(gap.maxDiff).arg(gap.maxGrad)));
    }

    // attn_implementation sdpa (the chunked fused attention on a CPU) against eager on every
    // family: the same loss and adapter gradients, on the fixture's batch and on 800-token rows
    // that take several chunks of queries across the sliding windows. Gemma 2's attention
    // soft-capping is in both (its fixture's scores reach 27 before the cap of 6).
    void fusedAttentionEqualsEagerOnEveryFamily_data() {
        QTest::addColumn<QString>("variant");
        QTest::addColumn<bool>("long_");
        for (const char *v : kFamilyFixtures)
            for (const bool long_ : {false, true})
                QTest::newRow((std::string(v) + (long_ ? " 800 tokens" : " fixture batch")).c_str())
                    << QString(v) << long_;
    }
    void fusedAttentionEqualsEagerOnEveryFamily() {
        QFETCH(QString, variant);
        OneThread oneThread;
        QFETCH(bool, long_);
        const auto dir = fixture(qPrintable(variant));
        auto lossAndGrads = [&](Attention attention) {
            ModelLoadOptions options;
            options.attention = attention;
            auto model = CausalLM::load(dir, options);
            model->addLora({8, 16, 0.0, {"all-linear"}, false}, 13);
            perturbLoraB(*model, 0.05);
            const auto batch = long_ ? longBatch(model->config()) : fixtureBatch(dir);
            auto loss = lossOf(*model, batch, true);
            loss.backward();
            return std::pair{loss.item<double>(), loraGrads(*model)};
        };
        if (long_) { // several chunks of queries, the last one short
            const auto config = ModelConfig::fromFile(dir + "/config.json");
            const int64_t t = longBatch(config).ids.size(1);
            QVERIFY(attentionChunkRows(2, config.numHeads, t, t) < t);
        }
        const auto [eagerLoss, eager] = lossAndGrads(Attention::Eager);
        const auto [sdpaLoss, sdpa] = lossAndGrads(Attention::Sdpa);
        const auto gap = gradGap(eager, sdpa);
        const double lossGap = std::abs(sdpaLoss - eagerLoss) / eagerLoss;
        qInfo() << variant << (long_ ? "800 tokens" : "fixture batch") << "loss eager" << eagerLoss << "sdpa"
                << sdpaLoss << "relative gap" << lossGap << "max |grad diff| / max |grad|" << gap.maxDiff / gap.maxGrad;
        // Measured (fp32, CPU): relative loss gaps 0 to 1e-7, gradient gaps 3e-7 to 1.2e-6 of the
        // largest gradient, 3.2e-6 on Gemma 3's 800-token rows (its peaked attention amplifies
        // rounding); Gemma 2 without the attention cap in one of the two misses by 1.9e-3 to 3.8e-3
        // in the loss.
        QVERIFY(gap.maxGrad > 0);
        QVERIFY2(lossGap < 1e-6, qPrintable(QString("relative loss gap %1").arg(lossGap)));
        QVERIFY2(gap.maxDiff < 1e-5 * gap.maxGrad,
                 qPrintable(QString("max |grad diff| %1 of max |grad| %2").arg(gap.maxDiff).arg(gap.maxGrad)));
    }

    // The trainer's loss (chunks of target tokens through lm_head, Gemma's final soft-capping
    // applied in float32 with its derivative) against causalLmLoss on the logits forward() returns,
    // value and adapter gradients, on every family. Where the family caps its logits, the uncapped
    // chunked loss must miss, so the cap is really in play.
    void chunkedLossEqualsLossOfForwardLogitsOnEveryFamily_data() { familyFixtureRows(); }
    void chunkedLossEqualsLossOfForwardLogitsOnEveryFamily() {
        QFETCH(QString, variant);
        OneThread oneThread;
        const auto dir = fixture(qPrintable(variant));
        const auto batch = fixtureBatch(dir);
        auto model = CausalLM::load(dir);
        model->addLora({4, 8, 0.0, {"all-linear"}, false}, 2);
        perturbLoraB(*model, 0.05);

        auto full = causalLmLoss(model->forward(batch.ids, batch.mask), batch.labels);
        full.backward();
        const auto fullGrads = loraGrads(*model);
        auto chunked = lossOf(*model, batch, false);
        chunked.backward();
        const auto chunkedGrads = loraGrads(*model);
        const auto gap = gradGap(fullGrads, chunkedGrads);
        const double lossGap = std::abs(full.item<double>() - chunked.item<double>());
        double uncappedGap = 0;
        if (const auto cap = model->config().finalLogitSoftcap) {
            torch::NoGradGuard noGrad;
            ForwardInputs in;
            in.inputIds = batch.ids;
            in.attentionMask = batch.mask;
            const auto uncapped = chunkedCrossEntropySum(model->hiddenStates(in), model->lmHeadWeight(), batch.labels);
            uncappedGap = std::abs(uncapped.sum.item<double>() / double(uncapped.tokens) - full.item<double>());
            QVERIFY2(uncappedGap > 1e-2,
                     qPrintable(QString("the cap %1 moves the loss by only %2").arg(*cap).arg(uncappedGap)));
        }
        qInfo() << variant << "loss" << full.item<double>() << "chunked" << chunked.item<double>() << "gap" << lossGap
                << "max |grad diff| / max |grad|" << gap.maxDiff / gap.maxGrad << "uncapped loss gap" << uncappedGap;
        // Measured (fp32, CPU): loss gaps 0 to 9.5e-7 (of ~5.2), gradient gaps 3.8e-7 to 6.6e-7 of
        // the largest gradient; without the cap's derivative Gemma 2's and 3's are off by 0.14 and 0.07 of it.
        QVERIFY2(lossGap < 1e-6 * full.item<double>(), qPrintable(QString("loss gap %1").arg(lossGap)));
        QVERIFY(gap.maxGrad > 0);
        QVERIFY2(gap.maxDiff < 1e-5 * gap.maxGrad,
                 qPrintable(QString("max |grad diff| %1 of max |grad| %2").arg(gap.maxDiff).arg(gap.maxGrad)));
    }

    void chunkedLossEqualsFullLogitsLossAndGradient() {
        const auto dir = fixture("llama_mha_untied");
        const auto batch = fixtureBatch(dir);
        auto model = CausalLM::load(dir);
        model->addLora({4, 8, 0.0, {"all-linear"}, false}, 2);
        perturbLoraB(*model, 0.05);
        ForwardInputs in;
        in.inputIds = batch.ids;
        in.attentionMask = batch.mask;
        in.training = true;

        auto full = causalLmLoss(model->logitsFromHidden(model->hiddenStates(in)), batch.labels);
        full.backward();
        const auto fullGrads = loraGrads(*model);
        auto chunked = lossOf(*model, batch, true);
        chunked.backward();
        const auto chunkedGrads = loraGrads(*model);
        QVERIFY(std::abs(full.item<double>() - chunked.item<double>()) < 1e-6);
        for (size_t i = 0; i < fullGrads.size(); ++i)
            QVERIFY(torch::allclose(fullGrads[i], chunkedGrads[i], 1e-4, 1e-7));
    }

    // Limits from the measured gaps (fp32 on CPU, the same on every run: the fixture and the
    // quantization are fixed), max |gap| / max |logit| and RMS(gap) / RMS(logit) over the unmasked
    // positions:
    //   NF4: max 0.2028, rms 0.1547;  FP4: max 0.1952, rms 0.1857.
    // The limits leave about 1.2x: 1.5x (0.30 on the max) would be looser than the former 0.25 and
    // would let through absmax scales 10% too large, measured at max 0.2995 / rms 0.258 (NF4) and
    // 0.2998 / 0.276 (FP4). A small code-book error stays within any such limit: quantization_test
    // compares the code books and packed bytes with bitsandbytes exactly.
    void nf4ModelLogitsStayCloseToTheUnquantizedModel_data() {
        QTest::addColumn<int>("type");
        QTest::addColumn<double>("maxLimit");
        QTest::addColumn<double>("rmsLimit");
        QTest::newRow("nf4") << int(Quant4Type::NF4) << 0.24 << 0.19;
        QTest::newRow("fp4") << int(Quant4Type::FP4) << 0.24 << 0.22;
    }
    void nf4ModelLogitsStayCloseToTheUnquantizedModel() {
        QFETCH(int, type);
        QFETCH(double, maxLimit);
        QFETCH(double, rmsLimit);
        const auto dir = fixture("llama_bf16");
        const auto batch = fixtureBatch(dir);
        ModelLoadOptions options;
        options.quantization = {true, Quant4Type(type), 64, true};
        auto quantized = CausalLM::load(dir, options);
        auto dense = CausalLM::load(dir);
        torch::NoGradGuard noGrad;
        auto q = quantized->forward(batch.ids, batch.mask);
        auto d = dense->forward(batch.ids, batch.mask);
        const auto valid = batch.mask.to(torch::kBool).unsqueeze(-1).expand_as(d);
        const double gap = (q - d).abs().masked_select(valid).max().item<double>();
        const double rel = gap / d.abs().max().item<double>();
        const double rms = ((q - d).masked_select(valid).norm() / d.masked_select(valid).norm()).item<double>();
        qInfo() << (type == int(Quant4Type::NF4) ? "NF4" : "FP4") << "max |logit gap|" << gap << "relative" << rel
                << "rms relative" << rms << "base bytes" << quantized->baseWeightBytes() << "vs"
                << dense->baseWeightBytes();
        QVERIFY(gap > 0);
        QVERIFY2(rel < maxLimit,
                 qPrintable(QString("max |logit gap| / max |logit| %1, limit %2").arg(rel).arg(maxLimit)));
        QVERIFY2(rms < rmsLimit, qPrintable(QString("rms logit gap / rms logit %1, limit %2").arg(rms).arg(rmsLimit)));
        QVERIFY(quantized->baseWeightBytes() < dense->baseWeightBytes());
    }

    void quantizedLinearInputGradientMatchesDequantizedDenseWeights() {
        auto gen = at::detail::createCPUGenerator(21);
        auto weight = torch::randn({48, 64}, gen) * 0.05;
        Linear quantized(weight.clone(), torch::Tensor());
        quantized.quantize(Quant4Type::NF4, 64, true);
        QVERIFY(quantized.isQuantized());
        Linear dense(quantized.denseWeight(torch::kFloat32), torch::Tensor());

        auto x1 = torch::randn({3, 5, 64}, gen).requires_grad_(true);
        auto x2 = x1.detach().clone().requires_grad_(true);
        auto upstream = torch::randn({3, 5, 48}, gen);
        auto y1 = quantized(x1, true);
        auto y2 = dense(x2, true);
        QVERIFY(torch::allclose(y1, y2, 1e-5, 1e-6));
        (y1 * upstream).sum().backward();
        (y2 * upstream).sum().backward();
        QVERIFY(torch::allclose(x1.grad(), x2.grad(), 1e-5, 1e-6));
        // 4.127 bits per parameter with double quantization, against 32 for the dense fp32 weight.
        QVERIFY(quantized.baseBytes() < weight.numel() * 4 / 7);
    }

    void checkpointSavedPrequantizedLoadsAsStored() {
        // Write the fixture the way transformers + bitsandbytes save a 4-bit model (W, W.absmax,
        // W.quant_map, W.nested_absmax, W.nested_quant_map, W.quant_state.bitsandbytes__nf4), load it
        // without quantization options, and compare with quantizing the dense checkpoint on load.
        const auto dir = fixture("llama_gqa_tied_bias_llama3rope");
        QTemporaryDir out;
        std::filesystem::copy_file(dir + "/config.json", out.path().toStdString() + "/config.json");
        const auto source = SafetensorsFile::open(dir + "/model.safetensors");
        std::vector<torch::Tensor> keep;
        std::vector<std::string> jsonKeep;
        std::vector<std::pair<std::string, TensorBytes>> tensors;
        auto add = [&](const std::string &name, Dtype dtype, torch::Tensor t) {
            keep.push_back(t.contiguous());
            tensors.push_back({name, {dtype, keep.back().sizes().vec(), keep.back().data_ptr()}});
        };
        int quantized = 0;
        for (const auto &info : source->tensors()) {
            auto t = test::readTensor(*source, info.name);
            const bool linear = info.name.find("_proj.weight") != std::string::npos;
            if (!linear) {
                add(info.name, Dtype::F32, t);
                continue;
            }
            ++quantized;
            const auto q = quantize4(t, Quant4Type::NF4, 64, true);
            add(info.name, Dtype::U8, q.packed.view({-1, 1}));
            add(info.name + ".absmax", Dtype::U8, q.absmax);
            const auto &code = quant4Codebook(Quant4Type::NF4);
            add(info.name + ".quant_map", Dtype::F32, torch::tensor(std::vector<float>(code.begin(), code.end())));
            add(info.name + ".nested_absmax", Dtype::F32, q.nestedAbsmax);
            add(info.name + ".nested_quant_map", Dtype::F32, torch::tensor(dynamicMap(true)));
            const std::string state = nlohmann::json{
                {"quant_type", "nf4"},
                {"blocksize", 64},
                {"dtype", "float32"},
                {"shape", info.shape},
                {"nested_blocksize", 256},
                {"nested_dtype", "float32"},
                {"nested_offset",
                 q.nestedOffset}}.dump();
            auto bytes = torch::empty({int64_t(state.size())}, torch::kUInt8);
            std::memcpy(bytes.data_ptr(), state.data(), state.size());
            add(info.name + ".quant_state.bitsandbytes__nf4", Dtype::U8, bytes);
        }
        QCOMPARE(quantized, 14);
        writeSafetensors(out.path().toStdString() + "/model.safetensors", tensors, {{"format", "pt"}});

        auto prequantized = CausalLM::load(out.path().toStdString());
        ModelLoadOptions options;
        options.quantization = {true, Quant4Type::NF4, 64, true};
        auto quantizedOnLoad = CausalLM::load(dir, options);
        // The loaded model also keeps each tensor's 256-entry nested_quant_map (float32).
        QCOMPARE(prequantized->baseWeightBytes(), quantizedOnLoad->baseWeightBytes() + quantized * 256 * 4);
        const auto batch = fixtureBatch(dir);
        torch::NoGradGuard noGrad;
        QVERIFY(torch::equal(prequantized->forward(batch.ids, batch.mask),
                             quantizedOnLoad->forward(batch.ids, batch.mask)));
    }

    // The scaler divides by its scale; a step is found bad through the gradients' norm
    // (grad_norm.h), as the trainer does it.
    void lossScalerSkipsAStepOnInfAndRecovers() {
        LossScaler scaler(true, 65536.0, 2.0, 0.5, 3);
        auto grad = torch::full({4}, 65536.0);
        scaler.unscale({grad});
        QCOMPARE(grad[0].item<double>(), 1.0);
        QVERIFY(std::isfinite(globalGradNorm({grad})));
        scaler.update(false);
        QCOMPARE(scaler.scale(), 65536.0);

        grad = torch::tensor({1.0f, std::numeric_limits<float>::infinity(), 0.0f, 0.0f});
        scaler.unscale({grad});
        QVERIFY(!std::isfinite(globalGradNorm({grad})));
        scaler.update(true);
        QCOMPARE(scaler.scale(), 32768.0);
        QCOMPARE(scaler.skippedSteps(), int64_t(1));
        for (int i = 0; i < 3; ++i) {
            grad = torch::ones({4});
            scaler.unscale({grad});
            QVERIFY(std::isfinite(globalGradNorm({grad})));
            scaler.update(false);
        }
        QCOMPARE(scaler.scale(), 65536.0); // doubled after `growthInterval` clean steps
        LossScaler disabled(false);
        grad = torch::full({2}, 8.0);
        disabled.unscale({grad});
        QCOMPARE(grad[0].item<double>(), 8.0);
    }
};

QTEST_APPLESS_MAIN(QloraTest)
#include "qlora_test.moc"
