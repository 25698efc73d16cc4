#include "io/folder_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

#include "headroom/error.h"

namespace headroom::detail {

namespace fs = std::filesystem;

namespace {

std::string hostName() {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    return name;
}

std::string localTimeNow() {
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    ::localtime_r(&now, &local);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
    return text;
}

std::string readAll(int fd) {
    std::string text;
    char buffer[512];
    ssize_t n;
    for (off_t offset = 0; (n = ::pread(fd, buffer, sizeof buffer, offset)) > 0; offset += n)
        text.append(buffer, size_t(n));
    return text;
}

// A file cut short (its writer killed at that moment) gives a holder with nothing known.
LockHolder parseHolder(const std::string &text) {
    LockHolder holder;
    try {
        const auto json = nlohmann::json::parse(text);
        holder.pid = json.at("pid").get<int64_t>();
        holder.host = json.at("host").get<std::string>();
        holder.started = json.at("started").get<std::string>();
    } catch (const nlohmann::json::exception &) {
    }
    return holder;
}

bool processRuns(int64_t pid) { return pid > 0 && pid <= INT_MAX && (::kill(pid_t(pid), 0) == 0 || errno == EPERM); }

// Whether this process now holds the lock. flock answers for live processes only; on a file
// system without it, the recorded holder is asked whether it still runs (on this host).
bool tryLock(int fd) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0)
        return true;
    if (errno == EWOULDBLOCK)
        return false;
    const LockHolder holder = parseHolder(readAll(fd));
    return !(holder.host == hostName() && holder.pid != ::getpid() && processRuns(holder.pid));
}

// False when the file was removed (its holder released it) between our open() and our lock.
bool stillNamedBy(int fd, const fs::path &path) {
    struct stat opened {
    }, named{};
    return ::fstat(fd, &opened) == 0 && ::stat(path.c_str(), &named) == 0 && opened.st_dev == named.st_dev &&
           opened.st_ino == named.st_ino;
}

} // namespace

std::string LockHolder::describe() const {
    if (pid <= 0)
        return "a process that had not recorded itself yet";
    return "process " + std::to_string(pid) + (host.empty() ? "" : " on " + host) +
           (started.empty() ? "" : ", started " + started);
}

FolderLock::FolderLock(const fs::path &folder) : m_file(folder / kFileName) {
    for (int attempt = 0; attempt < 3 && m_fd < 0; ++attempt) {
        const int fd = ::open(m_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            throw runtimeFailure(m_file.string() + ": cannot create the lock file (" + std::strerror(errno) + ")");
        if (!tryLock(fd)) {
            const LockHolder holder = parseHolder(readAll(fd));
            ::close(fd);
            throw runtimeFailure(folder.string() + ": another training run is using this output folder (" +
                                 holder.describe() + "); wait for it to end or choose another training.output_dir");
        }
        if (!stillNamedBy(fd, m_file)) {
            ::close(fd);
            continue;
        }
        m_fd = fd;
    }
    if (m_fd < 0)
        throw runtimeFailure(m_file.string() + ": cannot take the lock (it keeps being replaced)");
    const std::string recorded = readAll(m_fd);
    if (!recorded.empty()) // released locks are removed: this one's holder ended without releasing it
        m_takenOver = parseHolder(recorded);
    const std::string line =
        nlohmann::json{{"pid", int64_t(::getpid())}, {"host", hostName()}, {"started", localTimeNow()}}.dump() + "\n";
    if (::ftruncate(m_fd, 0) != 0 || ::pwrite(m_fd, line.data(), line.size(), 0) != ssize_t(line.size())) {
        const std::string problem = m_file.string() + ": cannot write the lock file (" + std::strerror(errno) + ")";
        release(); // no destructor runs for a constructor that throws
        throw runtimeFailure(problem);
    }
}

FolderLock::~FolderLock() { release(); }

void FolderLock::release() {
    ::unlink(m_file.c_str()); // while still held, so no one takes a lock on a file about to vanish
    ::close(m_fd);
}

void FolderLock::folderMoved(const fs::path &folder) { m_file = folder / kFileName; }

} // namespace headroom::detail
