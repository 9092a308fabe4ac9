#include "actors/encoder.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/txt2img.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>

namespace sdw {

job_result encode_generation(const generation_output& out) {
  const auto t0 = std::chrono::steady_clock::now();
  job_result r;
  r.id = out.job.id;
  r.engine_us = out.engine_us;
  if (!out.ok) {
    r.status = out.error.kind == errc::cancelled ? job_status::cancelled : job_status::failed;
    r.error = out.error;
    return r;
  }
  try {
    txt2img_result result;
    for (const auto& f : out.images) {
      result.images.push_back(rgb_image{f.width, f.height, f.pixels, f.infotext});
    }
    result.info_json = out.info_json;
    result.all_seeds = out.all_seeds;
    result.all_subseeds = out.all_subseeds;
    r.output_json = encode_txt2img_response(result, out.job.request);
    r.status = job_status::completed;
    r.engine_us +=
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  } catch (const error& e) {
    r.status = job_status::failed;
    r.error = job_error_of(e);
  } catch (const std::exception& e) {
    const std::string id = new_error_id();
    spdlog::error("{}: encoding job {}: {}", id, r.id, e.what());
    r.status = job_status::failed;
    r.error = job_error{errc::internal, "", public_error_text(e.what(), id)};
  }
  return r;
}

encoder_actor::behavior_type encoder(encoder_actor::pointer) {
  return {
    [](encode_atom, const generation_output& out) { return encode_generation(out); },
  };
}

} // namespace sdw
