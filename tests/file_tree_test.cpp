// Tests of the engine's folder-tree removal and size (io/file_tree.h), which stand in for
// std::filesystem::remove_all and recursive_directory_iterator (see the header for why).
#include "io/file_tree.h"
#include "headroom/error.h"

#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

using namespace headroom;
namespace fs = std::filesystem;

namespace {

void writeBytes(const fs::path &path, size_t count) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << std::string(count, 'x');
}

// removeTree() on entries the running user may not remove or list, in `scratch` (a folder of that
// user's): it must stop with EACCES and leave the entry. Returns what failed, or "" when all held.
std::string unremovableEntryFailure(const fs::path &scratch) {
    const fs::path tree = scratch / "run";
    writeBytes(tree / "locked" / "file", 1);
    ::chmod((tree / "locked").c_str(), 0500);
    std::error_code error;
    detail::removeTree(tree, error);
    ::chmod((tree / "locked").c_str(), 0700);
    if (error.value() != EACCES)
        return "a read-only folder's entry: error " + std::to_string(error.value()) + " (" + error.message() +
               "), expected EACCES";
    if (!fs::exists(tree / "locked" / "file"))
        return "the read-only folder's entry was removed";

    // A folder it may not list is reported as such, not as "directory not empty".
    const fs::path other = scratch / "other";
    writeBytes(other / "unlisted" / "file", 1);
    ::chmod((other / "unlisted").c_str(), 0300);
    detail::removeTree(other, error);
    ::chmod((other / "unlisted").c_str(), 0700);
    if (error.value() != EACCES)
        return "a folder it may not list: error " + std::to_string(error.value()) + " (" + error.message() +
               "), expected EACCES";
    return {};
}

} // namespace

class FileTreeTest : public QObject {
    Q_OBJECT

private slots:
    void removeTreeRemovesNestedFoldersAndLinksButNotWhatTheLinksPointTo() {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        const fs::path tree = root / "run", outside = root / "outside";
        writeBytes(tree / "checkpoint-2" / "adapter" / "adapter_model.safetensors", 100);
        writeBytes(tree / "checkpoint-2" / "trainer_state.json", 10);
        writeBytes(tree / "metrics.jsonl", 5);
        fs::create_directories(tree / "empty" / "deeper");
        writeBytes(outside / "keep.txt", 7);
        fs::create_directory_symlink(outside, tree / "link-to-folder");
        fs::create_symlink(outside / "keep.txt", tree / "link-to-file");

        std::error_code error;
        detail::removeTree(tree, error);
        QVERIFY2(!error, error.message().c_str());
        QVERIFY(!fs::exists(fs::symlink_status(tree)));
        QVERIFY(fs::exists(outside / "keep.txt"));
        QCOMPARE(fs::file_size(outside / "keep.txt"), uintmax_t(7));
    }

    void removeTreeTakesAPlainFileAndAMissingPath() {
        QTemporaryDir tmp;
        const fs::path file = fs::path(tmp.path().toStdString()) / "adapter.gguf";
        writeBytes(file, 3);
        std::error_code error;
        detail::removeTree(file, error);
        QVERIFY2(!error, error.message().c_str());
        QVERIFY(!fs::exists(file));

        detail::removeTree(file, error); // gone already: nothing to do, no error
        QVERIFY2(!error, error.message().c_str());
        detail::removeTree(file);
    }

    void removeTreeReportsAPathItCannotReach() {
        QTemporaryDir tmp;
        const fs::path file = fs::path(tmp.path().toStdString()) / "file.txt";
        writeBytes(file, 1);
        std::error_code error;
        detail::removeTree(file / "sub", error);
        QCOMPARE(error.value(), ENOTDIR);
        try {
            detail::removeTree(file / "sub");
            QFAIL("expected an error");
        } catch (const Error &e) {
            QVERIFY2(std::string(e.what()).find((file / "sub").string() + ": cannot remove") != std::string::npos,
                     e.what());
        }
        QVERIFY(fs::exists(file));
    }

    // Root may remove entries from a read-only folder, so when the suite runs as root (CI does) the
    // checks run in a child process that has become the unprivileged user "nobody".
    void removeTreeStopsAtAnEntryItCannotRemoveAndSaysWhy() {
        if (::geteuid() != 0) {
            QTemporaryDir tmp;
            const std::string failure = unremovableEntryFailure(tmp.path().toStdString());
            QVERIFY2(failure.empty(), failure.c_str());
            return;
        }
        const passwd *nobody = ::getpwnam("nobody");
        QVERIFY2(nobody, "running as root, the check needs the user nobody to run as");
        int pipeEnds[2];
        QVERIFY(::pipe(pipeEnds) == 0);
        const pid_t child = ::fork();
        QVERIFY(child >= 0);
        if (child == 0) {
            ::close(pipeEnds[0]);
            std::string failure;
            char scratch[] = "/tmp/headroom-file-tree-XXXXXX";
            if (::setgroups(0, nullptr) != 0 || ::setgid(nobody->pw_gid) != 0 || ::setuid(nobody->pw_uid) != 0)
                failure = "could not become nobody";
            else if (::geteuid() == 0)
                failure = "still root after setuid";
            else if (!::mkdtemp(scratch))
                failure = "mkdtemp failed as nobody";
            else {
                failure = unremovableEntryFailure(scratch);
                std::error_code ignored;
                detail::removeTree(scratch, ignored);
            }
            if (!failure.empty() && ::write(pipeEnds[1], failure.data(), failure.size()) < 0)
                ::_exit(2);
            ::_exit(failure.empty() ? 0 : 1);
        }
        ::close(pipeEnds[1]);
        std::string failure;
        char buffer[512];
        for (ssize_t n; (n = ::read(pipeEnds[0], buffer, sizeof buffer)) > 0;)
            failure.append(buffer, size_t(n));
        ::close(pipeEnds[0]);
        int status = 0;
        QCOMPARE(::waitpid(child, &status, 0), child);
        QVERIFY2(WIFEXITED(status) && WEXITSTATUS(status) == 0, ("as nobody: " + failure).c_str());
    }

    void treeBytesAddsTheRegularFilesAndNotWhatLinksPointTo() {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        writeBytes(root / "export" / "model-00001.safetensors", 1000);
        writeBytes(root / "export" / "sub" / "config.json", 24);
        writeBytes(root / "big", 5000);
        fs::create_symlink(root / "big", root / "export" / "link");
        QCOMPARE(detail::treeBytes(root / "export"), uint64_t(1024));
        QCOMPARE(detail::treeBytes(root / "export" / "sub" / "config.json"), uint64_t(24));
        try {
            detail::treeBytes(root / "missing");
            QFAIL("expected an error");
        } catch (const Error &e) {
            QVERIFY2(std::string(e.what()).find((root / "missing").string() + ": cannot read") != std::string::npos,
                     e.what());
        }
    }
};

QTEST_GUILESS_MAIN(FileTreeTest)
#include "file_tree_test.moc"
