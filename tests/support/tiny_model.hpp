#pragma once
// The tiny random-weight checkpoint every engine test shares, made once per test binary.

#include "runtime/engine/make_model.hpp"
#include "tests/support/temp_dir.hpp"

#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace sdw::test {

/// The tiny preset (f32), made in `dir` unless already there.
inline std::string tiny_model(const temp_dir& dir, const std::string& name = "tiny.safetensors") {
  const std::string path = dir.file(name);
  if (!std::filesystem::exists(path)) {
    make_model(model_preset::tiny, st_dtype::f32, 7, path);
  }
  return path;
}

/// The CLIP vocabulary from ../shared (tests never download anything).
inline std::string clip_vocab() {
  const char* shared = std::getenv("SDW_SHARED_DIR");
  return std::string(shared ? shared : "../shared") + "/clip/bpe_simple_vocab_16e6.txt.gz";
}

} // namespace sdw::test
