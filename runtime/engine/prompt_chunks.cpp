#include "runtime/engine/prompt_chunks.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/embedding_library.hpp"
#include "runtime/formats/prompt_attention.hpp"

namespace sdw {

namespace {

class chunker {
public:
  chunker(int comma_id, int backtrack) : comma_(comma_id), backtrack_(backtrack) {}

  void add(int token, float multiplier) {
    make_room(token);
    current_.tokens.push_back(token);
    current_.multipliers.push_back(multiplier);
  }

  // A1111's tokenize_line: the comma and full-chunk checks run on the embedding name's first token,
  // then a chunk without room for all the vectors is closed. Its positions hold token id 0.
  void add_embedding(int first_token, const text_embedding& e, float multiplier) {
    make_room(first_token);
    const auto n = static_cast<std::size_t>(e.vectors);
    if (current_.tokens.size() + n > static_cast<std::size_t>(chunk_length))
      close();
    if (n > static_cast<std::size_t>(chunk_length)) {
      throw error(errc::bad_request, "prompt",
                  "embedding " + e.name + " has " + std::to_string(n) + " vectors, more than the " +
                    std::to_string(chunk_length) + " a prompt chunk holds");
    }
    current_.fixes.push_back({static_cast<int>(current_.tokens.size()), &e});
    current_.tokens.insert(current_.tokens.end(), n, 0);
    current_.multipliers.insert(current_.multipliers.end(), n, multiplier);
  }

  // The comma bookkeeping and chunk closing that happen before a token (or embedding) is placed.
  // Embeddings in the words moved on stay noted in the chunk they leave, as in A1111.
  void make_room(int token) {
    if (token == comma_) {
      last_comma_ = static_cast<int>(current_.tokens.size());
    } else if (backtrack_ != 0 && full() && last_comma_ != -1 &&
               static_cast<int>(current_.tokens.size()) - last_comma_ <= backtrack_) {
      // The words after the last comma move to the next chunk, so a phrase is not cut in two.
      const auto at = static_cast<std::ptrdiff_t>(last_comma_ + 1);
      std::vector<int> moved_tokens(current_.tokens.begin() + at, current_.tokens.end());
      std::vector<float> moved_mults(current_.multipliers.begin() + at, current_.multipliers.end());
      current_.tokens.resize(static_cast<std::size_t>(at));
      current_.multipliers.resize(static_cast<std::size_t>(at));
      close();
      current_.tokens = std::move(moved_tokens);
      current_.multipliers = std::move(moved_mults);
    }
    if (full())
      close();
  }

  // Pads the current chunk, wraps it in start/end and begins a new one.
  void close() {
    while (current_.tokens.size() < static_cast<std::size_t>(chunk_length)) {
      current_.tokens.push_back(clip_tokenizer::end_id());
      current_.multipliers.push_back(1.0f);
    }
    current_.tokens.insert(current_.tokens.begin(), clip_tokenizer::start_id());
    current_.multipliers.insert(current_.multipliers.begin(), 1.0f);
    current_.tokens.push_back(clip_tokenizer::end_id());
    current_.multipliers.push_back(1.0f);
    last_comma_ = -1;
    chunks_.push_back(std::move(current_));
    current_ = token_chunk{};
  }

  std::vector<token_chunk> finish() {
    if (!current_.tokens.empty() || chunks_.empty())
      close();
    return std::move(chunks_);
  }

private:
  bool full() const { return current_.tokens.size() == static_cast<std::size_t>(chunk_length); }

  int comma_;
  int backtrack_;
  int last_comma_ = -1;
  token_chunk current_;
  std::vector<token_chunk> chunks_;
};

} // namespace

token_chunk empty_chunk() {
  token_chunk c;
  c.tokens.assign(chunk_length + 2, clip_tokenizer::end_id());
  c.tokens[0] = clip_tokenizer::start_id();
  c.multipliers.assign(chunk_length + 2, 1.0f);
  return c;
}

std::vector<token_chunk> tokenize_prompt(const std::string& prompt, const clip_tokenizer& tokenizer,
                                         emphasis_mode mode, int comma_padding_backtrack,
                                         const embedding_set* embeddings) {
  std::vector<weighted_text> parsed;
  if (mode == emphasis_mode::none)
    parsed.push_back({prompt, 1.0f});
  else
    parsed = parse_prompt_attention(prompt);

  chunker out(tokenizer.comma_id(), comma_padding_backtrack);
  for (const weighted_text& part : parsed) {
    if (part.text == "BREAK" && part.weight == -1.0f) {
      out.close();
      continue;
    }
    const float multiplier = mode == emphasis_mode::ignore ? 1.0f : part.weight;
    const std::vector<int> tokens = tokenizer.encode(part.text);
    for (std::size_t position = 0; position < tokens.size();) {
      const auto [embedding, length] =
        embeddings != nullptr ? embeddings->find_at(tokens, position) : std::pair<const text_embedding*, std::size_t>{};
      if (embedding == nullptr) {
        out.add(tokens[position], multiplier);
        ++position;
      } else {
        out.add_embedding(tokens[position], *embedding, multiplier);
        position += length;
      }
    }
  }
  return out.finish();
}

} // namespace sdw
