#include "runtime/engine/compact_net.hpp"

#include "runtime/base/errors.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

namespace sdw {
namespace {

/// spandrel's get_scale_and_output_channels: out·s² = channels with out one of (in, 3, 4, 1).
std::pair<int, int64_t> scale_and_channels(int64_t channels, int64_t in, const std::string& file) {
  for (const int64_t c : {in, int64_t{3}, int64_t{4}, int64_t{1}}) {
    if (c <= 0 || channels % c != 0) continue;
    const auto s = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(channels / c))));
    if (s * s == channels / c) return {static_cast<int>(s), c};
  }
  throw error(errc::bad_checkpoint, file,
              "not an SRVGGNetCompact model: its last layer's " + std::to_string(channels) +
                " channels are no square multiple of 1, 3 or 4 output channels");
}

class compact_net final : public upscale_network {
public:
  compact_net(const state_dict& state, const std::string& file, c10::Device device, c10::ScalarType dtype) {
    const auto need = [&](const std::string& key) {
      const auto it = state.find(key);
      if (it == state.end())
        throw error(errc::bad_checkpoint, file, "not a complete SRVGGNetCompact model: no tensor " + key);
      return it->second.to(device, dtype);
    };
    int last = -1;
    for (const auto& [k, v] : state) {
      if (k.rfind("body.", 0) != 0) continue;
      const std::string index = k.substr(5, k.find('.', 5) - 5);
      if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos) continue;
      last = std::max(last, std::stoi(index));
    }
    // Convolutions at even indices, PReLUs between them: body.0 … body.last, last even.
    if (last < 2 || last % 2 != 0)
      throw error(errc::bad_checkpoint, file, "not an SRVGGNetCompact model: its body ends at layer " + std::to_string(last));
    for (int i = 0; i <= last; ++i) {
      const std::string p = "body." + std::to_string(i);
      if (i % 2 == 0) {
        convs_.push_back({need(p + ".weight"), need(p + ".bias")});
      } else {
        prelus_.push_back(need(p + ".weight"));
      }
    }
    const int64_t in = convs_.front().first.size(1);
    scale_ = scale_and_channels(convs_.back().first.size(0), in, file).first;
    try {
      forward(at::zeros({1, in, 4, 4}, at::TensorOptions().device(device).dtype(dtype)));
    } catch (const c10::Error& e) {
      throw error(errc::bad_checkpoint, file,
                  std::string("the SRVGGNetCompact model's tensors do not fit together: ") + e.what_without_backtrace());
    }
  }

  at::Tensor forward(const at::Tensor& x) const override {
    at::Tensor out = x;
    for (std::size_t i = 0; i < convs_.size(); ++i) {
      out = at::conv2d(out, convs_[i].first, convs_[i].second, 1, 1);
      if (i < prelus_.size()) out = at::prelu(out, prelus_[i]);
    }
    out = at::pixel_shuffle(out, scale_);
    return out + at::upsample_nearest2d(x, {x.size(2) * scale_, x.size(3) * scale_});
  }

  int scale() const override { return scale_; }
  std::string architecture() const override { return "RealESRGAN Compact"; }

private:
  std::vector<std::pair<at::Tensor, at::Tensor>> convs_;
  std::vector<at::Tensor> prelus_;
  int scale_ = 4;
};

} // namespace

bool is_compact_state(const state_dict& state) { return state.count("body.0.weight") && state.count("body.1.weight"); }

std::unique_ptr<upscale_network> make_compact_net(const state_dict& state, const std::string& file, c10::Device device,
                                                  c10::ScalarType dtype) {
  return std::make_unique<compact_net>(state, file, device, dtype);
}

} // namespace sdw
