#include "io/atomic_file.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include <unistd.h>

#include "headroom/error.h"

namespace headroom::detail {

namespace fs = std::filesystem;

void syncDirectory(const std::string &dir) {
    if (FILE *f = std::fopen(dir.c_str(), "r")) {
        fsync(fileno(f));
        std::fclose(f);
    }
}

void writeFileAtomically(const std::string &path, const std::string &bytes) {
    std::error_code error;
    if (fs::path(path).has_parent_path())
        fs::create_directories(fs::path(path).parent_path(), error);
    // A name of its own per writer: two processes may write the same file (a shared cache).
    const std::string temporary = path + ".tmp-" + std::to_string(std::random_device{}());
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!out.flush()) {
            fs::remove(temporary, error);
            throw runtimeFailure(path + ": cannot write " + temporary);
        }
    }
    fs::rename(temporary, path, error);
    if (error) {
        const std::string problem = path + ": cannot rename " + temporary + " into place (" + error.message() + ")";
        fs::remove(temporary, error);
        throw runtimeFailure(problem);
    }
}

} // namespace headroom::detail
