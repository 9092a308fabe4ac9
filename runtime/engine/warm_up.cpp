#include "runtime/engine/warm_up.hpp"

#include "runtime/engine/txt2img.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"

namespace sdw {

int warm_up_size(const sd_model& model) { return model.placement().device.is_cuda() ? 512 : 64; }

void warm_up(const sd_model& model, const clip_tokenizer& tokenizer, int size) {
  txt2img_request request;
  request.prompt = "warm up";
  request.negative_prompt = "warm up";
  request.steps = 1;
  request.width = size;
  request.height = size;
  request.seed = 0;
  request.sampler_name = "Euler";
  run_txt2img(model, tokenizer, request, options{});
}

} // namespace sdw
