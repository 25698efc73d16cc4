#include "headroom/byte_size.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

#include "headroom/error.h"

namespace headroom {

int64_t parseByteSize(const std::string &text, const std::string &field) {
    size_t used = 0;
    double value = 0;
    try {
        value = std::stod(text, &used);
    } catch (const std::exception &) {
        used = 0;
    }
    const std::string suffix = text.substr(used);
    static const std::vector<std::pair<std::string, double>> units = {{"", 1},
                                                                      {"B", 1},
                                                                      {"KiB", 1024.0},
                                                                      {"MiB", 1024.0 * 1024},
                                                                      {"GiB", 1024.0 * 1024 * 1024},
                                                                      {"TiB", 1024.0 * 1024 * 1024 * 1024},
                                                                      {"KB", 1e3},
                                                                      {"MB", 1e6},
                                                                      {"GB", 1e9},
                                                                      {"TB", 1e12}};
    // std::stod also reads "inf", "nan" and hexadecimal: only plain decimal numbers are sizes.
    const bool decimal = !text.empty() && (std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '.') &&
                         text.find_first_of("xXpP") == std::string::npos;
    if (decimal && used > 0 && std::isfinite(value) && value > 0)
        for (const auto &[name, factor] : units)
            if (suffix == name)
                if (value * factor < 9.2e18)
                    return int64_t(std::llround(value * factor));
    throw invalidInput(field + ": '" + text + "' is not a size (expected e.g. 16GiB, 512MiB, 1.5GB or a byte count)");
}

std::string formatBytes(int64_t bytes) {
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = double(bytes);
    int unit = 0;
    while (std::abs(value) >= 1024 && unit < 4) {
        value /= 1024;
        ++unit;
    }
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, unit == 0 ? "%.0f %s" : "%.2f %s", value, units[unit]);
    return buffer;
}

} // namespace headroom
