#include "runtime/engine/warm_up.hpp"

#include "runtime/engine/txt2img.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"
#include "runtime/base/errors.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

namespace sdw {

void page_in(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw error(errc::not_found, "model", "cannot open " + path);
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::vector<char> buffer(size_t{8} << 20);
  while (::read(fd, buffer.data(), buffer.size()) > 0) {
  }
  ::close(fd);
}

namespace {

void warm_up_networks(const sd_model& model, const clip_tokenizer& tokenizer) {
  if (!model.placement().device.is_cuda()) {
    page_in(model.path());
    return;
  }
  const int size = 512;
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

} // namespace

void warm_up(const sd_model& model, const clip_tokenizer& tokenizer) {
  warm_up_networks(model, tokenizer);
  // Every job's infotext carries the model hash: hashed since load, in parallel with the above.
  model.sha256();
}

} // namespace sdw
