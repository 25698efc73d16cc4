// Tests of the studio's Model page: it opens a model folder (or the model a training config names)
// and shows its summary, lists the models of a Hugging Face cache, shows problems in the window
// instead of failing, and creates the bundled demo in a worker thread while the event loop keeps
// running. The models are made with headroom::makeDemo in temporary folders.
#include "main_window.h"
#include "models/studio_session.h"
#include "studio_test_support.h"

#include "headroom/demo.h"
#include "headroom/model_summary.h"

#include <QAction>
#include <QListWidget>
#include <QTemporaryDir>
#include <QtTest/QtTest>

namespace {

using headroom::test::text;

constexpr int kDemoTimeoutMs = 180'000;

bool shown(const MainWindow &window, const QString &name) {
    const auto *widget = window.findChild<QWidget *>(name);
    return widget && widget->isVisibleTo(&window);
}

QString digits(QString text) { return text.remove(QRegularExpression("[^0-9]")); }

void writeFile(const QString &path, const QByteArray &bytes) {
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(bytes);
}

} // namespace

class StudioWindowTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        qputenv("HF_HUB_CACHE", m_dir.filePath("no-hub-cache").toUtf8()); // not this machine's cache
        m_modelDir = QString::fromStdString(headroom::makeDemo(m_dir.filePath("fixture").toStdString()).modelDir);
        m_vocabSize = headroom::ModelSummary::inspect(m_modelDir.toStdString()).config.vocabSize;
    }

    void showsTheSummaryOfAModelFolder() {
        MainWindow window(m_dir.filePath("unused-demo"));
        window.open(m_modelDir);
        QVERIFY(shown(window, "modelSummaryView"));
        QVERIFY(!shown(window, "errorLabel"));
        QCOMPARE(text(window, "architectureValue"), QString("LlamaForCausalLM"));
        QCOMPARE(digits(text(window, "vocabSizeValue")), QString::number(m_vocabSize));
        QVERIFY(text(window, "parametersValue").contains(" M)"));
        QVERIFY(text(window, "checkpointSizeValue").contains("iB"));
        QCOMPARE(text(window, "folderValue"), QDir::toNativeSeparators(m_modelDir));
        QCOMPARE(text(window, "titleLabel"), QDir(m_modelDir).dirName());
    }

    void listsAndOpensTheModelsOfTheHfCache() {
        QTemporaryDir hub;
        const QString snapshot = hub.filePath("models--SomeOrg--tiny-llama/snapshots/0123456789abcdef");
        QVERIFY(QDir().mkpath(snapshot));
        QVERIFY(QDir().mkpath(hub.filePath("models--SomeOrg--no-config/snapshots/fedcba")));
        for (const QString &name : QDir(m_modelDir).entryList(QDir::Files))
            QVERIFY(QFile::copy(m_modelDir + "/" + name, snapshot + "/" + name));

        MainWindow window(m_dir.filePath("unused-demo"), hub.path());
        auto *list = window.findChild<QListWidget *>("modelList");
        QVERIFY(list);
        QCOMPARE(list->count(), 2); // the demo and the one snapshot with a config.json
        QCOMPARE(list->item(1)->text(), QString("SomeOrg/tiny-llama (0123456)"));
        list->scrollToItem(list->item(1));
        window.show();
        QTest::mouseClick(list->viewport(), Qt::LeftButton, {}, list->visualItemRect(list->item(1)).center());
        QTRY_COMPARE(text(window, "architectureValue"), QString("LlamaForCausalLM"));
        QCOMPARE(text(window, "folderValue"), QDir::toNativeSeparators(snapshot));
        QCOMPARE(window.session()->modelDir(), snapshot);
        QVERIFY(window.session()->modelConfig().has_value());
    }

    void showsAnErrorForAFolderWithoutConfig() {
        QTemporaryDir empty;
        MainWindow window(m_dir.filePath("unused-demo"));
        window.open(m_modelDir);
        window.open(empty.path());
        QVERIFY(shown(window, "errorLabel"));
        QVERIFY(!shown(window, "modelSummaryView"));
        QVERIFY2(text(window, "errorLabel").contains("config.json"), qPrintable(text(window, "errorLabel")));
    }

    void opensTheModelThatAConfigNames() {
        const QString config = m_dir.filePath("train.json");
        writeFile(config, R"({"model": "fixture/model"})");
        MainWindow window(m_dir.filePath("unused-demo"));
        window.open(config);
        QCOMPARE(text(window, "architectureValue"), QString("LlamaForCausalLM"));
        QCOMPARE(text(window, "folderValue"), QDir::toNativeSeparators(m_modelDir));
    }

    void showsAnErrorForAConfigThatIsNotJson() {
        const QString config = m_dir.filePath("broken.json");
        writeFile(config, "{\"model\": ");
        MainWindow window(m_dir.filePath("unused-demo"));
        window.open(config);
        QVERIFY(shown(window, "errorLabel"));
        const QString error = text(window, "errorLabel");
        QVERIFY2(error.contains("broken.json:1:") && error.contains("malformed JSON"), qPrintable(error));
    }

    void createsTheDemoInTheBackground() {
        MainWindow window(m_dir.filePath("demo"));
        window.show();
        window.openDemo();
        QVERIFY(shown(window, "busyLabel"));
        QVERIFY(text(window, "busyLabel").startsWith("Creating the demo"));
        QTRY_COMPARE_WITH_TIMEOUT(text(window, "architectureValue"), QString("LlamaForCausalLM"), kDemoTimeoutMs);
        QVERIFY(!shown(window, "busyLabel"));
        // the demo's training configuration came with it
        QCOMPARE(window.session()->config().dataset.path, m_dir.filePath("demo/demo.jsonl").toStdString());
        QCOMPARE(digits(text(window, "vocabSizeValue")), QString::number(m_vocabSize));
        QCOMPARE(text(window, "titleLabel"), QString("Demo model"));

        window.openDemo(); // now it exists: shown at once
        QVERIFY(shown(window, "modelSummaryView"));
    }

    void aFolderOpenedMeanwhileWinsOverTheDemo() {
        QTemporaryDir empty;
        MainWindow window(m_dir.filePath("demo-race"));
        auto *openDemo = window.findChild<QAction *>("openDemoAction");
        QVERIFY(openDemo);
        window.openDemo();
        QVERIFY(!openDemo->isEnabled());
        window.open(empty.path());
        QTRY_VERIFY_WITH_TIMEOUT(openDemo->isEnabled(), kDemoTimeoutMs);
        QVERIFY(shown(window, "errorLabel"));
        QVERIFY(!shown(window, "modelSummaryView"));
    }

private:
    QTemporaryDir m_dir;
    QString m_modelDir;
    int64_t m_vocabSize = 0;
};

QTEST_MAIN(StudioWindowTest)
#include "studio_window_test.moc"
