// Learning-rate schedules per optimizer step, as transformers' get_scheduler builds them:
// linear warmup from 0 over `warmupSteps`, then constant, linear decay to 0, or cosine decay to 0
// at `totalSteps`. Step numbers start at 0 (the first optimizer step uses the multiplier at 0).
#pragma once

#include <cstdint>
#include <string>

namespace headroom {

enum class ScheduleType { Constant, Linear, Cosine };

ScheduleType parseScheduleType(const std::string &name, const std::string &field);

struct LrSchedule {
    ScheduleType type = ScheduleType::Cosine;
    double baseLr = 2e-4;
    int64_t warmupSteps = 0;
    int64_t totalSteps = 1;

    double at(int64_t step) const;
    // warmup_steps when > 0, else ceil(warmup_ratio * total) as transformers' get_warmup_steps does.
    static int64_t warmupFrom(double ratio, int64_t steps, int64_t totalSteps);
};

} // namespace headroom
