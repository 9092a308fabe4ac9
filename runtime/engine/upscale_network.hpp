#pragma once
/// What an image upscaling network is to the code that runs it: a function of a batch of images.

#include <ATen/Tensor.h>

#include <map>
#include <string>

namespace sdw {

/// A state dict: tensor name → tensor, as a model file holds it.
using state_dict = std::map<std::string, at::Tensor>;

/// A loaded upscaling network (weights on one device, in one dtype).
class upscale_network {
public:
  virtual ~upscale_network() = default;
  /// [N, C, H, W] in the network's dtype and device, channels in the order it was trained on
  /// (BGR for the ESRGAN family), values 0..1 → [N, C, H·s, W·s] (not clamped).
  virtual at::Tensor forward(const at::Tensor& x) const = 0;
  /// The factor it scales by.
  virtual int scale() const = 0;
  /// The architecture's name, for messages ("ESRGAN", "RealESRGAN Compact").
  virtual std::string architecture() const = 0;
};

} // namespace sdw
