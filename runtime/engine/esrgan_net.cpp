#include "runtime/engine/esrgan_net.hpp"

#include "runtime/base/errors.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <regex>
#include <vector>

namespace sdw {
namespace {

/// A 3×3 (or 1×1) convolution with the padding that keeps the size.
struct conv {
  at::Tensor weight;
  at::Tensor bias;  ///< undefined for ESRGAN+'s conv1x1
  at::Tensor operator()(const at::Tensor& x) const {
    return at::conv2d(x, weight, bias, 1, weight.size(-1) / 2);
  }
};

at::Tensor lrelu(const at::Tensor& x) { return at::leaky_relu(x, 0.2); }

struct dense_block {
  conv c[5];
  conv c1x1;  ///< ESRGAN+ only
  at::Tensor operator()(const at::Tensor& x) const {
    const at::Tensor x1 = lrelu(c[0](x));
    at::Tensor x2 = lrelu(c[1](at::cat({x, x1}, 1)));
    if (c1x1.weight.defined()) x2 = x2 + c1x1(x);
    const at::Tensor x3 = lrelu(c[2](at::cat({x, x1, x2}, 1)));
    at::Tensor x4 = lrelu(c[3](at::cat({x, x1, x2, x3}, 1)));
    if (c1x1.weight.defined()) x4 = x4 + x2;
    const at::Tensor x5 = c[4](at::cat({x, x1, x2, x3, x4}, 1));
    return x5 * 0.2 + x;
  }
};

struct rrdb {
  dense_block rdb[3];
  at::Tensor operator()(const at::Tensor& x) const { return rdb[2](rdb[1](rdb[0](x))) * 0.2 + x; }
};

/// The largest N + 1 of keys `prefix.N.…` (spandrel's get_seq_len).
int seq_len(const state_dict& state, const std::string& prefix) {
  int n = 0;
  for (const auto& [k, v] : state) {
    if (k.compare(0, prefix.size() + 1, prefix + ".") != 0) continue;
    const std::string rest = k.substr(prefix.size() + 1);
    const auto dot = rest.find('.');
    const std::string index = rest.substr(0, dot);
    if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos) continue;
    n = std::max(n, std::stoi(index) + 1);
  }
  return n;
}

/// The new layouts' keys renamed to the old one (spandrel's _to_old_arch).
state_dict to_old_layout(const state_dict& state) {
  if (state.count("conv_first.weight") == 0) return state;
  state_dict old;
  const std::regex block(R"((?:RRDB_trunk|body)\.(\d+)\.(?:RDB|rdb)(\d)\.conv(\d+)\.(weight|bias))");
  const std::regex up(R"((?:upconv|conv_up)(\d)\.(weight|bias))");
  int blocks = 0;
  int max_up = 0;
  std::smatch m;
  for (const auto& [k, v] : state) {
    if (std::regex_match(k, m, block)) {
      old["model.1.sub." + m[1].str() + ".RDB" + m[2].str() + ".conv" + m[3].str() + ".0." + m[4].str()] = v;
      blocks = std::max(blocks, std::stoi(m[1].str()) + 1);
    } else if (std::regex_match(k, m, up)) {
      const int index = std::stoi(m[1].str()) * 3;
      old["model." + std::to_string(index) + "." + m[2].str()] = v;
      max_up = std::max(max_up, index);
    }
  }
  for (const char* kind : {"weight", "bias"}) {
    const std::string k(kind);
    if (state.count("conv_first." + k)) old["model.0." + k] = state.at("conv_first." + k);
    for (const char* body : {"trunk_conv.", "conv_body."}) {
      if (state.count(body + k)) old["model.1.sub." + std::to_string(blocks) + "." + k] = state.at(body + k);
    }
    for (const char* hr : {"HRconv.", "conv_hr."}) {
      if (state.count(hr + k)) old["model." + std::to_string(max_up + 2) + "." + k] = state.at(hr + k);
    }
    if (state.count("conv_last." + k)) old["model." + std::to_string(max_up + 4) + "." + k] = state.at("conv_last." + k);
  }
  return old;
}

class esrgan_net final : public upscale_network {
public:
  esrgan_net(const state_dict& canonical, const std::string& file, c10::Device device, c10::ScalarType dtype) {
    const state_dict state = to_old_layout(canonical);
    const auto need = [&](const std::string& key) {
      const auto it = state.find(key);
      if (it == state.end()) throw error(errc::bad_checkpoint, file, "not a complete ESRGAN model: no tensor " + key);
      return it->second.to(device, dtype);
    };
    const auto conv_at = [&](const std::string& prefix) { return conv{need(prefix + ".weight"), need(prefix + ".bias")}; };
    const int len = seq_len(state, "model");
    if (len < 5 || (len - 5) % 3 != 0)
      throw error(errc::bad_checkpoint, file, "not an ESRGAN model: " + std::to_string(len) + " top-level layers");
    const int ups = (len - 5) / 3;
    scale_ = 1 << ups;
    first_ = conv_at("model.0");
    const int nb = seq_len(state, "model.1.sub") - 1;
    if (nb < 1) throw error(errc::bad_checkpoint, file, "not an ESRGAN model: no residual blocks");
    bool plus = false;
    for (const auto& [k, v] : state) plus = plus || k.find(".conv1x1.") != std::string::npos;
    for (int b = 0; b < nb; ++b) {
      rrdb block;
      for (int r = 0; r < 3; ++r) {
        const std::string p = "model.1.sub." + std::to_string(b) + ".RDB" + std::to_string(r + 1);
        for (int c = 0; c < 5; ++c) block.rdb[r].c[c] = conv_at(p + ".conv" + std::to_string(c + 1) + ".0");
        if (plus) block.rdb[r].c1x1 = conv{need(p + ".conv1x1.weight"), {}};
      }
      blocks_.push_back(std::move(block));
    }
    trunk_ = conv_at("model.1.sub." + std::to_string(nb));
    for (int u = 0; u < ups; ++u) ups_.push_back(conv_at("model." + std::to_string(3 * (u + 1))));
    hr_ = conv_at("model." + std::to_string(3 * ups + 2));
    last_ = conv_at("model." + std::to_string(3 * ups + 4));
    const auto in = first_.weight.size(1);
    const auto out = last_.weight.size(0);
    // Real-ESRGAN x2plus sees its input pixel-unshuffled: 4 (or 16) times the channels.
    if (in == out * 4 || in == out * 16) shuffle_ = static_cast<int>(std::lround(std::sqrt(static_cast<double>(in / out))));
    in_channels_ = in / (shuffle_ * shuffle_);
    // A forward pass on a few pixels finds every shape that does not fit.
    try {
      forward(at::zeros({1, in_channels_, 4, 4}, at::TensorOptions().device(device).dtype(dtype)));
    } catch (const c10::Error& e) {
      throw error(errc::bad_checkpoint, file, std::string("the ESRGAN model's tensors do not fit together: ") + e.what_without_backtrace());
    }
  }

  at::Tensor forward(const at::Tensor& input) const override {
    at::Tensor x = input;
    const auto h = x.size(2), w = x.size(3);
    if (shuffle_ > 1) {
      const int64_t pad_h = (shuffle_ - h % shuffle_) % shuffle_;
      const int64_t pad_w = (shuffle_ - w % shuffle_) % shuffle_;
      if (pad_h != 0 || pad_w != 0) x = at::reflection_pad2d(x, {0, pad_w, 0, pad_h});
      x = at::pixel_unshuffle(x, shuffle_);
    }
    const at::Tensor fea = first_(x);
    at::Tensor t = fea;
    for (const auto& b : blocks_) t = b(t);
    at::Tensor y = fea + trunk_(t);
    for (const auto& u : ups_) y = lrelu(u(at::upsample_nearest2d(y, {y.size(2) * 2, y.size(3) * 2})));
    y = last_(lrelu(hr_(y)));
    // spandrel 0.1.6 cuts to h·scale with the network's own scale (before unshuffling), which
    // keeps the padded rows and columns: kept here too.
    if (shuffle_ > 1) y = y.narrow(2, 0, std::min(y.size(2), h * scale_)).narrow(3, 0, std::min(y.size(3), w * scale_));
    return y;
  }

  int scale() const override { return scale_ / shuffle_; }
  std::string architecture() const override { return "ESRGAN"; }

private:
  conv first_;
  std::vector<rrdb> blocks_;
  conv trunk_;
  std::vector<conv> ups_;
  conv hr_;
  conv last_;
  int scale_ = 4;  ///< of the network proper, after any unshuffle
  int shuffle_ = 1;
  int64_t in_channels_ = 3;
};

} // namespace

bool is_esrgan_state(const state_dict& s) {
  const auto has = [&](std::initializer_list<const char*> keys) {
    for (const char* k : keys) {
      if (s.count(k) == 0) return false;
    }
    return true;
  };
  return has({"model.0.weight", "model.1.sub.0.RDB1.conv1.0.weight"}) ||
         has({"conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight", "conv_last.weight"}) ||
         has({"conv_first.weight", "RRDB_trunk.0.RDB1.conv1.weight", "trunk_conv.weight", "conv_last.weight"}) ||
         has({"model.0.weight", "model.1.sub.0.RDB1.conv1x1.weight"});
}

std::unique_ptr<upscale_network> make_esrgan_net(const state_dict& state, const std::string& file, c10::Device device,
                                                 c10::ScalarType dtype) {
  return std::make_unique<esrgan_net>(state, file, device, dtype);
}

} // namespace sdw
