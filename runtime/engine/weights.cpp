#include "runtime/engine/weights.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/safetensors.hpp"

#include <torch/torch.h>

#include <memory>
#include <sstream>

namespace sdw {
namespace {

std::string shape_text(c10::IntArrayRef shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) {
    out << (i ? ", " : "") << shape[i];
  }
  out << ']';
  return out.str();
}

c10::ScalarType torch_dtype(const st_tensor& t, const std::string& path) {
  switch (t.dtype) {
    case st_dtype::f32: return c10::kFloat;
    case st_dtype::f16: return c10::kHalf;
    case st_dtype::bf16: return c10::kBFloat16;
    case st_dtype::f64: return c10::kDouble;
    default:
      throw error(errc::bad_checkpoint, path,
                  "tensor '" + t.name + "' has dtype " + to_string(t.dtype) + ", expected a float type");
  }
}

} // namespace

void load_weights(torch::nn::Module& module, const std::shared_ptr<const safetensors_file>& file_ptr,
                  const std::string& prefix, const weight_placement& placement) {
  const safetensors_file& file = *file_ptr;
  torch::NoGradGuard no_grad;
  // The mapping must outlive tensors that point into it.
  std::shared_ptr<const safetensors_file> keep_alive = file_ptr;
  for (auto& item : module.named_parameters(/*recurse=*/true)) {
    const std::string key = prefix + item.key();
    const st_tensor* t = file.find(key);
    if (t == nullptr) {
      throw error(errc::bad_checkpoint, file.path(), "tensor '" + key + "' is missing");
    }
    auto& param = item.value();
    std::vector<int64_t> shape(t->shape.begin(), t->shape.end());
    if (c10::IntArrayRef(shape) != param.sizes()) {
      throw error(errc::bad_checkpoint, file.path(),
                  "tensor '" + key + "' has shape " + shape_text(shape) + ", the model expects " +
                    shape_text(param.sizes()));
    }
    const auto src_type = torch_dtype(*t, file.path());
    auto src = torch::from_blob(const_cast<uint8_t*>(t->data), shape,
                                [keep_alive](void*) {}, torch::TensorOptions().dtype(src_type));
    const bool narrower = src_type == c10::kHalf || src_type == c10::kBFloat16;
    if (placement.device.is_cpu() &&
        (src_type == placement.dtype || (placement.keep_file_dtype && narrower && placement.dtype == c10::kFloat))) {
      param.set_data(src);
    } else {
      param.set_data(src.to(placement.device, placement.dtype, /*non_blocking=*/false, /*copy=*/true));
    }
    param.requires_grad_(false);
  }
}

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    if (p.dim() == 4 && !p.is_contiguous(at::MemoryFormat::ChannelsLast)) {
      p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
}

} // namespace sdw
