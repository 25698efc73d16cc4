#include "memory/process_memory.h"

#include <malloc.h>

namespace headroom {

int64_t mallocRetainedBytes() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    return int64_t(mallinfo2().fordblks);
#else
    return 0;
#endif
}

} // namespace headroom
