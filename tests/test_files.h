// Torch-free helpers for tests that read fixtures (usable by BASE_ONLY tests).
#pragma once

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <QStringList>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace headroom::test {

// A path under tests/data (HEADROOM_TEST_DATA, set by ctest).
inline std::string testData(const std::string &relative) {
    const char *root = std::getenv("HEADROOM_TEST_DATA");
    return std::string(root ? root : "tests/data") + "/" + relative;
}

inline std::string readFile(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

inline std::string readText(const std::filesystem::path &path) { return readFile(path.string()); }

// The names in `dir`, sorted.
inline QStringList namesIn(const std::filesystem::path &dir) {
    QStringList names;
    for (const auto &entry : std::filesystem::directory_iterator(dir))
        names << QString::fromStdString(entry.path().filename().string());
    names.sort();
    return names;
}

// The pid of a process that has ended (a child that exited at once).
inline pid_t deadPid() {
    const pid_t child = ::fork();
    if (child == 0)
        ::_exit(0);
    ::waitpid(child, nullptr, 0);
    return child;
}

} // namespace headroom::test
