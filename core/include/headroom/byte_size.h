// Byte counts as people write them ("16GiB", "512MiB", "1.5GB") and as Headroom prints them.
#pragma once

#include <cstdint>
#include <string>

namespace headroom {

// Parses "123", "512MiB", "16GiB", "1.5GB"; throws invalidInput naming `field`.
int64_t parseByteSize(const std::string &text, const std::string &field);
std::string formatBytes(int64_t bytes); // "1.24 GiB"

} // namespace headroom
