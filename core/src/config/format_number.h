// A number as a person reads it in a message: the shortest default stream form (0.05, 1e-06, 50).
#pragma once

#include <sstream>
#include <string>

namespace headroom::detail {

inline std::string formatNumber(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

} // namespace headroom::detail
