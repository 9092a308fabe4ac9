#include "runtime/engine/cuda_devices.hpp"

#include <c10/cuda/CUDACachingAllocator.h>
#include <torch/cuda.h>

namespace sdw {

int cuda_device_count() {
  return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
}

cuda_memory cuda_memory_of(int index) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
  const auto all = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
  return {stats.allocated_bytes[all].current, stats.allocated_bytes[all].peak, stats.reserved_bytes[all].current,
          stats.reserved_bytes[all].peak};
}

void release_cuda_cache() { c10::cuda::CUDACachingAllocator::emptyCache(); }

void reset_cuda_memory_peak(int index) {
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(index));
}

} // namespace sdw
