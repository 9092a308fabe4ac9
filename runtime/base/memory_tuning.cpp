#include "runtime/base/memory_tuning.hpp"

#include <malloc.h>

namespace sdw {

void keep_freed_memory() {
  // Serve every size from the heap (no per-allocation mmap) and never trim it.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, -1);
  mallopt(M_TOP_PAD, 64 << 20);
}

} // namespace sdw
