#include "app/build_info.hpp"

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/headeronly/version.h>

#include <string>

#ifdef SDW_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace sdw {
namespace {

/// 13000 → "13.0".
std::string cuda_version_text(long v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

std::string devices() {
  std::string out = "cpu";
#ifdef SDW_WITH_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return out + " (no CUDA device: " + std::string(cudaGetErrorString(cudaGetDeviceCount(&n))) + ")";
  }
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    out += ", cuda:" + std::to_string(i) + " (" + p.name + ", " +
           std::to_string(p.totalGlobalMem >> 30) + " GiB, sm_" + std::to_string(p.major) + std::to_string(p.minor) + ")";
  }
#endif
  return out;
}

} // namespace

std::string build_info() {
  std::string out = "sdworker " SDW_VERSION "\nlibtorch " TORCH_VERSION "\n";
  const long cudart = at::detail::getCUDAHooks().versionCUDART();
  if (cudart > 0) {
    out += "CUDA " + cuda_version_text(cudart) + " (libtorch's build)";
#ifdef CUDART_VERSION
    out += ", " + cuda_version_text(CUDART_VERSION) + " (sdworker's build)";
#endif
    out += "\n";
  } else {
    out += "CUDA not built in\n";
  }
  return out + "devices: " + devices() + "\n";
}

} // namespace sdw
