// The C library's side of a CPU process's memory, for the measured "other" category.
#pragma once

#include <cstdint>

namespace headroom {

// Bytes malloc holds free for reuse (glibc's mallinfo2().fordblks; 0 where unavailable). Small
// tensors freed after the step's peak stay there and in the resident set: they were counted in the
// peak's activations already, so "other" (resident - allocator reserve) leaves them out.
int64_t mallocRetainedBytes();

} // namespace headroom
