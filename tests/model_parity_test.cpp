// The Llama-family forward pass against an independent numpy reference of transformers' formulas
// (tests/reference/hf_llama_reference.py, fixtures made by tests/reference/make_golden_models.py),
// with each attention implementation; and fused attention's gradients against attention written
// out in float64.
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include "headroom/causal_lm.h"
#include "headroom/error.h"
#include "headroom/generation.h"
#include "headroom/runtime.h"
#include "model/fused_attention.h"
#include "test_support.h"
#include "train/micro_batch.h"

using namespace headroom;

// Every fixture of tests/data/models (tests/reference/make_golden_models.py).
constexpr const char *kFixtures[] = {
    "llama_mha_untied",           "llama_gqa_tied_bias_llama3rope",  "qwen2_bias_gqa",
    "mistral_headdim_linear",     "mistral_mqa_window_large",        "llama_bf16",
    "qwen3_qknorm_window",        "gemma3_text_softcap_layer_types", "gemma3_conditional_bf16",
    "gemma2_softcap_alternating", "smollm3_no_rope_layers",          "phi3_fused_longrope"};

class ModelParityTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { initRuntime({}); }

    void variants_data() {
        QTest::addColumn<QString>("variant");
        QTest::addColumn<QString>("attention");
        for (const char *v : kFixtures)
            for (const char *a : {"eager", "sdpa"})
                QTest::newRow((std::string(v) + " " + a).c_str()) << QString(v) << QString(a);
    }

    // fp32 logits agree with the reference to about 3e-6 on the Llama-family fixtures and 1.2e-5
    // on Gemma 3's (peaked attention from q/k norm factors near 2.5 amplifies the float32
    // rounding); 2e-5 still fails a model detail as small as rms_norm_eps 1e-6 -> 1e-5 (which moves a
    // Qwen2 fixture's logits by 7e-5).
    void logitsMatchReferenceWithinTwoEMinus5_data() { variants_data(); }
    void logitsMatchReferenceWithinTwoEMinus5() {
        QFETCH(QString, variant);
        QFETCH(QString, attention);
        const auto dir = test::dataPath("models/" + variant).toStdString();
        const auto expected = SafetensorsFile::open(dir + "/expected.safetensors");
        const auto ids = test::readTensor(*expected, "input_ids");
        const auto mask = test::readTensor(*expected, "attention_mask");
        const auto refLogits = test::readTensor(*expected, "logits");

        const auto model = CausalLM::load(
            dir, {torch::kFloat32, torch::kCPU, {}, parseChoice<Attention>(attention.toStdString(), "attention")});
        torch::NoGradGuard noGrad;
        const auto logits = model->forward(ids, mask);
        // Padded positions are undefined in transformers too; compare where the mask is 1.
        const auto valid = mask.to(torch::kBool).unsqueeze(-1).expand_as(logits);
        const double maxAbs = (logits - refLogits).abs().masked_select(valid).max().item<double>();
        qInfo() << variant << "max |logits - reference| =" << maxAbs;
        QVERIFY2(maxAbs < 2e-5, qPrintable(QString("max abs diff %1").arg(maxAbs)));
    }

    void lossMatchesReference_data() { variants_data(); }
    void lossMatchesReference() {
        QFETCH(QString, variant);
        QFETCH(QString, attention);
        const auto dir = test::dataPath("models/" + variant).toStdString();
        const auto expected = SafetensorsFile::open(dir + "/expected.safetensors");
        const auto model = CausalLM::load(
            dir, {torch::kFloat32, torch::kCPU, {}, parseChoice<Attention>(attention.toStdString(), "attention")});
        torch::NoGradGuard noGrad;
        const auto logits =
            model->forward(test::readTensor(*expected, "input_ids"), test::readTensor(*expected, "attention_mask"));
        const double loss = causalLmLoss(logits, test::readTensor(*expected, "labels")).item<double>();
        const double refLoss = test::readTensor(*expected, "loss").item<double>();
        QVERIFY2(std::abs(loss - refLoss) < 1e-5, qPrintable(QString("loss %1 vs %2").arg(loss).arg(refLoss)));
    }

    void greedyGenerationWithKvCacheMatchesFullRecomputation_data() { variants_data(); }
    void greedyGenerationWithKvCacheMatchesFullRecomputation() {
        QFETCH(QString, variant);
        QFETCH(QString, attention);
        const auto dir = test::dataPath("models/" + variant).toStdString();
        const auto expected = SafetensorsFile::open(dir + "/expected.safetensors");
        const auto prompt = test::readTensor(*expected, "greedy_prompt");
        const auto want = test::readTensor(*expected, "greedy_tokens");
        const auto model = CausalLM::load(
            dir, {torch::kFloat32, torch::kCPU, {}, parseChoice<Attention>(attention.toStdString(), "attention")});
        std::vector<int32_t> promptIds(prompt.numel());
        for (int64_t i = 0; i < prompt.numel(); ++i)
            promptIds[i] = int32_t(prompt[i].item<int64_t>());
        GenerationOptions options;
        options.maxNewTokens = int(want.numel());
        const auto result = generate(*model, promptIds, options);
        QCOMPARE(int64_t(result.tokens.size()), want.numel());
        for (int64_t i = 0; i < want.numel(); ++i)
            QCOMPARE(int64_t(result.tokens[i]), want[i].item<int64_t>());
    }

    // Packing as the trainer collates it (collateMicroBatch): documents side by side in one row with
    // positions restarting and segment ids keeping attention inside each document, a second row
    // padded on the right. Every document's logits must equal those of the document run alone.
    void packedRowsGiveEachDocumentItsOwnLogits_data() { variants_data(); }
    void packedRowsGiveEachDocumentItsOwnLogits() {
        QFETCH(QString, variant);
        QFETCH(QString, attention);
        const auto dir = test::dataPath("models/" + variant).toStdString();
        const auto model = CausalLM::load(
            dir, {torch::kFloat32, torch::kCPU, {}, parseChoice<Attention>(attention.toStdString(), "attention")});
        auto gen = at::detail::createCPUGenerator(17);
        const auto randomDocument = [&](int64_t length) {
            const auto ids = torch::randint(model->config().vocabSize, {length}, gen, torch::kLong);
            return std::vector<int32_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + length);
        };
        const std::vector<std::vector<std::vector<int32_t>>> rows = {
            {randomDocument(5), randomDocument(9), randomDocument(3)}, {randomDocument(4), randomDocument(6)}};
        std::vector<TokenizedExample> packed(rows.size());
        for (size_t r = 0; r < rows.size(); ++r)
            for (size_t d = 0; d < rows[r].size(); ++d)
                for (size_t t = 0; t < rows[r][d].size(); ++t) {
                    packed[r].ids.push_back(rows[r][d][t]);
                    packed[r].labels.push_back(rows[r][d][t]);
                    packed[r].positions.push_back(int32_t(t));
                    packed[r].segments.push_back(int32_t(d));
                }
        const auto batch = collateMicroBatch({&packed[0], &packed[1]}, true, torch::kCPU);
        QCOMPARE(batch.ids.size(1), int64_t(17)); // row 1 (10 tokens) is padded by 7
        ForwardInputs in;
        in.inputIds = batch.ids;
        in.attentionMask = batch.mask;
        in.positions = batch.positions;
        in.segmentIds = batch.segments;
        in.paddedOnTheRight = true;
        torch::NoGradGuard noGrad;
        const auto packedLogits = model->logitsFromHidden(model->hiddenStates(in));

        double worst = 0;
        for (size_t r = 0; r < rows.size(); ++r) {
            int64_t offset = 0;
            for (const auto &document : rows[r]) {
                const int64_t length = int64_t(document.size());
                const auto ids =
                    torch::tensor(std::vector<int64_t>(document.begin(), document.end())).view({1, length});
                const auto alone = model->forward(ids, torch::ones_like(ids))[0];
                const auto inRow = packedLogits[int64_t(r)].narrow(0, offset, length);
                worst = std::max(worst, (inRow - alone).abs().max().item<double>());
                offset += length;
            }
        }
        qInfo() << variant << attention << "max |packed - alone| =" << worst;
        QVERIFY2(worst < 1e-5, qPrintable(QString("max abs diff %1").arg(worst)));
    }

    // Every family computed in bf16 (Gemma's embedding scale rounded to bf16 too, as transformers
    // does for a bf16 model) stays within bf16's error of the float64 reference: the RMS of the
    // difference over the RMS of the logits.
    void bfloat16ComputeStaysCloseToReference_data() {
        QTest::addColumn<QString>("variant");
        for (const char *v : kFixtures)
            QTest::newRow(v) << QString(v);
    }
    void bfloat16ComputeStaysCloseToReference() {
        QFETCH(QString, variant);
        const auto dir = test::dataPath("models/" + variant).toStdString();
        const auto expected = SafetensorsFile::open(dir + "/expected.safetensors");
        const auto model = CausalLM::load(dir, {torch::kBFloat16, torch::kCPU});
        torch::NoGradGuard noGrad;
        const auto ids = test::readTensor(*expected, "input_ids");
        const auto mask = test::readTensor(*expected, "attention_mask");
        const auto logits = model->forward(ids, mask).to(torch::kFloat32);
        const auto ref = test::readTensor(*expected, "logits");
        const auto valid = mask.to(torch::kBool).unsqueeze(-1).expand_as(logits);
        const auto diff = (logits - ref).masked_select(valid);
        const double maxAbs = diff.abs().max().item<double>();
        const double scale = ref.abs().max().item<double>();
        const double relativeRms =
            diff.square().mean().sqrt().item<double>() / ref.masked_select(valid).square().mean().sqrt().item<double>();
        qInfo() << variant << "bf16 compute: max abs diff" << maxAbs << "of logit scale" << scale << "relative rms"
                << relativeRms;
        // Measured relative RMS 0.6-2.7% (Llama, Qwen, Mistral, Phi-3, SmolLM3, Gemma 2, Gemma 3
        // conditional), 5.4% on the Gemma 3 fixture, whose peaked attention (q/k norm factors near
        // 2.5, a RoPE base of 100) makes it five times as sensitive: rounding only its weights to
        // bf16 moves its logits by 2.3% RMS, a Llama fixture's by 0.4%.
        QVERIFY2(relativeRms < 0.06, qPrintable(QString("relative rms %1").arg(relativeRms)));
        QVERIFY(maxAbs > 0); // really computed in bf16
    }

    void plainCausalOnlyWithoutHistoryPackingOrPaddingBeforeTokens() {
        const auto dir = test::dataPath("models/llama_gqa_tied_bias_llama3rope").toStdString();
        const auto config = ModelConfig::fromFile(dir + "/config.json");
        ForwardInputs in;
        in.inputIds = torch::ones({2, 4}, torch::kLong);
        QVERIFY(in.plainCausal());
        in.attentionMask = torch::tensor({1, 1, 1, 0, 1, 1, 1, 1}, torch::kLong).view({2, 4});
        QVERIFY(!in.plainCausal()); // where the padding is, is not known
        in.paddedOnTheRight = true;
        QVERIFY(in.plainCausal());
        in.segmentIds = torch::zeros({2, 4}, torch::kLong);
        QVERIFY(!in.plainCausal()); // packed rows attend within their example only
        in.segmentIds = torch::Tensor();
        KvCache cache(config, 2, 16, torch::kFloat32, torch::kCPU);
        in.cache = &cache;
        QVERIFY(in.plainCausal()); // the prompt's pass: nothing cached before it
        cache.advance(4);
        QVERIFY(!in.plainCausal()); // later tokens see the cached ones
    }

    // Shapes that take several chunks of attentionChunkRows() (the last one short), grouped-query
    // heads, and a row padded on the right; the reference is softmax(q·k^T/sqrt(d), masked)·v in
    // float64 with k and v repeated per query head, differentiated by autograd.
    // With soft-capping (Gemma 2), cap * tanh(scaled scores / cap) replaces the scaled scores; a
    // cap of 1.5 bends scores that reach about 4.
    void fusedAttentionMatchesFloat64Reference_data() {
        QTest::addColumn<QString>("dtype");
        QTest::addColumn<double>("softcap");
        QTest::newRow("float32") << QString("float32") << 0.0;
        QTest::newRow("bfloat16") << QString("bfloat16") << 0.0;
        QTest::newRow("float32 soft-capped") << QString("float32") << 1.5;
        QTest::newRow("bfloat16 soft-capped") << QString("bfloat16") << 1.5;
    }
    void fusedAttentionMatchesFloat64Reference() {
        QFETCH(QString, dtype);
        QFETCH(double, softcap);
        const auto type = dtype == "float32" ? torch::kFloat32 : torch::kBFloat16;
        const int64_t b = 2, h = 4, kvh = 2, t = 1100, d = 16;
        torch::manual_seed(3);
        auto q = torch::randn({b, t, h, d}).transpose(1, 2).to(type).requires_grad_(true); // strided as the model's
        auto k = torch::randn({b, kvh, t, d}).to(type).requires_grad_(true);
        auto v = torch::randn({b, kvh, t, d}).to(type).requires_grad_(true);
        const auto gradOut = torch::randn({b, h, t, d}).to(type);
        auto pos = torch::arange(t);
        auto allowed = (pos.view({1, t}) <= pos.view({t, 1})).view({1, 1, t, t}).repeat({b, 1, 1, 1});
        const int64_t real = 700; // row 1 has 700 tokens, then padding: its padded keys are masked
        allowed[1].narrow(-1, real, t - real).fill_(false);

        const double scale = softcap > 0 ? 0.3 : 1.0 / std::sqrt(double(d)); // Gemma: not 1/sqrt(d)
        auto out =
            fusedAttention(q, k, v, allowed, false, scale, softcap > 0 ? std::optional<double>(softcap) : std::nullopt);
        out.backward(gradOut);

        auto q64 = q.detach().to(torch::kFloat64).requires_grad_(true);
        auto k64 = k.detach().to(torch::kFloat64).requires_grad_(true);
        auto v64 = v.detach().to(torch::kFloat64).requires_grad_(true);
        auto scores = torch::matmul(q64, k64.repeat_interleave(h / kvh, 1).transpose(-1, -2)) * scale;
        if (softcap > 0)
            scores = torch::tanh(scores / softcap) * softcap;
        scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity());
        auto ref = torch::matmul(scores.softmax(-1), v64.repeat_interleave(h / kvh, 1));
        ref.backward(gradOut.to(torch::kFloat64));

        auto worst = [](const torch::Tensor &got, const torch::Tensor &want) {
            return (got.to(torch::kFloat64) - want).abs().max().item<double>() / want.abs().max().item<double>();
        };
        const double tolerance = type == torch::kFloat32 ? 1e-5 : 3e-2;
        const double errors[] = {worst(out.detach(), ref.detach()), worst(q.grad(), q64.grad()),
                                 worst(k.grad(), k64.grad()), worst(v.grad(), v64.grad())};
        const char *names[] = {"output", "q's gradient", "k's gradient", "v's gradient"};
        for (int i = 0; i < 4; ++i) {
            qInfo("%s: %s max |error| / max |reference| = %.3g", qPrintable(dtype), names[i], errors[i]);
            QVERIFY2(errors[i] < tolerance, names[i]);
        }
    }

    // A checkpoint without a tensor the family needs (Gemma 3's k_norm) is refused naming it.
    void loadingRefusesACheckpointMissingAFamilyTensor() {
        const auto dir = test::dataPath("models/gemma3_text_softcap_layer_types").toStdString();
        QTemporaryDir copy;
        QVERIFY(QFile::copy(QString::fromStdString(dir + "/config.json"), copy.filePath("config.json")));
        const auto source = SafetensorsFile::open(dir + "/model.safetensors");
        const std::string missing = "model.layers.1.self_attn.k_norm.weight";
        {
            SafetensorsWriter writer(copy.filePath("model.safetensors").toStdString(), {{"format", "pt"}});
            for (const auto &info : source->tensors())
                if (info.name != missing)
                    writer.declare(info.name, info.dtype, info.shape);
            for (const auto &info : source->tensors())
                if (info.name != missing)
                    writer.writeTensor(info.name, source->data(info), info.byteSize());
            writer.finish();
        }
        try {
            CausalLM::load(copy.path().toStdString());
            QFAIL("loaded without k_norm");
        } catch (const Error &error) {
            QVERIFY2(QString(error.what()).contains(QString::fromStdString("tensor '" + missing + "' not found")),
                     error.what());
        }
    }
};

QTEST_APPLESS_MAIN(ModelParityTest)
#include "model_parity_test.moc"
