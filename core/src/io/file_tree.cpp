#include "io/file_tree.h"

#include <cerrno>
#include <cstdio>

#include <ftw.h>
#include <sys/stat.h>

#include "headroom/error.h"

namespace headroom::detail {

namespace {

constexpr int kOpenFolders = 32; // nftw's limit on folders held open at once

// nftw calls back a plain function: the walk's state lives here, one walk per thread at a time.
thread_local int t_removeErrno = 0;
thread_local uint64_t t_bytes = 0;

int removeEntry(const char *path, const struct stat *, int kind, struct FTW *) {
    if (kind == FTW_DNR) { // a folder it cannot list: removing it would only say "not empty"
        t_removeErrno = EACCES;
        return 1;
    }
    if (std::remove(path) != 0) {
        t_removeErrno = errno;
        return 1;
    }
    return 0;
}

int addFileBytes(const char *, const struct stat *status, int kind, struct FTW *) {
    if (kind == FTW_F && S_ISREG(status->st_mode))
        t_bytes += uint64_t(status->st_size);
    return 0;
}

} // namespace

void removeTree(const std::filesystem::path &path, std::error_code &error) {
    error.clear();
    struct stat status;
    if (::lstat(path.c_str(), &status) != 0) {
        if (errno != ENOENT)
            error = std::error_code(errno, std::generic_category());
        return;
    }
    t_removeErrno = 0;
    // Depth first (a folder after its contents), physical (a link is removed, not followed).
    const int result = ::nftw(path.c_str(), removeEntry, kOpenFolders, FTW_DEPTH | FTW_PHYS);
    if (result != 0)
        error = std::error_code(t_removeErrno ? t_removeErrno : errno, std::generic_category());
}

void removeTree(const std::filesystem::path &path) {
    std::error_code error;
    removeTree(path, error);
    if (error)
        throw runtimeFailure(path.string() + ": cannot remove (" + error.message() + ")");
}

uint64_t treeBytes(const std::filesystem::path &path) {
    t_bytes = 0;
    if (::nftw(path.c_str(), addFileBytes, kOpenFolders, FTW_PHYS) != 0)
        throw runtimeFailure(path.string() + ": cannot read (" +
                             std::error_code(errno, std::generic_category()).message() + ")");
    return t_bytes;
}

} // namespace headroom::detail
