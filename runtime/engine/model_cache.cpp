#include "runtime/engine/model_cache.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <system_error>

namespace sdw {

namespace {

/// Paths compare as the files they name.
std::string canonical_or_same(const std::string& path) {
  std::error_code ec;
  const auto c = std::filesystem::canonical(path, ec);
  return ec ? path : c.string();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

model_cache::model_cache(device_options device, size_t budget_bytes)
  : device_(std::move(device)), budget_(budget_bytes) {}

std::list<model_cache::entry>::iterator model_cache::find(const std::string& path) {
  const std::string real = canonical_or_same(path);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (canonical_or_same(it->model->path()) == real) {
      return it;
    }
  }
  return entries_.end();
}

void model_cache::put(std::shared_ptr<const sd_model> model) {
  if (auto it = find(model->path()); it != entries_.end()) {
    bytes_ -= it->bytes;
    entries_.erase(it);
  }
  const size_t size = model->weight_bytes();
  make_room(size);
  entries_.push_front(entry{std::move(model), {}, size});
  bytes_ += size;
}

void model_cache::make_room(size_t wanted, size_t keep) {
  // Least recently used first; the budget may be smaller than one model, which then stays alone.
  while (entries_.size() > keep && bytes_ + wanted > budget_) {
    const entry& last = entries_.back();
    spdlog::info("model cache: letting go of {} ({:.0f} MiB) to stay within {:.0f} MiB", last.model->path(),
                 static_cast<double>(last.bytes) / (1 << 20), static_cast<double>(budget_) / (1 << 20));
    bytes_ -= last.bytes;
    entries_.pop_back();
  }
}

std::shared_ptr<const sd_model> model_cache::get(const std::string& path, const std::string& vae_path,
                                                 const load_progress& progress) {
  auto it = find(path);
  if (it == entries_.end()) {
    const auto t0 = std::chrono::steady_clock::now();
    // What the file will take is known only once loaded; the estimate is the file's size, so that
    // what goes out first makes room before the new weights arrive.
    std::error_code ec;
    const auto file_bytes = std::filesystem::file_size(path, ec);
    make_room(ec ? 0 : static_cast<size_t>(file_bytes));
    std::shared_ptr<const sd_model> loaded = sd_model::load(path, device_, progress);
    ++loads_;
    const size_t size = loaded->weight_bytes();
    make_room(size);
    entries_.push_front(entry{std::move(loaded), {}, size});
    bytes_ += size;
    it = entries_.begin();
    spdlog::info("model cache: loaded {} in {:.2f} s ({:.0f} MiB held of {:.0f} MiB)", path, seconds_since(t0),
                 static_cast<double>(bytes_) / (1 << 20), static_cast<double>(budget_) / (1 << 20));
  } else if (it != entries_.begin()) {
    entries_.splice(entries_.begin(), entries_, it);
    it = entries_.begin();
  }
  if (vae_path.empty()) {
    return it->model;
  }
  const std::string real_vae = canonical_or_same(vae_path);
  for (const auto& [p, m] : it->with_vaes) {
    if (p == real_vae) {
      return m;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<const sd_model> with = it->model->with_vae(real_vae, device_);
  ++loads_;
  const size_t size = with->vae().weight_bytes();
  make_room(size, 1);
  it->with_vaes.emplace_back(real_vae, with);
  it->bytes += size;
  bytes_ += size;
  spdlog::info("model cache: VAE {} for {} in {:.2f} s", real_vae, path, seconds_since(t0));
  return with;
}

std::shared_ptr<const sd_model> model_cache::current() const {
  return entries_.empty() ? nullptr : entries_.front().model;
}

std::vector<cached_model> model_cache::contents() const {
  std::vector<cached_model> out;
  for (const auto& e : entries_) {
    cached_model c{e.model->path(), {}, e.bytes};
    for (const auto& [p, _] : e.with_vaes) {
      c.vaes.push_back(p);
    }
    out.push_back(std::move(c));
  }
  return out;
}

void model_cache::clear() {
  entries_.clear();
  bytes_ = 0;
}

} // namespace sdw
