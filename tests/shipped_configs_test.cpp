// Every configuration shipped in resources/configs loads and validates, and the demo's matches
// what make-demo writes.
#include <QtTest/QtTest>

#include <filesystem>
#include <fstream>

#include "headroom/demo.h"
#include "headroom/train_config.h"

using namespace headroom;

class ShippedConfigsTest : public QObject {
    Q_OBJECT

private slots:
    void everyShippedConfigLoadsAndValidates() {
        const auto dir =
            std::filesystem::path(qEnvironmentVariable("HEADROOM_SOURCE_DIR").toStdString()) / "resources/configs";
        int count = 0;
        for (const auto &entry : std::filesystem::directory_iterator(dir)) {
            if (entry.path().extension() != ".json")
                continue;
            const auto config = TrainConfig::fromFile(entry.path().string());
            config.validate(entry.path().string());
            ++count;
        }
        QVERIFY(count >= 2);
    }

    void lessonConfigMirrorsTheLessonSettings() {
        const auto path =
            qEnvironmentVariable("HEADROOM_SOURCE_DIR").toStdString() + "/resources/configs/llama-3.2-1b-qlora.json";
        const auto c = TrainConfig::fromFile(path);
        QCOMPARE(c.lora.r, int64_t(16));
        QCOMPARE(c.lora.loraAlpha, 32.0);
        QCOMPARE(c.lora.targetModules, (std::vector<std::string>{"q_proj", "k_proj", "v_proj", "o_proj"}));
        QCOMPARE(c.training.optim, OptimizerKind::PagedAdamW8bit);
        QCOMPARE(c.effectiveBatch(), int64_t(32)); // 2 x 16 x 1 GPU
        QVERIFY(c.training.gradientCheckpointing);
    }

    void demoConfigEqualsWhatMakeDemoWrites() {
        const auto path = qEnvironmentVariable("HEADROOM_SOURCE_DIR").toStdString() + "/resources/configs/demo.json";
        std::ifstream in(path);
        auto shipped = nlohmann::json::parse(in);
        auto written = demoTrainConfig("/somewhere");
        QCOMPARE(written["training"]["output_dir"].get<std::string>(), std::string("/somewhere/runs/demo"));
        written["training"]["output_dir"] = shipped["training"]["output_dir"];
        QCOMPARE(QString::fromStdString(written.dump()), QString::fromStdString(shipped.dump()));
    }
};

QTEST_APPLESS_MAIN(ShippedConfigsTest)
#include "shipped_configs_test.moc"
