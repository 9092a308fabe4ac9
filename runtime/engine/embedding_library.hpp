#pragma once
/// The embeddings folder (A1111's EmbeddingDatabase): every embedding file in it or below it, read
/// for a kind of model. Those whose vector width is the model's token-embedding width (SDXL: its
/// two encoders' widths added, in clip_l/clip_g pairs) are loaded and found in prompts by their
/// names' token ids; the others are listed as skipped. No file outside
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
struct model_config;

/// The embeddings a model takes: their vector width (A1111's expected_shape) and whether they come
/// in SDXL's clip_l/clip_g pairs (one vector per encoder) or as one tensor.
struct embedding_kind {
  std::int64_t width = 0;
  bool pairs = false;
  bool operator==(const embedding_kind& o) const noexcept { return width == o.width && pairs == o.pairs; }
};

/// SD1 768, SD2 1024, SDXL 768 + 1280 in pairs.
embedding_kind embedding_kind_of(const model_config& config);

/// What one reading of the folder found for one model. Immutable; shared by the jobs that use it.
class embedding_set {
public:
  using entry = std::shared_ptr<const text_embedding>;

  /// Reads `dir` (missing: nothing) for a model that takes embeddings of `kind`.
  embedding_set(const std::string& dir, embedding_kind kind, std::shared_ptr<const clip_tokenizer> tokenizer);

  /// The loaded embeddings, sorted by lower-cased name as A1111 lists them.
  const std::vector<entry>& loaded() const noexcept { return loaded_; }
  /// The embeddings of another width, in the order they were read.
  const std::vector<entry>& skipped() const noexcept { return skipped_; }

  /// A1111's find_embedding_at_position: the embedding whose name's token ids start at `offset` of
  /// `tokens` (the longest such name), and how many tokens it spans; {nullptr, 0} when none.
  std::pair<const text_embedding*, std::size_t> find_at(const std::vector<int>& tokens, std::size_t offset) const;

  const clip_tokenizer& tokenizer() const noexcept { return *tokenizer_; }

private:
  void add(text_embedding e, embedding_kind kind);

  std::shared_ptr<const clip_tokenizer> tokenizer_;
  std::vector<entry> loaded_;
  std::vector<entry> skipped_;
  /// first token id → (name's token ids, embedding), longest first.
  std::map<int, std::vector<std::pair<std::vector<int>, entry>>> ids_lookup_;
};

/// The folder for the models jobs run: read when the first model is loaded, read again before a
/// job when the folder's modification time has changed (as A1111 does before each generation),
/// and on request; one reading per kind of model, as A1111 reads the folder again when a model of
/// another kind is loaded. Thread-safe: the executor takes sets for its jobs while the front door
/// lists them.
class embedding_library {
public:
  explicit embedding_library(std::string dir) : dir_(std::move(dir)) {}

  /// Reads the folder for a model; called by the loader once the model is loaded.
  void load_for(embedding_kind kind, std::shared_ptr<const clip_tokenizer> tokenizer);

  /// The set a job on a model of `kind` runs with (null before a model is loaded), read first when
  /// the folder changed or the kind was never read; listings show it from then on.
  std::shared_ptr<const embedding_set> current(embedding_kind kind);
  /// The same for the kind of the last model used.
  std::shared_ptr<const embedding_set> current();

  /// Reads the folder again now (POST /sdapi/v1/refresh-embeddings); nothing before a model is loaded.
  void refresh();

  /// The set as last read for the kind of the last model used, for listing (null before a model is loaded).
  std::shared_ptr<const embedding_set> last() const;

  const std::string& dir() const noexcept { return dir_; }

private:
  struct reading {
    embedding_kind kind;
    std::optional<std::filesystem::file_time_type> mtime;
    std::shared_ptr<const embedding_set> set;
  };
  reading& read_locked(embedding_kind kind);
  reading* find_locked(embedding_kind kind);

  std::string dir_;
  mutable std::mutex mutex_;
  embedding_kind last_kind_;
  std::shared_ptr<const clip_tokenizer> tokenizer_;
  std::vector<reading> readings_;  ///< one per kind of model seen
};

} // namespace sdw
