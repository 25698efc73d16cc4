#include "io/staged_output.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <regex>
#include <utility>

#include "headroom/error.h"
#include "io/atomic_file.h"
#include "io/file_tree.h"

namespace headroom::detail {

namespace fs = std::filesystem;

namespace {

fs::path absoluteFolderOrFile(const fs::path &destination) {
    const fs::path path = fs::absolute(destination).lexically_normal();
    return path.has_filename() ? path : path.parent_path(); // "out/" -> "out"
}

// The one place the staging names are made: "<name>.<tag>-<pid>", dotted when hidden.
fs::path sibling(const fs::path &final, StagedOutput::Naming naming, const char *tag) {
    const std::string name = (naming == StagedOutput::Hidden ? "." : "") + final.filename().string() + "." + tag + "-" +
                             std::to_string(::getpid());
    return final.parent_path() / name;
}

// kill(pid, 0) answers without sending anything; EPERM means the process exists (another user's).
// A number beyond any pid (writeFileAtomically's random suffixes) belongs to no process.
bool processRuns(long long pid) { return pid > 0 && pid <= INT_MAX && (::kill(pid_t(pid), 0) == 0 || errno == EPERM); }

// A dead process's "old" copy: back under its own name when nothing replaced it, since it is then
// the only copy of that output; removed otherwise, like any staging leftover.
std::string cleanUpOld(const fs::path &path, const std::string &finalName, const std::string &owner) {
    std::error_code ec;
    const fs::path final = path.parent_path() / finalName;
    if (!fs::exists(fs::symlink_status(final, ec))) {
        fs::rename(path, final, ec);
        if (!ec)
            return "moved " + path.filename().string() + " back to " + finalName + " (" + owner + ")";
    }
    removeTree(path, ec);
    return ec ? std::string() : "removed " + path.filename().string() + " (" + owner + ")";
}

} // namespace

std::vector<std::string> cleanUpAfterDeadProcesses(const fs::path &folder) {
    // sibling()'s names: "<name>.<tag>-<pid>", with a leading dot for Hidden (checkpoints).
    static const std::regex staging(R"((\.?)(.+)\.(tmp|old)-([0-9]{1,18}))");
    std::vector<fs::path> entries; // listed first: what follows renames and removes entries
    std::error_code ec;
    for (const auto &entry : fs::directory_iterator(folder, ec))
        entries.push_back(entry.path());
    std::vector<std::string> done;
    for (const auto &path : entries) {
        const std::string name = path.filename().string();
        std::smatch match;
        if (!std::regex_match(name, match, staging) || processRuns(std::stoll(match[4].str())))
            continue;
        const std::string owner = "left by process " + match[4].str() + ", which has ended";
        std::string what;
        if (match[3] == "old") {
            what = cleanUpOld(path, match[2].str(), owner);
        } else {
            std::error_code removeError;
            removeTree(path, removeError);
            if (!removeError)
                what = "removed " + name + " (" + owner + ")";
        }
        if (!what.empty())
            done.push_back(what);
    }
    return done;
}

StagedOutput::StagedOutput(const fs::path &destination, std::string what, Naming naming)
    : m_final(absoluteFolderOrFile(destination)), m_tmp(sibling(m_final, naming, "tmp")),
      m_aside(sibling(m_final, naming, "old")), m_what(std::move(what)) {
    std::error_code ec;
    removeTree(m_tmp, ec);
}

StagedOutput::~StagedOutput() {
    if (!m_committed) {
        std::error_code ec;
        removeTree(m_tmp, ec);
    }
}

void StagedOutput::createFolder() const {
    std::error_code ec;
    fs::create_directories(m_tmp, ec);
    if (ec)
        throw runtimeFailure(m_final.string() + ": cannot create the output folder (" + ec.message() + ")");
}

void StagedOutput::commit() {
    std::error_code ec;
    // rename() replaces a file atomically but not a folder, which has to be moved aside first.
    const bool folder = fs::is_directory(m_tmp, ec);
    if (folder)
        syncDirectory(m_tmp.string());
    const bool moveAside = folder && fs::exists(fs::symlink_status(m_final, ec));
    if (moveAside) {
        fs::rename(m_final, m_aside, ec);
        if (ec)
            throw runtimeFailure(m_final.string() + ": cannot move the earlier " + m_what + " aside (" + ec.message() +
                                 ")");
    }
    fs::rename(m_tmp, m_final, ec);
    if (ec) {
        std::string kept;
        std::error_code restore;
        if (moveAside) {
            fs::rename(m_aside, m_final, restore);
            if (restore)
                kept = "; the earlier " + m_what + " is at " + m_aside.string();
        }
        throw runtimeFailure(m_final.string() + ": cannot move the finished " + m_what + " into place (" +
                             ec.message() + ")" + kept);
    }
    m_committed = true;
    syncDirectory(m_final.parent_path().string());
    if (moveAside)
        removeTree(m_aside, ec); // the new one is in place: a copy of the old one left here is only clutter
}

} // namespace headroom::detail
