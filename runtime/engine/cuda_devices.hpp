#pragma once
/// The CUDA devices libtorch sees, for the configuration's `model.devices = auto`, and what
/// torch's caching allocator holds on them.

#include <cstdint>

namespace sdw {

/// How many CUDA devices libtorch can use; 0 without CUDA (a CPU build or no driver).
int cuda_device_count();

/// Bytes of tensors allocated on CUDA device `index`: now and the peak since the last reset.
struct cuda_memory {
  int64_t allocated = 0;
  int64_t peak_allocated = 0;
  int64_t reserved = 0;  ///< held by the allocator (what nvidia-smi shows, less the context)
  int64_t peak_reserved = 0;
};
cuda_memory cuda_memory_of(int index);
void reset_cuda_memory_peak(int index);
/// Returns the allocator's unused cached blocks to the driver (cuDNN's benchmark leaves large
/// workspaces behind).
void release_cuda_cache();

} // namespace sdw
