#pragma once
// The SDXL tiny preset an engine test binary shares (no yaml: its layout is detected), with its
// networks loaded on the CPU, and what its PyTorch reference cases need: .npy files and JSON lists.

#include "runtime/base/npy.hpp"
#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/make_model.hpp"
#include "runtime/engine/model_config.hpp"
#include "runtime/engine/model_detect.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/sd1_layout.hpp"
#include "runtime/engine/text_encoder.hpp"
#include "runtime/engine/unet.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/tiny_model.hpp"

#include <ATen/ATen.h>

#include <iomanip>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace sdw::test {

struct sdxl_tiny_model {
  sdxl_tiny_model() {
    make_model(model_preset::sdxl_tiny, st_dtype::f32, 11, path);
    file = safetensors_file::open(path);
    config = detect_model_config(*file);
    clip_l.load(file, {});
    bigg.load(file, {});
    unet.load(file, {});
  }
  temp_dir dir;
  std::string path = dir.file("sdxl-tiny.safetensors");
  std::shared_ptr<const safetensors_file> file;
  model_config config;
  model_config preset = preset_config(model_preset::sdxl_tiny);
  sdw::text_encoder clip_l{preset.text, std::string(sdxl_text_prefix)};
  sdw::text_encoder bigg{*preset.text2, std::string(sdxl_text2_prefix)};
  sdw::unet unet{preset.unet};
  clip_tokenizer tokenizer = clip_tokenizer::from_file(clip_vocab());
};

inline sdxl_tiny_model& sdxl_tiny() {
  static sdxl_tiny_model m;
  return m;
}

inline void save_npy(const std::string& path, const at::Tensor& t) {
  auto c = t.to(at::kFloat).contiguous();
  write_npy_f32(path, std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel()), c.sizes().vec());
}

// Numbers as JSON, floats with every digit float32 needs.
template <class T>
std::string json_list(const std::vector<T>& v) {
  std::ostringstream s;
  s << std::setprecision(9) << "[";
  for (size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
  s << "]";
  return s.str();
}

} // namespace sdw::test
