#include "runtime/engine/cuda_devices.hpp"

#include <torch/cuda.h>

namespace sdw {

int cuda_device_count() {
  return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
}

} // namespace sdw
