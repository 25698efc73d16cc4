// Whole folder trees for the engine: removing one, adding up its size.
//
// Written on libc's nftw() rather than std::filesystem::remove_all and recursive_directory_iterator:
// PyTorch's pip wheels (torch 2.11.0+cu130 seen) ship a libtorch.so that exports its own copy of
// std::filesystem, which the dynamic linker binds the engine's calls to, and its remove_all calls a
// symbol that resolves to nothing once a folder has contents: a segfault (bench, find-batch and
// checkpoint rotation on an H200, 2026-11-26). libc's functions have no second copy.
#pragma once

#include <cstdint>
#include <filesystem>
#include <system_error>

namespace headroom::detail {

// Removes `path` and, when it is a folder, everything in it, never following symbolic links; a path
// that does not exist is no error. Sets `error` at the first entry that cannot be removed (and
// stops there) or clears it.
void removeTree(const std::filesystem::path &path, std::error_code &error);

// The same, throwing runtimeFailure naming the path.
void removeTree(const std::filesystem::path &path);

// The bytes of the regular files at or under `path` (symbolic links not followed). Throws
// runtimeFailure naming the path when it cannot be read.
uint64_t treeBytes(const std::filesystem::path &path);

} // namespace headroom::detail
