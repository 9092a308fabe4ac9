#pragma once
/// A job as the edge makes it from a body (an A1111 body or a RunPod job): the checked request and
/// the options it runs with (defaults, then its override_settings).

#include "messages/jobs.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <string>
#include <utility>

namespace sdw::test {

inline generation_job typed_job(std::string id, const std::string& body, bool keep_result = true) {
  txt2img_request request = parse_txt2img_request(body);
  options settings = resolve_options({}, request.override_settings);
  return generation_job{std::move(id), std::move(request), std::move(settings), job_options{keep_result},
                        std::nullopt};
}

} // namespace sdw::test
