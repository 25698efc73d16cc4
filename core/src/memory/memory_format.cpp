#include <fstream>
#include <unistd.h>

#include "headroom/error.h"
#include "headroom/memory.h"

namespace headroom {

nlohmann::json MemoryBreakdown::toJson() const {
    return {{"weights", weights},     {"adapters", adapters},   {"gradients", gradients}, {"optimizer", optimizer},
            {"activations", activations}, {"other", other},     {"allocated", allocated}, {"reserved", reserved},
            {"peak", peak}};
}

int64_t processResidentBytes() {
    std::ifstream statm("/proc/self/statm");
    int64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * int64_t(sysconf(_SC_PAGESIZE));
}

} // namespace headroom
