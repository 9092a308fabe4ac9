#pragma once
// The tiny model and CLIP tokenizer an engine test binary shares, and what its PyTorch reference
// cases need from it: prompt token ids and the reference's raw float32 output.

#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/sd_model.hpp"
#include "tests/support/tiny_model.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <memory>
#include <string>
#include <vector>

namespace sdw::test {

struct tiny_engine {
  tiny_engine()
    : model(sd_model::load(tiny_model(dir), {"cpu", "f32"})), tokenizer(clip_tokenizer::from_file(clip_vocab())) {}
  temp_dir dir;
  std::shared_ptr<sd_model> model;
  clip_tokenizer tokenizer;

  /// The 77 token ids A1111 gives a short prompt (start, the words, end padding) as a JSON array.
  std::string tokens_json(const std::string& prompt) const {
    std::vector<int> ids{clip_tokenizer::start_id()};
    for (int id : tokenizer.encode(prompt)) ids.push_back(id);
    ids.resize(77, clip_tokenizer::end_id());
    std::string out = "[";
    for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
    return out + "]";
  }
};

inline tiny_engine& shared_tiny_engine() {
  static tiny_engine e;
  return e;
}

/// A raw little-endian float32 file as a 1-D tensor.
inline at::Tensor read_f32_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  const auto bytes = static_cast<int64_t>(f.tellg());
  f.seekg(0);
  auto t = at::empty({bytes > 0 ? bytes / 4 : 0}, at::kFloat);
  if (bytes > 0) f.read(reinterpret_cast<char*>(t.data_ptr<float>()), bytes);
  return t;
}

/// How far `ours` is from the reference's latents in the raw float32 file at `path`: the largest
/// difference relative to the reference's largest magnitude. Throws when the sizes differ.
inline double relative_difference_to_file(const at::Tensor& ours, const std::string& path) {
  const at::Tensor want = read_f32_file(path);
  if (want.numel() != ours.numel())
    throw std::runtime_error(path + " holds " + std::to_string(want.numel()) + " values, not " +
                             std::to_string(ours.numel()));
  const at::Tensor shaped = want.view(ours.sizes());
  return (ours - shaped).abs().max().item<double>() / shaped.abs().max().item<double>();
}

/// The largest difference, in levels, between the images' pixels and the reference's 8-bit RGB
/// bytes in `rgb`, the images one after another. Throws when the sizes differ.
template <class Images>
int worst_level_difference(const Images& images, const std::vector<uint8_t>& rgb) {
  size_t at = 0;
  int worst = 0;
  for (const auto& image : images) {
    if (rgb.size() < at + image.pixels.size()) throw std::runtime_error("the reference holds fewer pixels than the images");
    for (uint8_t v : image.pixels) worst = std::max(worst, std::abs(int(v) - int(rgb[at++])));
  }
  if (at != rgb.size()) throw std::runtime_error("the reference holds more pixels than the images");
  return worst;
}

} // namespace sdw::test
