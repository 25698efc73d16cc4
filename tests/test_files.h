// Torch-free helpers for tests that read fixtures (usable by BASE_ONLY tests).
#pragma once

#include <cstdlib>
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

} // namespace headroom::test
