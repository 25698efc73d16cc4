// Data-parallel training end to end: the built headroom-cli on the demo, with Gloo on CPU.
// A 2-process run must train the same steps as a 1-process run with twice the accumulation (the
// same examples per optimizer step, loss over the step's global target tokens, summed gradients),
// a run resumes across world sizes, and a rank that dies or never arrives ends the others with a
// clear error instead of a hang.
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <csignal>

#include "headroom/demo.h"
#include "headroom/distributed.h"
#include "headroom/safetensors.h"
#include "build_features.h"
#include "test_support.h"

using namespace headroom;

namespace {

struct Finished {
    bool inTime = false;
    int exitCode = -1;
    QString err;
    QString describe() const { return QString("exit %1\n--- stderr:\n%2").arg(exitCode).arg(err.right(4000)); }
};

QProcessEnvironment cliEnvironment(const QMap<QString, QString> &extra = {}) {
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    for (const char *name : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"})
        env.remove(name);
    for (auto it = extra.begin(); it != extra.end(); ++it)
        env.insert(it.key(), it.value());
    return env;
}

void start(QProcess &process, const QStringList &args, const QProcessEnvironment &env) {
    process.setProgram(test::binPath("headroom-cli"));
    process.setArguments(args);
    process.setProcessEnvironment(env);
    process.start();
}

Finished wait(QProcess &process, int timeoutMs) {
    Finished f;
    f.inTime = process.waitForFinished(timeoutMs);
    if (!f.inTime) {
        process.kill();
        process.waitForFinished();
    }
    f.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    f.err = QString::fromUtf8(process.readAllStandardError());
    return f;
}

Finished runCli(const QStringList &args, const QMap<QString, QString> &env = {}, int timeoutMs = 120000) {
    QProcess process;
    start(process, args, cliEnvironment(env));
    return wait(process, timeoutMs);
}

// The "loss" and "grad_norm" of each metrics.jsonl step line.
QList<QPair<double, double>> stepMetrics(const QString &outputDir) {
    QFile file(outputDir + "/metrics.jsonl");
    QList<QPair<double, double>> steps;
    if (!file.open(QIODevice::ReadOnly))
        return steps;
    for (const QByteArray &line : file.readAll().split('\n')) {
        const QJsonObject o = QJsonDocument::fromJson(line).object();
        if (o.contains("loss"))
            steps << qMakePair(o["loss"].toDouble(), o["grad_norm"].toDouble());
    }
    return steps;
}

// Largest absolute difference between two adapter files' tensors (all F32, same names).
double adapterDifference(const QString &a, const QString &b) {
    const auto fa = SafetensorsFile::open(a.toStdString());
    const auto fb = SafetensorsFile::open(b.toStdString());
    if (fa->tensors().size() != fb->tensors().size())
        return INFINITY;
    double worst = 0;
    for (const auto &info : fa->tensors())
        worst = std::max(
            worst, (test::readTensor(*fa, info.name) - test::readTensor(*fb, info.name)).abs().max().item<double>());
    return worst;
}

} // namespace

class DistributedTest : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_config;

    // The demo with 4-row micro-batches and no dropout (dropout draws differ per rank by design).
    QStringList train(const QString &outputDir, int accumulation, int maxSteps) const {
        return {"--threads",   "1",
                "train",       m_config,
                "--max-steps", QString::number(maxSteps),
                "--set",       "training.output_dir=" + outputDir,
                "--set",       "training.per_device_train_batch_size=4",
                "--set",       "training.gradient_accumulation_steps=" + QString::number(accumulation),
                "--set",       "lora.lora_dropout=0",
                "--set",       "training.logging_steps=1",
                "--set",       "training.save_strategy=steps",
                "--set",       "training.save_steps=2",
                "--set",       "training.ddp_timeout=20"};
    }

private slots:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        m_config = QString::fromStdString(makeDemo(m_dir.filePath("demo").toStdString()).config);
    }

    void twoProcessesTrainLikeOneWithDoubleAccumulation() {
        HEADROOM_REQUIRE_BUILD_FEATURE(processGroupSupported(false), kDistributedOffOnPurpose,
                                       "Multi-process training on the CPU (c10d with Gloo)", "HEADROOM_DISTRIBUTED");
        const QString one = m_dir.filePath("one"), two = m_dir.filePath("two");
        QProcess single, pair;
        start(single, train(one, 2, 3), cliEnvironment());
        start(pair,
              train(two, 1, 3) << "--nproc"
                               << "2",
              cliEnvironment());
        const Finished s = wait(single, 120000), p = wait(pair, 120000);
        QVERIFY2(s.inTime && s.exitCode == 0, qPrintable(s.describe()));
        QVERIFY2(p.inTime && p.exitCode == 0, qPrintable(p.describe()));
        QVERIFY2(p.err.contains("effective batch 8"), qPrintable(p.describe()));

        const auto a = stepMetrics(one), b = stepMetrics(two);
        QCOMPARE(a.size(), 3);
        QCOMPARE(b.size(), 3); // rank 0 alone writes metrics.jsonl
        for (int i = 0; i < 3; ++i) {
            QVERIFY2(std::abs(a[i].first - b[i].first) <= 1e-4 * std::abs(a[i].first),
                     qPrintable(QString("step %1 loss %2 vs %3").arg(i + 1).arg(a[i].first).arg(b[i].first)));
            QVERIFY2(std::abs(a[i].second - b[i].second) <= 1e-3 * std::abs(a[i].second),
                     qPrintable(QString("step %1 grad_norm %2 vs %3").arg(i + 1).arg(a[i].second).arg(b[i].second)));
        }
        QVERIFY(a[0].first != a[2].first); // it trained
        const double difference =
            adapterDifference(one + "/adapter/adapter_model.safetensors", two + "/adapter/adapter_model.safetensors");
        QVERIFY2(difference < 1e-4, qPrintable(QString("adapters differ by %1").arg(difference)));
    }

    // checkpoint-2 of the 2-process run, continued by one process with accumulation 2, trains step 3
    // as the uninterrupted 1-process run did; another effective batch is refused.
    void resumesWithAnotherWorldSize() {
        HEADROOM_REQUIRE_BUILD_FEATURE(processGroupSupported(false), kDistributedOffOnPurpose,
                                       "Multi-process training on the CPU (c10d with Gloo)", "HEADROOM_DISTRIBUTED");
        const QString checkpoint = m_dir.filePath("two/checkpoint-2"), resumed = m_dir.filePath("resumed");
        QVERIFY2(QDir(checkpoint).exists(), "needs the 2-process run of the previous test");
        const Finished r = runCli(train(resumed, 2, 3) << "--resume" << checkpoint);
        QVERIFY2(r.inTime && r.exitCode == 0, qPrintable(r.describe()));
        const auto expected = stepMetrics(m_dir.filePath("one")), got = stepMetrics(resumed);
        QCOMPARE(got.size(), 1);
        QVERIFY2(std::abs(got[0].first - expected[2].first) <= 1e-4 * std::abs(expected[2].first),
                 qPrintable(QString("step 3 loss %1 vs %2").arg(got[0].first).arg(expected[2].first)));

        const Finished bad = runCli(train(m_dir.filePath("bad"), 1, 3) << "--resume" << checkpoint);
        QVERIFY2(bad.inTime && bad.exitCode == 2 && bad.err.contains("data position 16"), qPrintable(bad.describe()));
    }

    void killedWorkerEndsTheOtherWithAClearError() {
        HEADROOM_REQUIRE_BUILD_FEATURE(processGroupSupported(false), kDistributedOffOnPurpose,
                                       "Multi-process training on the CPU (c10d with Gloo)", "HEADROOM_DISTRIBUTED");
        QProcess launcher;
        start(launcher,
              train(m_dir.filePath("killed"), 1, 50) << "--nproc"
                                                     << "2",
              cliEnvironment());
        // Kill rank 1 once rank 0 reports its first step.
        const QString err = test::readStderrUntil(launcher, "step 1/", 90000);
        const auto match = QRegularExpression("rank 1 of 2 started \\(pid (\\d+)\\)").match(err);
        const qint64 victim = match.hasMatch() ? match.captured(1).toLongLong() : 0;
        QVERIFY2(victim > 0 && err.contains("step 1/"), qPrintable(err));
        QCOMPARE(::kill(pid_t(victim), SIGKILL), 0);
        QElapsedTimer clock;
        clock.start();
        Finished f = wait(launcher, 60000);
        f.err = err + f.err;
        QVERIFY2(f.inTime && f.exitCode == 1, qPrintable(f.describe()));
        QVERIFY2(clock.elapsed() < 20000, qPrintable(QString("took %1 ms").arg(clock.elapsed()))); // < ddp_timeout
        // Rank 0 ended by itself with an error naming the lost rank and the exit code that says "not
        // the cause"; the launcher names the killed one, whichever of the two it reaped first.
        QVERIFY2(f.err.contains(QRegularExpression("error: rank 0 of 2: .* failed: rank 1 ended")),
                 qPrintable(f.describe()));
        QVERIFY2(f.err.contains(QRegularExpression("rank 0 \\(pid \\d+\\) lost its peers \\(exit code 3\\)")),
                 qPrintable(f.describe()));
        QVERIFY2(f.err.contains(QString("error: rank 1 (pid %1) was killed by signal 9").arg(victim)),
                 qPrintable(f.describe()));
        QVERIFY(!f.err.contains("terminate called"));
    }

    // SIGINT to the launcher (as from `kill -INT`, a GUI or Slurm, not a terminal's Ctrl-C to the
    // whole process group) reaches each worker once: all stop at the same step, rank 0 writes a
    // checkpoint there, and every rank exits 1.
    void interruptedLauncherStopsEveryRankAfterACheckpoint() {
        HEADROOM_REQUIRE_BUILD_FEATURE(processGroupSupported(false), kDistributedOffOnPurpose,
                                       "Multi-process training on the CPU (c10d with Gloo)", "HEADROOM_DISTRIBUTED");
        const QString outputDir = m_dir.filePath("interrupted");
        QProcess launcher;
        start(launcher,
              train(outputDir, 1, 50) << "--set"
                                      << "training.save_strategy=no"
                                      << "--nproc"
                                      << "2",
              cliEnvironment());
        const QString err = test::readStderrUntil(launcher, "step 1/", 90000);
        QVERIFY2(err.contains("step 1/"), qPrintable(err));
        QCOMPARE(::kill(pid_t(launcher.processId()), SIGINT), 0);
        Finished f = wait(launcher, 60000);
        f.err = err + f.err;
        QVERIFY2(f.inTime && f.exitCode == 1, qPrintable(f.describe()));
        QVERIFY2(f.err.count("stop requested") == 1, qPrintable(f.describe()));
        for (const QString rank : {"0", "1"})
            QVERIFY2(f.err.contains(QRegularExpression("rank " + rank + " \\(pid \\d+\\) stopped on request")),
                     qPrintable(f.describe()));
        QVERIFY2(f.err.contains("interrupted at step"), qPrintable(f.describe()));
        // save_strategy=no: the one checkpoint is the stop's (the workers' error lines may interleave,
        // so the folder is the evidence, not the path in rank 0's message).
        const QStringList checkpoints = QDir(outputDir).entryList({"checkpoint-*"}, QDir::Dirs);
        QVERIFY2(checkpoints.size() == 1, qPrintable(QDir(outputDir).entryList().join(", ")));
        QVERIFY2(checkpoints[0].mid(11).toInt() < 50, qPrintable(checkpoints[0]));
        QVERIFY(QFile::exists(outputDir + "/" + checkpoints[0] + "/trainer_state.json"));
        QVERIFY(!f.err.contains("terminate called"));
    }

    void rankWhosePeersNeverArriveEndsAtTheTimeout() {
        HEADROOM_REQUIRE_BUILD_FEATURE(processGroupSupported(false), kDistributedOffOnPurpose,
                                       "Multi-process training on the CPU (c10d with Gloo)", "HEADROOM_DISTRIBUTED");
        QElapsedTimer clock;
        clock.start();
        const Finished f = runCli(train(m_dir.filePath("alone"), 1, 1) << "--set"
                                                                       << "training.ddp_timeout=2",
                                  {{"WORLD_SIZE", "2"},
                                   {"RANK", "0"},
                                   {"MASTER_ADDR", "127.0.0.1"},
                                   {"MASTER_PORT", QString::number(freeLocalPort())}});
        QVERIFY2(f.inTime && f.exitCode == 1 && f.err.contains("error: rank 0 of 2: rendezvous at 127.0.0.1"),
                 qPrintable(f.describe()));
        QVERIFY2(clock.elapsed() < 30000, qPrintable(QString("took %1 ms").arg(clock.elapsed())));
    }

    void badLauncherVariablesAreInvalidInput() {
        const Finished rank = runCli(train(m_dir.filePath("env"), 1, 1), {{"WORLD_SIZE", "2"}, {"RANK", "2"}});
        QVERIFY2(rank.exitCode == 2 && rank.err.contains("error: environment variable RANK='2'"),
                 qPrintable(rank.describe()));
        const Finished nproc = runCli(train(m_dir.filePath("env"), 1, 1) << "--nproc"
                                                                         << "3",
                                      {{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "127.0.0.1"}});
        QVERIFY2(nproc.exitCode == 2 && nproc.err.contains("error: --nproc 3 but the environment says WORLD_SIZE=2"),
                 qPrintable(nproc.describe()));
    }

    void nprocWithoutDistributedSupportIsAClearError() {
        if (processGroupSupported(false))
            QSKIP("this build has c10d's Gloo process group; the refusal exists only in builds without it");
        const Finished f = runCli(train(m_dir.filePath("unsupported"), 1, 1) << "--nproc"
                                                                             << "2");
        QVERIFY2(f.exitCode == 2 &&
                     f.err.contains("error: --nproc 2: this build has no multi-process training on the CPU"),
                 qPrintable(f.describe()));
    }
};

QTEST_GUILESS_MAIN(DistributedTest)
#include "distributed_test.moc"
