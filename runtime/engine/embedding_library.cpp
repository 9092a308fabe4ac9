#include "runtime/engine/embedding_library.hpp"

#include "runtime/catalog/model_folders.hpp"
#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/model_config.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <system_error>

namespace sdw {
namespace fs = std::filesystem;
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

/// os.walk(followlinks=True), top-down, each folder's files before its subfolders, names in order;
/// only what really lies inside `root`, each folder once. (Not files_inside: A1111's later file of
/// a name replaces the earlier, so the order must be os.walk's.)
void walk(const fs::path& root, const fs::path& folder, std::set<fs::path>& seen, std::vector<fs::path>& files) {
  std::error_code ec;
  std::vector<fs::path> entries;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    entries.push_back(it->path());
  }
  std::sort(entries.begin(), entries.end());
  std::vector<fs::path> folders;
  for (const fs::path& entry : entries) {
    const fs::path real = fs::canonical(entry, ec);
    if (ec) {
      ec.clear();
      continue;
    }
    if (!path_inside(root, real)) {
      spdlog::debug("Embeddings folder: {} leads outside {}; skipped", entry.string(), root.string());
      continue;
    }
    if (fs::is_directory(real, ec)) {
      if (seen.insert(real).second) folders.push_back(real);
    } else if (fs::is_regular_file(real, ec)) {
      files.push_back(entry.parent_path() / entry.filename());
    }
  }
  for (const fs::path& f : folders) walk(root, f, seen, files);
}

} // namespace

embedding_kind embedding_kind_of(const model_config& config) {
  if (config.text2) {
    return {config.text.width + config.text2->width, true};
  }
  return {config.text.width, false};
}

embedding_set::embedding_set(const std::string& dir, embedding_kind kind, std::shared_ptr<const clip_tokenizer> tokenizer)
  : tokenizer_(std::move(tokenizer)) {
  std::error_code ec;
  const fs::path root = fs::canonical(dir, ec);
  if (ec || !fs::is_directory(root, ec)) {
    return;
  }
  std::set<fs::path> seen{root};
  std::vector<fs::path> files;
  walk(root, root, seen, files);
  for (const fs::path& file : files) {
    try {
      // Checked again at the moment of reading: the entry may have become a link since the walk.
      const fs::path real = fs::canonical(file);
      if (!path_inside(root, real) || fs::file_size(real) == 0) {
        continue;
      }
      std::optional<text_embedding> e = read_embedding_file(real.string());
      if (e) {
        e->name = file.stem().string();
        add(std::move(*e), kind);
      }
    } catch (const std::exception& ex) {
      spdlog::error("Error loading embedding {}: {}", file.filename().string(), ex.what());
    }
  }
  // A1111 lists the loaded ones sorted by lower-cased name (stable: equal keys keep their order).
  std::stable_sort(loaded_.begin(), loaded_.end(),
                   [](const entry& a, const entry& b) { return lower(a->name) < lower(b->name); });
  if (!loaded_.empty() || !skipped_.empty()) {
    spdlog::info("Textual inversion embeddings loaded({}), skipped({})", loaded_.size(), skipped_.size());
  }
}

void embedding_set::add(text_embedding e, embedding_kind kind) {
  auto shared = std::make_shared<const text_embedding>(std::move(e));
  const std::string& name = shared->name;
  // A later file of the same name replaces the earlier one in its place (a Python dict).
  auto replace_or_append = [&](std::vector<entry>& list) {
    for (auto& x : list) {
      if (x->name == name) {
        x = shared;
        return;
      }
    }
    list.push_back(shared);
  };
  // A pair on a one-encoder model, or one tensor on SDXL, fails in A1111 when used; listed as skipped here.
  if (shared->shape != kind.width || shared->clip_g.defined() != kind.pairs) {
    replace_or_append(skipped_);
    return;
  }
  const std::vector<int> ids = tokenizer_->encode(name);
  if (ids.empty()) {
    throw std::runtime_error("the name " + name + " has no tokens");
  }
  auto& lookup = ids_lookup_[ids.front()];
  lookup.erase(std::remove_if(lookup.begin(), lookup.end(), [&](const auto& x) { return x.second->name == name; }),
               lookup.end());
  lookup.emplace_back(ids, shared);
  std::stable_sort(lookup.begin(), lookup.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  replace_or_append(loaded_);
}

std::pair<const text_embedding*, std::size_t> embedding_set::find_at(const std::vector<int>& tokens,
                                                                     std::size_t offset) const {
  auto it = ids_lookup_.find(tokens.at(offset));
  if (it == ids_lookup_.end()) {
    return {nullptr, 0};
  }
  for (const auto& [ids, e] : it->second) {
    // Python's slice comparison: a name longer than what is left never matches.
    if (offset + ids.size() <= tokens.size() &&
        std::equal(ids.begin(), ids.end(), tokens.begin() + static_cast<std::ptrdiff_t>(offset))) {
      return {e.get(), ids.size()};
    }
  }
  return {nullptr, 0};
}

embedding_library::reading* embedding_library::find_locked(embedding_kind kind) {
  for (reading& r : readings_) {
    if (r.kind == kind) return &r;
  }
  return nullptr;
}

embedding_library::reading& embedding_library::read_locked(embedding_kind kind) {
  reading* r = find_locked(kind);
  if (r == nullptr) {
    readings_.push_back(reading{kind, std::nullopt, nullptr});
    r = &readings_.back();
  }
  std::error_code ec;
  const auto mtime = fs::last_write_time(dir_, ec);
  r->mtime = ec ? std::nullopt : std::optional<fs::file_time_type>(mtime);
  r->set = std::make_shared<const embedding_set>(dir_, kind, tokenizer_);
  return *r;
}

void embedding_library::load_for(embedding_kind kind, std::shared_ptr<const clip_tokenizer> tokenizer) {
  std::lock_guard<std::mutex> lock(mutex_);
  tokenizer_ = std::move(tokenizer);
  readings_.clear();
  last_kind_ = kind;
  read_locked(kind);
}

std::shared_ptr<const embedding_set> embedding_library::current(embedding_kind kind) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!tokenizer_) {
    return nullptr;
  }
  last_kind_ = kind;
  reading* r = find_locked(kind);
  if (r == nullptr) {
    return read_locked(kind).set;
  }
  // Only the folder's own time counts, as in A1111: a file added to a subfolder waits for a refresh.
  std::error_code ec;
  const auto mtime = fs::last_write_time(dir_, ec);
  const std::optional<fs::file_time_type> now = ec ? std::nullopt : std::optional<fs::file_time_type>(mtime);
  if (now && (!r->mtime || *now > *r->mtime)) {
    return read_locked(kind).set;
  }
  return r->set;
}

std::shared_ptr<const embedding_set> embedding_library::current() {
  embedding_kind kind;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    kind = last_kind_;
  }
  return current(kind);
}

void embedding_library::refresh() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (tokenizer_) {
    // Every kind read so far is read again; the others wait for their first job.
    for (reading& r : readings_) {
      read_locked(r.kind);
    }
  }
}

std::shared_ptr<const embedding_set> embedding_library::last() const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const reading& r : readings_) {
    if (r.kind == last_kind_) return r.set;
  }
  return nullptr;
}

} // namespace sdw
