#pragma once
/// Copies checkpoint tensors into module parameters, checking names and shapes.

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <memory>
#include <string>

namespace torch::nn {
class Module;
}

namespace sdw {

class safetensors_file;

/// Where and in what precision a model's weights live.
struct weight_placement {
  c10::Device device = c10::Device(c10::kCPU);
  c10::ScalarType dtype = c10::kFloat;  ///< the compute dtype
  /// On CPU, leave fp16/bf16 weights in the file mapping and widen each one when a layer uses
  /// it: the model is ready as soon as the file is mapped, instead of after writing gigabytes
  /// of fresh float32 memory, for a little more work per step. Results are the same.
  bool keep_file_dtype = false;
  /// Convolution weights and activations channels-last (see to_channels_last).
  bool channels_last = true;
  /// CUDA only: replay the UNet's step as captured CUDA graphs (see unet_graphs).
  bool cuda_graphs = false;
};

/// Fills every parameter of `module` from the tensor named `prefix + parameter name` in `file`.
/// A missing tensor, a shape mismatch or a non-float dtype is an error naming the file and tensor.
/// float32 tensors already in place are used without a copy (they point into the mapping).
void load_weights(torch::nn::Module& module, const std::shared_ptr<const safetensors_file>& file,
                  const std::string& prefix, const weight_placement& placement);

/// Stores every 4-D parameter (convolution weights) of `module` channels-last, the layout the
/// networks' activations use: oneDNN and cuDNN then convolve without reordering.
void to_channels_last(torch::nn::Module& module);

} // namespace sdw
