#pragma once
/// `sdworker bench`: the engine's speed on this machine, measured (not a test).

#include <string>
#include <vector>

namespace sdw {

/// Arguments of `sdworker bench`.
struct bench_args {
  std::string model;  ///< empty = an sd15-size random checkpoint made in model_dir
  std::string model_dir = "models";
  std::vector<int> sizes{256, 512};
  int repeats = 3;
  std::string device = "auto";
  std::string dtype = "auto";
  std::string clip_vocab;
  std::string json_out;
  bool widen_weights = false;
};

/// Prints load, text-encode, UNet-step (CFG batch 2), VAE-decode and PNG-encode times.
int run_bench(const bench_args& args);

} // namespace sdw
