#include "runtime/engine/make_embedding.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/prompt_chunks.hpp"
#include "runtime/engine/safetensors.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

namespace sdw {

void make_embedding(std::int64_t width, int vectors, std::uint64_t seed, const std::string& out_path) {
  if (vectors < 1 || vectors > chunk_length) {
    throw error(errc::bad_request, "vectors", "must be 1.." + std::to_string(chunk_length));
  }
  if (width < 1) {
    throw error(errc::bad_request, "width", "must be at least 1");
  }
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor values = (at::randn({vectors, width}, gen, at::TensorOptions().dtype(at::kFloat)) * 0.02).contiguous();
  st_write_entry entry{"emb_params", st_dtype::f32, {vectors, width}, ""};
  entry.bytes.assign(static_cast<const char*>(values.data_ptr()), static_cast<size_t>(values.nbytes()));
  write_safetensors(out_path, {entry}, {});
}

} // namespace sdw
