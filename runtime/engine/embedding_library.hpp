#pragma once
/// The embeddings folder (A1111's EmbeddingDatabase): every embedding file in it or below it, read
/// for one model. Those whose vector width is the model's token-embedding width are loaded and
/// found in prompts by their names' token ids; the others are listed as skipped. No file outside
/// the folder is ever opened (links that lead outside are passed over).

#include "runtime/engine/embedding_file.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sdw {

class clip_tokenizer;

/// What one reading of the folder found for one model. Immutable; shared by the jobs that use it.
class embedding_set {
public:
  using entry = std::shared_ptr<const text_embedding>;

  /// Reads `dir` (missing: nothing) for a model whose token embeddings are `width` wide.
  embedding_set(const std::string& dir, std::int64_t width, std::shared_ptr<const clip_tokenizer> tokenizer);

  /// The loaded embeddings, sorted by lower-cased name as A1111 lists them.
  const std::vector<entry>& loaded() const noexcept { return loaded_; }
  /// The embeddings of another width, in the order they were read.
  const std::vector<entry>& skipped() const noexcept { return skipped_; }

  /// A1111's find_embedding_at_position: the embedding whose name's token ids start at `offset` of
  /// `tokens` (the longest such name), and how many tokens it spans; {nullptr, 0} when none.
  std::pair<const text_embedding*, std::size_t> find_at(const std::vector<int>& tokens, std::size_t offset) const;

  const clip_tokenizer& tokenizer() const noexcept { return *tokenizer_; }

private:
  void add(text_embedding e, std::int64_t width);

  std::shared_ptr<const clip_tokenizer> tokenizer_;
  std::vector<entry> loaded_;
  std::vector<entry> skipped_;
  /// first token id → (name's token ids, embedding), longest first.
  std::map<int, std::vector<std::pair<std::vector<int>, entry>>> ids_lookup_;
};

/// The folder for the loaded model: read when the model is loaded, read again before a job when
/// the folder's modification time has changed (as A1111 does before each generation), and on
/// request. Thread-safe: the executor takes sets for its jobs while the front door lists them.
class embedding_library {
public:
  explicit embedding_library(std::string dir) : dir_(std::move(dir)) {}

  /// Reads the folder for a model; called by the loader once the model is loaded.
  void load_for(std::int64_t width, std::shared_ptr<const clip_tokenizer> tokenizer);

  /// The set a job runs with (null before a model is loaded), read again first when the folder changed.
  std::shared_ptr<const embedding_set> current();

  /// Reads the folder again now (POST /sdapi/v1/refresh-embeddings); nothing before a model is loaded.
  void refresh();

  /// The set as last read, for listing (null before a model is loaded).
  std::shared_ptr<const embedding_set> last() const;

  const std::string& dir() const noexcept { return dir_; }

private:
  void read_locked();

  std::string dir_;
  mutable std::mutex mutex_;
  std::int64_t width_ = 0;
  std::shared_ptr<const clip_tokenizer> tokenizer_;
  std::optional<std::filesystem::file_time_type> mtime_;
  std::shared_ptr<const embedding_set> set_;
};

} // namespace sdw
