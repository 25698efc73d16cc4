// Output (a folder or a file) that appears at its destination only when complete: it is written at
// a staging path beside the destination and moved into place by commit(), so a crash, a kill or an
// error never leaves a half-written result under the final name. Used for checkpoints, adapters,
// exports and the demo.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace headroom::detail {

class StagedOutput {
public:
    // Beside: "<dir>/<name>.tmp-<pid>" (and "<name>.old-<pid>" for a replaced folder); Hidden: the
    // same names with a leading dot, for outputs whose staging copies must not look like one of
    // them (a checkpoint-N folder).
    enum Naming { Beside, Hidden };

    // `destination` is made absolute, without a trailing separator. `what` names the output in
    // errors ("cannot move the finished <what> into place"). A staging path this process left there
    // earlier is removed.
    StagedOutput(const std::filesystem::path &destination, std::string what, Naming naming = Beside);
    // Removes the staging path unless committed.
    ~StagedOutput();
    StagedOutput(const StagedOutput &) = delete;
    StagedOutput &operator=(const StagedOutput &) = delete;

    // Where to write the output, and where it ends up.
    const std::filesystem::path &tmp() const { return m_tmp; }
    const std::filesystem::path & final() const { return m_final; }
    // Creates tmp() (and the folders above it) as a folder; runtimeFailure naming the destination
    // when it cannot.
    void createFolder() const;
    // Moves tmp() onto final(). A file replaces the old one in one rename. A folder is synced, an
    // existing destination moved aside, the new one renamed in, the parent synced, and only then is
    // the old one removed; when the rename fails the old one is moved back (the error says where it
    // is when even that fails). Throws runtimeFailure naming the destination.
    void commit();

private:
    std::filesystem::path m_final, m_tmp, m_aside;
    std::string m_what;
    bool m_committed = false;
};

// What a killed process leaves in `folder` (not below it): "<name>.tmp-<pid>" (killed while
// writing) and "<name>.old-<pid>" (killed between moving the old output aside and renaming the new
// one in, when it is the only copy of the old output), dotted when hidden. For each one whose pid no
// longer runs, a "tmp" is removed and an "old" is moved back to its name when nothing took that
// place, else removed. Paths of live processes are left alone. Says what was done, one phrase per
// path ("removed .checkpoint-6.tmp-123, left by process 123"). Call it only in a folder this
// process owns (a run's output folder under its lock): the names are StagedOutput's and, for
// files, writeFileAtomically's.
std::vector<std::string> cleanUpAfterDeadProcesses(const std::filesystem::path &folder);

} // namespace headroom::detail
