// Tests of the staged output (io/staged_output.h) that checkpoints, adapters, exports and the demo
// are written through: the destination changes only on commit, and no staging copy is left behind.
#include "io/staged_output.h"
#include "headroom/error.h"

#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <fstream>
#include <iterator>

using namespace headroom;
namespace fs = std::filesystem;

namespace {

void writeText(const fs::path &path, const std::string &text) { std::ofstream(path, std::ios::binary) << text; }

std::string readText(const fs::path &path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// The names in `dir`, sorted.
QStringList namesIn(const fs::path &dir) {
    QStringList names;
    for (const auto &entry : fs::directory_iterator(dir))
        names << QString::fromStdString(entry.path().filename().string());
    names.sort();
    return names;
}

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
};

QTEST_GUILESS_MAIN(IoTest)
#include "io_test.moc"
