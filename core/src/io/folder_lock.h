// One process at a time in a folder: the lock a training run holds on its output folder while it
// lives, so that a second run into the same folder is refused with a line naming the holder instead
// of both writing into it.
//
// The lock is flock(2) on FOLDER/.headroom.lock, which the kernel releases when its process ends,
// however it ends: a lock file left by a killed run is therefore known to be stale without trusting
// the pid written in it (pids are reused), and is taken over. Where the file system has no flock
// (some network mounts), whether the recorded pid still runs on this host decides instead. The file
// records the holder (pid, host, start time) for the messages.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace headroom::detail {

struct LockHolder {
    int64_t pid = 0;
    std::string host, started;
    std::string describe() const; // "process 123 on host, started 2026-01-02 13:04:05"
};

class FolderLock {
public:
    static constexpr const char *kFileName = ".headroom.lock";

    // Takes the lock of `folder`, which must exist. Throws runtimeFailure naming the folder and the
    // holder when a live process holds it.
    explicit FolderLock(const std::filesystem::path &folder);
    // Releases the lock and removes the file.
    ~FolderLock();
    FolderLock(const FolderLock &) = delete;
    FolderLock &operator=(const FolderLock &) = delete;

    // The holder recorded in a stale lock file that this lock took over.
    const std::optional<LockHolder> &takenOver() const { return m_takenOver; }
    // The folder was renamed (moved aside) with this lock in it: where the file is now.
    void folderMoved(const std::filesystem::path &folder);

private:
    void release();

    std::filesystem::path m_file;
    int m_fd = -1;
    std::optional<LockHolder> m_takenOver;
};

} // namespace headroom::detail
