#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "headroom/error.h"

namespace headroom {

ScheduleType parseScheduleType(const std::string &name, const std::string &field) {
    if (name == "constant" || name == "constant_with_warmup")
        return ScheduleType::Constant;
    if (name == "linear")
        return ScheduleType::Linear;
    if (name == "cosine")
        return ScheduleType::Cosine;
    throw invalidInput(field + ": '" + name + "' is not one of constant, linear, cosine");
}

double LrSchedule::at(int64_t step) const {
    if (step < warmupSteps)
        return baseLr * double(step) / double(std::max<int64_t>(1, warmupSteps));
    const double decaySteps = double(std::max<int64_t>(1, totalSteps - warmupSteps));
    const double progress = double(step - warmupSteps) / decaySteps;
    switch (type) {
    case ScheduleType::Constant: return baseLr;
    case ScheduleType::Linear: return baseLr * std::max(0.0, 1.0 - progress);
    case ScheduleType::Cosine: return baseLr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
    }
    return baseLr;
}

int64_t LrSchedule::warmupFrom(double ratio, int64_t steps, int64_t totalSteps) {
    return steps > 0 ? steps : int64_t(std::ceil(ratio * double(totalSteps)));
}

} // namespace headroom
