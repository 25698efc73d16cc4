// The process's memory as the kernel and the C library see it, for the measured "other" category.
#include <fstream>

#include <malloc.h>
#include <unistd.h>

#include "headroom/memory.h"

namespace headroom {

int64_t processResidentBytes() {
    std::ifstream statm("/proc/self/statm");
    int64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * int64_t(sysconf(_SC_PAGESIZE));
}

int64_t mallocRetainedBytes() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    return int64_t(mallinfo2().fordblks);
#else
    return 0;
#endif
}

} // namespace headroom
