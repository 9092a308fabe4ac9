// An A1111 request body (or a RunPod job wrapping one) → txt2img_request, as the HTTP front and the
// RunPod poller parse it. Bad input may only be refused with sdw::error; a request that parses must
// give a finite work figure and a `parameters` echo that is JSON and parses back to itself.
#include "fuzz/fuzz_check.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <cmath>
#include <cstdio>

using namespace sdw;

namespace {

// Equal JSON, numbers by value: the echo keeps A1111's integer 0 for a subseed_strength not given,
// which reads back as the float 0.0.
bool same(const json_value& a, const json_value& b) {
  if (a.is_number() && b.is_number()) return a.as_number() == b.as_number();
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    const json_array &x = a.as_array(), &y = b.as_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (!same(x[i], y[i])) return false;
    return true;
  }
  if (a.is_object()) {
    const json_object &x = a.as_object(), &y = b.as_object();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (x[i].first != y[i].first || !same(x[i].second, y[i].second)) return false;
    return true;
  }
  return a == b;
}

void check_parsed(const txt2img_request& r, const json_value& body) {
  const double work = request_megapixel_steps(r);
  SDW_FUZZ_CHECK(std::isfinite(work) && work > 0);
  try {
    check_request_work(r, 10000);
  } catch (const error& e) {
    SDW_FUZZ_CHECK(e.code() == errc::bad_request);
  }
  const json_value echo = to_parameters_json(r);
  const std::string text = to_json(echo);
  SDW_FUZZ_CHECK(parse_json(text, "echo", {64, 1u << 20}) == echo);
  // The echo is a body A1111 takes back (with the images, which it leaves out): it reads to the
  // same request.
  json_value again = echo;
  for (const char* image : {"init_images", "mask"}) {
    if (const json_value* sent = body.find(image)) again.set(image, *sent);
  }
  try {
    SDW_FUZZ_CHECK(same(to_parameters_json(txt2img_request_from_json(again, r.kind)), echo));
  } catch (const error& e) {
    std::fprintf(stderr, "the echo does not read back: %s\n%s\n", e.what(), to_json(again).c_str());
    SDW_FUZZ_CHECK(!"the echo reads back");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = fuzz::text_of(data, size);
  a1111_call call;
  try {
    call = unwrap_a1111_call(parse_json(text, "body"));
  } catch (const error&) {
  }
  try {
    check_parsed(parse_txt2img_request(text), call.payload);
  } catch (const error& e) {
    SDW_FUZZ_CHECK(e.code() == errc::bad_request || e.code() == errc::not_found || e.code() == errc::unsupported);
  }
  // The body as either route reads it, whatever the endpoint it names.
  if (!call.payload.is_object()) return 0;
  for (request_kind kind : {request_kind::txt2img, request_kind::img2img}) {
    try {
      check_parsed(txt2img_request_from_json(call.payload, kind), call.payload);
    } catch (const error& e) {
      SDW_FUZZ_CHECK(e.code() == errc::bad_request || e.code() == errc::not_found || e.code() == errc::unsupported);
    }
  }
  return 0;
}
