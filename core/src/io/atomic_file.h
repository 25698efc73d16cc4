// Files that readers see whole or not at all, private to the engine (configs, caches, timelines).
#pragma once

#include <string>

namespace headroom::detail {

// Writes `bytes` to a temporary file beside `path` and renames it over `path`, so a reader (or a
// crash) finds the old file or the complete new one, never a part. Creates the parent folder.
// Throws runtimeFailure naming the file; the temporary is removed on failure.
void writeFileAtomically(const std::string &path, const std::string &bytes);

// fsyncs a folder's entry, so a rename in it survives a power cut, not just a kill.
void syncDirectory(const std::string &dir);

} // namespace headroom::detail
