#include "headroom/memory.h"

namespace headroom {

nlohmann::json MemoryBreakdown::toJson() const {
    return {{"weights", weights},     {"adapters", adapters},       {"gradients", gradients},
            {"optimizer", optimizer}, {"activations", activations}, {"other", other},
            {"allocated", allocated}, {"reserved", reserved},       {"peak", peak}};
}

} // namespace headroom
