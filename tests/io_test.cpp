// Tests of the staged output (io/staged_output.h) that checkpoints, adapters, exports and the demo
// are written through: the destination changes only on commit, no staging copy is left behind, and
// what a killed process left is cleared; and of the lock a run holds on its output folder
// (io/folder_lock.h).
#include "io/folder_lock.h"
#include "io/staged_output.h"
#include "headroom/error.h"
#include "test_files.h"

#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

using namespace headroom;
using test::namesIn;
using test::readText;
namespace fs = std::filesystem;

namespace {

void writeText(const fs::path &path, const std::string &text) { std::ofstream(path, std::ios::binary) << text; }

} // namespace

class IoTest : public QObject {
    Q_OBJECT

private slots:
    void commitReplacesAnExistingFolder() {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString(), out = root / "out";
        fs::create_directories(out);
        writeText(out / "old.txt", "old");
        {
            detail::StagedOutput staged(out.string() + "/", "output"); // a trailing separator names the folder
            QCOMPARE(staged.final(), out);
            QCOMPARE(staged.tmp().parent_path(), root);
            staged.createFolder();
            writeText(staged.tmp() / "new.txt", "new");
            QVERIFY(fs::exists(out / "old.txt")); // nothing changes before commit
            staged.commit();
        }
        QCOMPARE(namesIn(out), QStringList{"new.txt"});
        QCOMPARE(readText(out / "new.txt"), std::string("new"));
        QCOMPARE(namesIn(root), QStringList{"out"}); // neither the staging copy nor the old one is left
    }

    void aFailureBeforeCommitLeavesTheDestinationAndNoStagingFolder() {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString(), out = root / "out";
        fs::create_directories(out);
        writeText(out / "old.txt", "old");
        try {
            detail::StagedOutput staged(out, "output");
            staged.createFolder();
            writeText(staged.tmp() / "half.txt", "half");
            throw runtimeFailure("interrupted");
        } catch (const Error &) {
        }
        QCOMPARE(namesIn(root), QStringList{"out"});
        QCOMPARE(namesIn(out), QStringList{"old.txt"});
    }

    void aFileDestinationIsReplacedInOneRename() {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString(), file = root / "adapter.gguf";
        writeText(file, "old");
        {
            detail::StagedOutput staged(file, "output");
            writeText(staged.tmp(), "new");
            staged.commit();
        }
        QCOMPARE(readText(file), std::string("new"));
        QCOMPARE(namesIn(root), QStringList{"adapter.gguf"});
    }

    void hiddenStagingNamesStartWithADot() {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString(), out = root / "checkpoint-5";
        detail::StagedOutput staged(out, "checkpoint", detail::StagedOutput::Hidden);
        QCOMPARE(staged.tmp().parent_path(), root);
        QVERIFY(staged.tmp().filename().string().rfind(".checkpoint-5.tmp-", 0) == 0);
        staged.createFolder();
        staged.commit();
        QCOMPARE(namesIn(root), QStringList{"checkpoint-5"});
    }

    void aFailedCommitSaysSoAndKeepsTheDestination() {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString(), out = root / "out";
        fs::create_directories(out);
        writeText(out / "old.txt", "old");
        detail::StagedOutput staged(out, "export"); // nothing was staged: the rename fails
        try {
            staged.commit();
            QFAIL("commit succeeded without a staged output");
        } catch (const Error &e) {
            QCOMPARE(e.kind(), ErrorKind::RuntimeFailure);
            QVERIFY2(std::string(e.what()).find(out.string() + ": cannot move the finished export into place") == 0,
                     e.what());
        }
        QCOMPARE(namesIn(out), QStringList{"old.txt"});
    }

    // Staging a killed process left (issue 21: they stayed even after a successful resume): removed
    // when that process is gone; an "old" copy that nothing replaced (killed between moving the old
    // output aside and renaming the new one in) goes back under its name; a live process's staging
    // and other files stay.
    void leftoversOfDeadProcessesAreCleared() {
        QTemporaryDir tmp;
        const fs::path out = tmp.path().toStdString();
        const std::string dead = std::to_string(test::deadPid()), alive = std::to_string(::getpid());
        for (const std::string &name : {".checkpoint-6.tmp-" + dead, "adapter.tmp-" + dead, "adapter.tmp-" + alive,
                                        ".checkpoint-4.old-" + dead, std::string("adapter"), "adapter.old-" + dead})
            fs::create_directories(out / name / "inner");
        writeText(out / (".checkpoint-4.old-" + dead) / "inner" / "state.json", "4");
        writeText(out / ("notes.tmp-" + dead + ".txt"), "mine");
        const auto done = detail::cleanUpAfterDeadProcesses(out);
        QCOMPARE(int(done.size()), 4);
        QCOMPARE(namesIn(out), (QStringList{"adapter", QString::fromStdString("adapter.tmp-" + alive), "checkpoint-4",
                                            QString::fromStdString("notes.tmp-" + dead + ".txt")}));
        QCOMPARE(readText(out / "checkpoint-4" / "inner" / "state.json"), std::string("4"));
        QVERIFY2(done[0].find("left by process " + dead) != std::string::npos, done[0].c_str());
    }

    // One process at a time: a second lock on the folder is refused naming the holder (pid, start
    // time); released, the file is gone and the next one takes it quietly; a file left by a holder
    // that ended without releasing it (killed) is taken over, and which one it was is said.
    void aFolderLockIsHeldByOneProcessAtATime() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        const fs::path file = dir / detail::FolderLock::kFileName;
        {
            detail::FolderLock first(dir);
            QVERIFY(!first.takenOver());
            try {
                detail::FolderLock second(dir);
                QFAIL("a second lock was granted");
            } catch (const Error &e) {
                QCOMPARE(e.kind(), ErrorKind::RuntimeFailure);
                const std::string what = e.what();
                QVERIFY2(what.find(dir.string()) == 0 &&
                             what.find("process " + std::to_string(::getpid())) != std::string::npos &&
                             what.find(", started ") != std::string::npos,
                         e.what());
            }
        }
        QVERIFY(!fs::exists(file));
        const std::string dead = std::to_string(test::deadPid());
        writeText(file, "{\"pid\": " + dead + ", \"host\": \"elsewhere\", \"started\": \"2026-01-02 03:04:05\"}\n");
        detail::FolderLock taken(dir);
        QVERIFY(taken.takenOver());
        QCOMPARE(std::to_string(taken.takenOver()->pid), dead);
        QCOMPARE(taken.takenOver()->started, std::string("2026-01-02 03:04:05"));
    }
};

QTEST_GUILESS_MAIN(IoTest)
#include "io_test.moc"
