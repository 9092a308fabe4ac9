#pragma once
/// A1111's `tokenize_line` for SD1: a prompt becomes chunks of 77 token ids (start + 75 + end)
/// with one attention multiplier per token, ready for the CLIP text encoder.

#include <string>
#include <vector>

namespace sdw {

class clip_tokenizer;

/// One 77-token window of a prompt: ids and per-token multipliers (1.0 on start/end/padding).
struct token_chunk {
  std::vector<int> tokens;
  std::vector<float> multipliers;
};

/// A1111's option `emphasis`: Original, None (no parsing: brackets and BREAK are literal text),
/// Ignore (parsed, multipliers all 1.0), No norm (multipliers kept, not re-normalised later).
enum class emphasis_mode { original, none, ignore, no_norm };

/// Tokens per chunk between the start and end tokens.
constexpr int chunk_length = 75;

/// Splits `prompt` (after schedules and AND were resolved) into chunks: emphasis parsed per
/// `mode`, BREAK closes the current chunk, a full chunk moves the tokens after a comma within
/// `comma_padding_backtrack` tokens to the next chunk, short chunks are padded with the end token.
/// Always at least one chunk.
std::vector<token_chunk> tokenize_prompt(const std::string& prompt, const clip_tokenizer& tokenizer,
                                         emphasis_mode mode = emphasis_mode::original,
                                         int comma_padding_backtrack = 20);

/// The empty chunk (start, then 76 end tokens, multipliers 1.0) that pads shorter prompts of a batch.
token_chunk empty_chunk();

} // namespace sdw
