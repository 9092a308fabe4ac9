#include "runtime/base/errors.hpp"
#include "runtime/config/executor_devices.hpp"

#include <string>
#include <vector>

namespace sdw {

std::vector<std::string> executor_devices(const worker_config& config, int cuda_devices) {
  const std::string& list = config.devices;
  if (list.empty()) {
    return {config.device};
  }
  if (list == "cpu") {
    return {"cpu"};
  }
  if (list == "none") {
    return {};
  }
  std::vector<std::string> out;
  if (list == "auto" || list == "all") {
    for (int i = 0; i < cuda_devices; ++i) {
      out.push_back("cuda:" + std::to_string(i));
    }
    if (out.empty()) {
      out.push_back("cpu");
    }
    return out;
  }
  for (const std::string& item : split_list(list)) {
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos || item.size() > 3) {
      throw error(errc::bad_request, "model.devices",
                  "must be auto, cpu, none or CUDA ordinals like \"0,1\", got '" + list + "'");
    }
    const std::string name = "cuda:" + std::to_string(std::stoi(item));
    for (const auto& seen : out) {
      if (seen == name) {
        throw error(errc::bad_request, "model.devices", "device " + item + " is listed twice");
      }
    }
    out.push_back(name);
  }
  return out;
}

} // namespace sdw
