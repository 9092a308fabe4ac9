#pragma once
/// The CUDA devices libtorch sees, for the configuration's `model.devices = auto`.

namespace sdw {

/// How many CUDA devices libtorch can use; 0 without CUDA (a CPU build or no driver).
int cuda_device_count();

} // namespace sdw
