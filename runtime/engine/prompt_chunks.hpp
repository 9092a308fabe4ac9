#pragma once
/// A1111's `tokenize_line` for SD1: a prompt becomes chunks of 77 token ids (start + 75 + end)
/// with one attention multiplier per token, ready for the CLIP text encoder.

#include <string>
#include <vector>

namespace sdw {

class clip_tokenizer;
class embedding_set;
struct text_embedding;

/// A1111's PromptChunkFix: an embedding whose vectors replace the token embeddings from position
/// `offset` + 1 of the chunk on (the +1 is the start token).
struct chunk_fix {
  int offset = 0;
  const text_embedding* embedding = nullptr;
};

/// One 77-token window of a prompt: ids and per-token multipliers (1.0 on start/end/padding), and
/// the embeddings placed in it (their positions hold token id 0).
struct token_chunk {
  std::vector<int> tokens;
  std::vector<float> multipliers;
  std::vector<chunk_fix> fixes;
};

/// A1111's option `emphasis`: Original, None (no parsing: brackets and BREAK are literal text),
/// Ignore (parsed, multipliers all 1.0), No norm (multipliers kept, not re-normalised later).
enum class emphasis_mode { original, none, ignore, no_norm };

/// Tokens per chunk between the start and end tokens.
constexpr int chunk_length = 75;

/// Splits `prompt` (after schedules and AND were resolved) into chunks: emphasis parsed per
/// `mode`, BREAK closes the current chunk, a full chunk moves the tokens after a comma within
/// `comma_padding_backtrack` tokens to the next chunk, short chunks are padded with the end token.
/// With `embeddings`, a name of theirs in the prompt's tokens takes as many positions as the
/// embedding has vectors, all in one chunk (a chunk without room for them is closed early).
/// Always at least one chunk.
std::vector<token_chunk> tokenize_prompt(const std::string& prompt, const clip_tokenizer& tokenizer,
                                         emphasis_mode mode = emphasis_mode::original,
                                         int comma_padding_backtrack = 20, const embedding_set* embeddings = nullptr);

/// A1111's option use_old_emphasis_implementation (sd_hijack_clip_old.process_text_old, with the
/// enable_emphasis of the settings files that still hold it): the prompt tokenized whole, brackets
/// included; each vocabulary token whose brackets weigh other than 1 (1.1 per `(` or `]`, 1/1.1 per
/// `)` or `[`) multiplies the weight of the tokens after it and is dropped. No BREAK, no chunks
/// beyond the first: the tokens after 75 are cut off.
token_chunk tokenize_prompt_old(const std::string& prompt, const clip_tokenizer& tokenizer,
                                const embedding_set* embeddings = nullptr);

/// The empty chunk (start, then 76 end tokens, multipliers 1.0) that pads shorter prompts of a batch.
token_chunk empty_chunk();

} // namespace sdw
