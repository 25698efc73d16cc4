// The demo is meaningful: fine-tuning on its dataset with the shipped demo configuration turns
// held-out reviews (subject/adjective pairs never trained on) from wrong answers into right ones.
#include <QtTest/QtTest>

#include "headroom/adapter_io.h"
#include "headroom/causal_lm.h"
#include "headroom/chat_template.h"
#include "headroom/demo.h"
#include "headroom/generation.h"
#include "headroom/runtime.h"
#include "headroom/tokenizer.h"
#include "headroom/train_config.h"
#include "headroom/trainer.h"

using namespace headroom;

namespace {

double heldOutAccuracy(const std::string &modelDir, const std::string &adapterDir) {
    const auto tokenizer = Tokenizer::load(modelDir);
    const auto chat = ChatTemplate::detect(tokenizer->chatTemplateSource());
    auto model = CausalLM::load(modelDir, {torch::kFloat32, torch::kCPU, {}});
    if (!adapterDir.empty())
        loadAdapter(*model, adapterDir);
    GenerationOptions options;
    options.maxNewTokens = 4;
    options.stopIds = tokenizer->stopIds();
    int right = 0;
    const auto examples = demoExamples(true);
    for (const auto &e : examples) {
        const auto prompt = chat.renderText({{"user", e.instruction + "\n\n" + e.input}}, true);
        const auto result = generate(*model, tokenizer->encode(prompt, false), options);
        QString answer = QString::fromStdString(tokenizer->decode(result.tokens, true)).trimmed();
        right += answer == QString::fromStdString(e.output);
    }
    return double(right) / double(examples.size());
}

class Silent : public TrainingObserver {};

} // namespace

class DemoLearnsTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { initRuntime({}); }

    void heldOutReviewsGoFromWrongToRightAfterFineTuning() {
        QTemporaryDir dir;
        const auto demo = makeDemo(dir.path().toStdString() + "/demo");
        const double before = heldOutAccuracy(demo.modelDir, "");

        auto config = TrainConfig::fromFile(demo.config);
        config.validate();
        Silent silent;
        const auto summary = runTraining(config, silent, nullptr, {});
        const double after = heldOutAccuracy(demo.modelDir, summary.adapterDir);
        qInfo() << "held-out accuracy before" << before << "after" << after << "final loss" << summary.finalLoss
                << "eval loss" << summary.finalEvalLoss << "tokens/s" << summary.tokensPerSecond;
        QVERIFY(before < 0.2);
        QVERIFY(after >= 0.85);
    }
};

QTEST_APPLESS_MAIN(DemoLearnsTest)
#include "demo_learns_test.moc"
