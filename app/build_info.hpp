#pragma once
/// What this binary is: sdworker's version, the libtorch it runs on, the CUDA version that libtorch
/// was built for, and the devices it sees now (`sdworker --version`).

#include <string>

namespace sdw {

/// Several lines: `sdworker X`, `libtorch X`, `CUDA X` (or "not built in"), `devices: ...`.
std::string build_info();

} // namespace sdw
