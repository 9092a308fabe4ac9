#pragma once
/// Which devices get an executor, from the configuration's model.device and model.devices.

#include "runtime/config/worker_config.hpp"

#include <string>
#include <vector>

namespace sdw {

/// The devices to start one executor on: model.device alone when model.devices is empty;
/// "auto" = each of the `cuda_devices` CUDA devices ("cuda:0", ...; the count comes from the
/// engine's cuda_device_count()), else "cpu"; "cpu"; "0,1" = "cuda:0", "cuda:1";
/// "none" = no local executor (only with remote.executors: this worker is a front for executor hosts).
/// sdw::error(bad_request, "model.devices", ...) for anything else.
std::vector<std::string> executor_devices(const worker_config& config, int cuda_devices);

} // namespace sdw
