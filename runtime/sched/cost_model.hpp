#pragma once
/// What a txt2img job costs on a device, for the simulation harness and for placement: a UNet
/// call costs a fixed part (kernel launches, a device that is not yet full) plus a part that
/// grows with the pixels of the whole batch; VAE decoding grows with each image's pixels. The
/// defaults are an SD1.5 fp16 model on one RTX 4090-class GPU (about 20 steps/s at 512², CFG
/// batch 2), and `speed` scales a device up or down.

#include <string>

namespace sdw {

/// Milliseconds per part of a job, at speed 1.
struct cost_model {
  double step_fixed_ms = 12.0;          ///< per UNet call (cond and uncond together), any size
  double step_ms_per_megapixel = 145.0; ///< per UNet call, per megapixel of each image in the batch
  double decode_ms_per_megapixel = 95.0;  ///< VAE decode, per megapixel of each image
  double text_encode_ms = 5.0;          ///< per job (prompt and negative prompt)
  double speed = 1.0;                   ///< device speed factor: 2 = everything takes half as long
};

/// The shape of work the cost depends on: image size, sampler steps (UNet calls per image
/// batch) and how many images share each UNet call.
struct job_shape {
  int width = 512;
  int height = 512;
  int steps = 20;      ///< UNet calls (second-order samplers: count their extra calls too)
  int batch = 1;       ///< images per UNet call
  int batches = 1;     ///< UNet batches run one after another (A1111's n_iter)
};

/// One UNet call for `batch` images of width × height, in milliseconds.
double step_ms(const cost_model& model, int width, int height, int batch);

/// A whole job: text encoding, `steps` UNet calls per batch and one VAE decode per image.
double job_ms(const cost_model& model, const job_shape& shape);

/// Reads a cost model from JSON text with any of the member names above
/// (`{"step_fixed_ms": 10, "speed": 0.5}`); unknown keys and non-positive values are errors
/// naming the key (sdw::error, bad_request).
cost_model parse_cost_model(const std::string& json_text, const cost_model& base = {});

} // namespace sdw
