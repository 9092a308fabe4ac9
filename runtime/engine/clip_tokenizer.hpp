#pragma once
/// The byte-level BPE tokenizer of OpenAI's CLIP, as HF `CLIPTokenizer` (slow) applies it for
/// SD1 text encoders: clean-up, the CLIP word split, byte-to-unicode mapping, merges by rank.

#include <memory>
#include <string>
#include <vector>

namespace sdw {

/// CLIP tokenizer over the 49408-token vocabulary derived from `bpe_simple_vocab_16e6.txt.gz`.
/// Copies share the tables and the word cache; `encode` may be called from several threads.
class clip_tokenizer {
public:
  /// Reads the gzip'd merges file; throws sdw::error (not_found / bad_checkpoint) naming the path.
  static clip_tokenizer from_file(const std::string& bpe_gz_path);

  /// Token ids of `text`, without start/end tokens and without truncation.
  std::vector<int> encode(const std::string& text) const;

  /// The text of token ids ("</w>" becomes a space, bytes are restored); unknown ids are skipped.
  std::string decode(const std::vector<int>& ids) const;

  /// The id of a vocabulary entry in its byte-mapped spelling (e.g. ",</w>"), or -1.
  int token_id(const std::string& token) const;

  /// The byte-mapped spelling of a vocabulary entry (ASCII punctuation spells itself), or "" for
  /// an id outside the vocabulary.
  std::string token(int id) const;

  /// `<|startoftext|>`.
  static constexpr int start_id() { return 49406; }
  /// `<|endoftext|>`, also the padding token of SD1.
  static constexpr int end_id() { return 49407; }
  /// The id of ",</w>" (267).
  int comma_id() const;
  /// Number of tokens in the vocabulary (49408).
  std::size_t vocab_size() const;

private:
  struct tables;
  explicit clip_tokenizer(std::shared_ptr<tables> t) : tables_(std::move(t)) {}
  std::vector<int> bpe(const std::string& piece) const;

  std::shared_ptr<tables> tables_;
};

/// Path of the tokenizer's BPE file: `explicit_path`, $SDW_CLIP_VOCAB, models/clip/…, or
/// ../shared/clip/…; an error saying how to get it when none exists.
std::string find_clip_vocab(const std::string& explicit_path, const std::string& model_dir);

} // namespace sdw
