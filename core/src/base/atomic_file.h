// Files that readers see whole or not at all, private to the engine (configs, caches, timelines).
#pragma once

#include <string>

namespace headroom::detail {

// Writes `bytes` to a temporary file beside `path` and renames it over `path`, so a reader (or a
// crash) finds the old file or the complete new one, never a part. Creates the parent folder.
// Throws runtimeFailure naming the file; the temporary is removed on failure.
void writeFileAtomically(const std::string &path, const std::string &bytes);

} // namespace headroom::detail
