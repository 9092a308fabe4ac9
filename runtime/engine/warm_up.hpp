#pragma once
/// The run that makes a loaded model ready: one small generation before the model is announced,
/// so that the first job pays no first-use cost.

#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/sd_model.hpp"

namespace sdw {

/// Makes a loaded model ready for its first job. On a GPU it generates one 1-step 512² image:
/// the text encoder, the UNet and the VAE each run once and libtorch sets up its kernels for the
/// shape jobs mostly ask for. On a CPU, where a generation's fixed cost (weights widened on use)
/// would delay readiness by seconds for a first-use cost the measurements show to be small, it
/// reads the checkpoint once so that every weight's pages are in memory. Either way it waits for
/// the checkpoint's hash, which every job's infotext carries. Errors are the engine's
/// (a model that cannot generate) or name the file.
void warm_up(const sd_model& model, const clip_tokenizer& tokenizer);

/// Reads a file from start to end (into the page cache, where its memory mapping finds it).
void page_in(const std::string& path);

} // namespace sdw
