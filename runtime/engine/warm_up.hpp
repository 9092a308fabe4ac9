#pragma once
/// The run that makes a loaded model ready: one small generation before the model is announced,
/// so that the first job pays no first-use cost.

#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/sd_model.hpp"

namespace sdw {

/// The image side of the warm-up run: the size jobs mostly ask for on a GPU (its kernels are
/// chosen per shape), the smallest the UNet takes on a CPU (every weight is still read).
int warm_up_size(const sd_model& model);

/// Generates one 1-step image of `size`² pixels: the text encoder, the UNet and the VAE each run
/// once, so every weight is read (paged in from the file mapping, or already on the GPU) and
/// libtorch has set up its kernels. Errors are the engine's (a model that cannot generate).
void warm_up(const sd_model& model, const clip_tokenizer& tokenizer, int size);

} // namespace sdw
