// Tests of the studio's first window: it opens a model folder (or the model a training config names)
// and shows its summary, shows problems in the window instead of failing, and creates the bundled
// demo in a worker thread while the event loop keeps running. The models are made with
// headroom::makeDemo in temporary folders.
#include "main_window.h"

#include "headroom/demo.h"
#include "headroom/model_summary.h"

#include <QAction>
#include <QLabel>
#include <QTemporaryDir>
#include <QtTest/QtTest>

namespace {

constexpr int kDemoTimeoutMs = 180'000;

// The text of the window's label `name`, or a marker that says it is missing.
QString text(const MainWindow &window, const QString &name)
{
    const auto *label = window.findChild<QLabel *>(name);
    return label ? label->text() : "<no label " + name + ">";
}

bool shown(const MainWindow &window, const QString &name)
{
    const auto *widget = window.findChild<QWidget *>(name);
    return widget && widget->isVisibleTo(&window);
}

QString digits(QString text)
{
    return text.remove(QRegularExpression("[^0-9]"));
}

void writeFile(const QString &path, const QByteArray &bytes)
{
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(bytes);
}

} // namespace

class StudioWindowTest : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_modelDir = QString::fromStdString(headroom::makeDemo(m_dir.filePath("fixture").toStdString()).modelDir);
        m_vocabSize = headroom::ModelSummary::inspect(m_modelDir.toStdString()).config.vocabSize;
    }

    void showsTheSummaryOfAModelFolder()
    {
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

    void showsAnErrorForAFolderWithoutConfig()
    {
        QTemporaryDir empty;
        MainWindow window(m_dir.filePath("unused-demo"));
        window.open(m_modelDir);
        window.open(empty.path());
        QVERIFY(shown(window, "errorLabel"));
        QVERIFY(!shown(window, "modelSummaryView"));
        QVERIFY2(text(window, "errorLabel").contains("config.json"), qPrintable(text(window, "errorLabel")));
    }

    void opensTheModelThatAConfigNames()
    {
        const QString config = m_dir.filePath("train.json");
        writeFile(config, R"({"model": "fixture/model"})");
        MainWindow window(m_dir.filePath("unused-demo"));
        window.open(config);
        QCOMPARE(text(window, "architectureValue"), QString("LlamaForCausalLM"));
        QCOMPARE(text(window, "folderValue"), QDir::toNativeSeparators(m_modelDir));
    }

    void showsAnErrorForAConfigThatIsNotJson()
    {
        const QString config = m_dir.filePath("broken.json");
        writeFile(config, "{\"model\": ");
        MainWindow window(m_dir.filePath("unused-demo"));
        window.open(config);
        QVERIFY(shown(window, "errorLabel"));
        const QString error = text(window, "errorLabel");
        QVERIFY2(error.contains("broken.json:1:") && error.contains("malformed JSON"), qPrintable(error));
    }

    void createsTheDemoInTheBackground()
    {
        MainWindow window(m_dir.filePath("demo"));
        window.show();
        window.openDemo();
        QVERIFY(shown(window, "busyLabel"));
        QVERIFY(text(window, "busyLabel").startsWith("Creating the demo"));
        QTRY_COMPARE_WITH_TIMEOUT(text(window, "architectureValue"), QString("LlamaForCausalLM"), kDemoTimeoutMs);
        QVERIFY(!shown(window, "busyLabel"));
        QCOMPARE(digits(text(window, "vocabSizeValue")), QString::number(m_vocabSize));
        QCOMPARE(text(window, "titleLabel"), QString("Demo model"));

        window.openDemo();   // now it exists: shown at once
        QVERIFY(shown(window, "modelSummaryView"));
    }

    void aFolderOpenedMeanwhileWinsOverTheDemo()
    {
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
