// The Llama-family forward pass against an independent numpy reference of transformers' formulas
// (tests/reference/hf_llama_reference.py, fixtures made by tests/reference/make_golden_models.py).
#include <QtTest/QtTest>

#include "headroom/causal_lm.h"
#include "headroom/generation.h"
#include "headroom/runtime.h"
#include "test_support.h"

using namespace headroom;

class ModelParityTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { initRuntime({}); }

    void variants_data() {
        QTest::addColumn<QString>("variant");
        for (const char *v : {"llama_mha_untied", "llama_gqa_tied_bias_llama3rope", "qwen2_bias_gqa",
                              "mistral_headdim_linear", "mistral_mqa_window_large", "llama_bf16"})
            QTest::newRow(v) << QString(v);
    }

    void logitsMatchReferenceWithinOneEMinus4_data() { variants_data(); }
    void logitsMatchReferenceWithinOneEMinus4() {
        QFETCH(QString, variant);
        const auto dir = test::dataPath("models/" + variant).toStdString();
        const auto expected = SafetensorsFile::open(dir + "/expected.safetensors");
        const auto ids = test::readTensor(*expected, "input_ids");
        const auto mask = test::readTensor(*expected, "attention_mask");
        const auto refLogits = test::readTensor(*expected, "logits");

        const auto model = CausalLM::load(dir, {torch::kFloat32, torch::kCPU});
        torch::NoGradGuard noGrad;
        const auto logits = model->forward(ids, mask);
        // Padded positions are undefined in transformers too; compare where the mask is 1.
        const auto valid = mask.to(torch::kBool).unsqueeze(-1).expand_as(logits);
        const double maxAbs = (logits - refLogits).abs().masked_select(valid).max().item<double>();
        qInfo() << variant << "max |logits - reference| =" << maxAbs;
        QVERIFY2(maxAbs < 1e-4, qPrintable(QString("max abs diff %1").arg(maxAbs)));
    }

    void lossMatchesReference_data() { variants_data(); }
    void lossMatchesReference() {
        QFETCH(QString, variant);
        const auto dir = test::dataPath("models/" + variant).toStdString();
        const auto expected = SafetensorsFile::open(dir + "/expected.safetensors");
        const auto model = CausalLM::load(dir, {torch::kFloat32, torch::kCPU});
        torch::NoGradGuard noGrad;
        const auto logits = model->forward(test::readTensor(*expected, "input_ids"),
                                           test::readTensor(*expected, "attention_mask"));
        const double loss = causalLmLoss(logits, test::readTensor(*expected, "labels")).item<double>();
        const double refLoss = test::readTensor(*expected, "loss").item<double>();
        QVERIFY2(std::abs(loss - refLoss) < 1e-5, qPrintable(QString("loss %1 vs %2").arg(loss).arg(refLoss)));
    }

    void greedyGenerationWithKvCacheMatchesFullRecomputation_data() { variants_data(); }
    void greedyGenerationWithKvCacheMatchesFullRecomputation() {
        QFETCH(QString, variant);
        const auto dir = test::dataPath("models/" + variant).toStdString();
        const auto expected = SafetensorsFile::open(dir + "/expected.safetensors");
        const auto prompt = test::readTensor(*expected, "greedy_prompt");
        const auto want = test::readTensor(*expected, "greedy_tokens");
        const auto model = CausalLM::load(dir, {torch::kFloat32, torch::kCPU});
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

    void bfloat16ComputeStaysCloseToReference() {
        const auto dir = test::dataPath("models/llama_gqa_tied_bias_llama3rope").toStdString();
        const auto expected = SafetensorsFile::open(dir + "/expected.safetensors");
        const auto model = CausalLM::load(dir, {torch::kBFloat16, torch::kCPU});
        torch::NoGradGuard noGrad;
        const auto ids = test::readTensor(*expected, "input_ids");
        const auto mask = test::readTensor(*expected, "attention_mask");
        const auto logits = model->forward(ids, mask).to(torch::kFloat32);
        const auto ref = test::readTensor(*expected, "logits");
        const auto valid = mask.to(torch::kBool).unsqueeze(-1).expand_as(logits);
        const double maxAbs = (logits - ref).abs().masked_select(valid).max().item<double>();
        const double scale = ref.abs().max().item<double>();
        qInfo() << "bf16 compute: max abs diff" << maxAbs << "of logit scale" << scale;
        QVERIFY(maxAbs < 0.05 * scale);
        QVERIFY(maxAbs > 0);  // really computed in bf16
    }
};

QTEST_APPLESS_MAIN(ModelParityTest)
#include "model_parity_test.moc"
