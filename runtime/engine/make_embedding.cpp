#include "runtime/engine/make_embedding.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/prompt_chunks.hpp"
#include "runtime/engine/safetensors.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

namespace sdw {

namespace {

st_write_entry random_vectors(const std::string& name, std::int64_t width, int vectors, at::Generator& gen) {
  if (vectors < 1 || vectors > chunk_length) {
    throw error(errc::bad_request, "vectors", "must be 1.." + std::to_string(chunk_length));
  }
  if (width < 1) {
    throw error(errc::bad_request, "width", "must be at least 1");
  }
  const at::Tensor values = (at::randn({vectors, width}, gen, at::TensorOptions().dtype(at::kFloat)) * 0.02).contiguous();
  st_write_entry entry{name, st_dtype::f32, {vectors, width}, ""};
  entry.bytes.assign(static_cast<const char*>(values.data_ptr()), static_cast<size_t>(values.nbytes()));
  return entry;
}

} // namespace

void make_embedding(std::int64_t width, int vectors, std::uint64_t seed, const std::string& out_path) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  write_safetensors(out_path, {random_vectors("emb_params", width, vectors, gen)}, {});
}

void make_sdxl_embedding(std::int64_t width_l, std::int64_t width_g, int vectors, std::uint64_t seed,
                         const std::string& out_path) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  st_write_entry l = random_vectors("clip_l", width_l, vectors, gen);
  st_write_entry g = random_vectors("clip_g", width_g, vectors, gen);
  write_safetensors(out_path, {std::move(l), std::move(g)}, {});
}

} // namespace sdw
