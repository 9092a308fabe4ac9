#include "runtime/engine/sd1_check.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/sd1_layout.hpp"

namespace sdw {

namespace {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool is_float(st_dtype d) {
  return d == st_dtype::f16 || d == st_dtype::bf16 || d == st_dtype::f32 || d == st_dtype::f64;
}

} // namespace

std::map<std::string, const st_tensor*> sd1_tensor_map(const safetensors_file& file) {
  std::map<std::string, const st_tensor*> m;
  for (const auto& t : file.tensors()) m[sd1_canonical_key(t.name)] = &t;
  // A key already in the current layout wins over a renamed older one.
  for (const auto& t : file.tensors()) m[t.name] = &t;
  return m;
}

void check_sd1_checkpoint(const safetensors_file& file, const model_config& config) {
  const auto tensors = sd1_tensor_map(file);
  std::string first;
  size_t faults = 0;
  for (const auto& spec : sd1_checkpoint_layout(config)) {
    auto it = tensors.find(spec.name);
    std::string fault;
    if (it == tensors.end())
      fault = "missing";
    else if (it->second->shape != spec.shape)
      fault = "has shape " + shape_string(it->second->shape) + " but the model expects " + shape_string(spec.shape);
    else if (!is_float(it->second->dtype))
      fault = std::string("has dtype ") + to_string(it->second->dtype) + ", expected a floating-point type";
    if (fault.empty()) continue;
    if (faults++ == 0) first = "tensor '" + spec.name + "': " + fault;
  }
  if (faults == 0) return;
  std::string msg = first;
  if (faults > 1) msg += " (and " + std::to_string(faults - 1) + " more tensors missing or mismatched)";
  msg += "; model config: " + (config.source.empty() ? std::string("defaults") : config.source);
  throw error(errc::bad_checkpoint, file.path(), msg);
}

} // namespace sdw
