#pragma once
/// `sdworker generate` and `sdworker make-model`: the engine from the command line.

#include <cstdint>
#include <string>

namespace sdw {

/// Arguments of `sdworker generate`.
struct generate_args {
  std::string model;        ///< checkpoint; empty = the embedded tiny random-weight demo model
  std::string model_dir = "models";
  std::string input;        ///< A1111 txt2img body or RunPod job JSON
  std::string out_dir;
  std::string dump_latent;  ///< optional .npy path for the final latent (first image)
  std::string device = "auto";
  std::string dtype = "auto";
  std::string clip_vocab;   ///< empty = search the usual places
  bool cuda_graphs = true;     ///< CUDA: replay the UNet step as CUDA graphs
  bool widen_weights = false;  ///< CPU: widen fp16 weights to float32 at load (see device_options)
  std::string lora_dir = "models/Lora";  ///< where the prompt's <lora:name:weight> tags are looked up
  std::string embeddings_dir = "models/embeddings";  ///< the textual-inversion embeddings prompts may name
};

/// Runs one txt2img request end to end and writes PNGs plus response.json. Returns the exit code.
int run_generate(const generate_args& args);

} // namespace sdw
