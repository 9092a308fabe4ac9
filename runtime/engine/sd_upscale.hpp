#pragma once
/// A1111 1.9.4's "SD upscale" img2img script (scripts/sd_upscale.py): the first init image upscaled
/// with a built-in upscaler, cut into overlapping tiles of width×height, each tile through img2img
/// in batches of batch_size with the script's seeds, and the tiles blended back together; n_iter
/// repeats the whole upscale with the next seed. Runs alone, as a job of its own.

#include "runtime/engine/txt2img.hpp"

namespace sdw {

class clip_tokenizer;
class embedding_set;
class lora_library;
class sd_model;

/// Runs an SD upscale request (is_sd_upscale). As the script does: the seed and subseed fixed once;
/// upscale n starts at seed + n, each batch at the previous batch's first seed + 1 (so batches of
/// several tiles share seeds with the next); a last batch of one tile is repeated to batch_size;
/// the VAE posterior noise of a batch comes from torch's global CPU generator as the previous
/// batch's noise draw left it (seeded with its last seed; with the "NV" source it runs on from the
/// job's first encode). The infotext gains "SD upscale overlap" and "SD upscale upscaler" first.
/// The result is A1111's Processed(p, images, seed, info): one image per upscale, without a
/// "parameters" text chunk; `info` holds the seed as fixed, subseed -1, the last batch's seeds,
/// settings and batch size, and the first tile's infotext for every image. Progress counts every
/// batch's steps. An interrupt ends the current batch as img2img does and leaves the tiles not
/// yet run black; a skip ends the current batch only.
txt2img_result run_sd_upscale(const sd_model& model, const clip_tokenizer& tokenizer, const txt2img_request& request,
                              const options& opts, const txt2img_hooks& hooks = {}, lora_library* loras = nullptr,
                              std::shared_ptr<const embedding_set> embeddings = nullptr);

} // namespace sdw
