#include "runtime/engine/prompt_chunks.hpp"

#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/embedding_library.hpp"

#include <mutex>
#include <unordered_map>

namespace sdw {

namespace {

/// FrozenCLIPEmbedderWithCustomWords.token_mults: every vocabulary token with brackets in it and
/// the weight they multiply by (Python floats, one division or product per bracket in order).
std::unordered_map<int, double> bracket_weights(const clip_tokenizer& tokenizer) {
  std::unordered_map<int, double> out;
  for (int id = 0; id < static_cast<int>(tokenizer.vocab_size()); ++id) {
    double mult = 1.0;
    for (const char c : tokenizer.token(id)) {
      if (c == '[') mult /= 1.1;
      if (c == ']') mult *= 1.1;
      if (c == '(') mult *= 1.1;
      if (c == ')') mult /= 1.1;
    }
    if (mult != 1.0) out.emplace(id, mult);
  }
  return out;
}

/// The table of the CLIP vocabulary (every SD1 tokenizer reads the same file), made once.
const std::unordered_map<int, double>& bracket_weights_of(const clip_tokenizer& tokenizer) {
  static std::once_flag once;
  static std::unordered_map<int, double> table;
  std::call_once(once, [&] { table = bracket_weights(tokenizer); });
  return table;
}

} // namespace

token_chunk tokenize_prompt_old(const std::string& prompt, const clip_tokenizer& tokenizer,
                                const embedding_set* embeddings) {
  const auto& weights = bracket_weights_of(tokenizer);
  const std::vector<int> tokens = tokenizer.encode(prompt);
  token_chunk c;
  std::vector<double> mults;
  double mult = 1.0;
  for (std::size_t i = 0; i < tokens.size();) {
    const auto [embedding, length] =
      embeddings != nullptr ? embeddings->find_at(tokens, i) : std::pair<const text_embedding*, std::size_t>{};
    if (const auto w = weights.find(tokens[i]); w != weights.end()) {
      mult *= w->second;
      ++i;
    } else if (embedding == nullptr) {
      c.tokens.push_back(tokens[i]);
      mults.push_back(mult);
      ++i;
    } else {
      const auto n = static_cast<std::size_t>(embedding->vectors);
      // A1111 places an embedding only as far as the 77 positions reach.
      if (c.tokens.size() <= static_cast<std::size_t>(chunk_length))
        c.fixes.push_back({static_cast<int>(c.tokens.size()), embedding});
      c.tokens.insert(c.tokens.end(), n, 0);
      mults.insert(mults.end(), n, mult);
      i += length;
    }
  }
  c.tokens.resize(chunk_length, clip_tokenizer::end_id());
  mults.resize(chunk_length, 1.0);
  c.tokens.insert(c.tokens.begin(), clip_tokenizer::start_id());
  c.tokens.push_back(clip_tokenizer::end_id());
  c.multipliers.push_back(1.0f);
  for (const double m : mults) c.multipliers.push_back(static_cast<float>(m));
  c.multipliers.push_back(1.0f);
  return c;
}

} // namespace sdw
