// A RunPod job-take answer → jobs (classify_take), each job → the request it carries
// (check_job_input), as the serverless poller reads them; also the answer as an A1111 handler's
// result and as a local test job. Only sdw::error may refuse input; every job taken has an id and
// a body that is a JSON object with that id.
#include "fuzz/fuzz_check.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/runpod/runpod_worker.hpp"

using namespace sdw;

namespace {

void check_job(const runpod_job& job, bool has_input) {
  SDW_FUZZ_CHECK(!job.id.empty());
  const json_value body = parse_json(job.body, "job");
  SDW_FUZZ_CHECK(body.is_object());
  const json_value* id = body.find("id");
  SDW_FUZZ_CHECK(id && id->is_string() && id->as_string() == job.id);
  SDW_FUZZ_CHECK((body.find("input") != nullptr) == has_input);
  try {
    check_job_input(job.body);
  } catch (const error& e) {
    SDW_FUZZ_CHECK(e.code() == errc::bad_request || e.code() == errc::not_found || e.code() == errc::unsupported);
  }
  try {
    job_call(job.body);
  } catch (const error& e) {
    SDW_FUZZ_CHECK(e.code() == errc::bad_request);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = fuzz::text_of(data, size);
  const take_outcome take = classify_take(200, "application/json", text);
  if (take.what == take_outcome::kind::jobs) {
    SDW_FUZZ_CHECK(!take.jobs.empty() || !take.rejected.empty());
  } else {
    SDW_FUZZ_CHECK(take.what == take_outcome::kind::no_job && take.jobs.empty() && take.rejected.empty());
  }
  for (const runpod_job& job : take.jobs) check_job(job, true);
  for (const runpod_job& job : take.rejected) check_job(job, false);

  const handler_result result = handler_result_of(text);
  SDW_FUZZ_CHECK(result.failed != result.error_text.empty());
  if (!result.output_json.empty()) parse_json(result.output_json, "output", {1000, 1u << 20});
  try {
    const runpod_job test = local_test_job(text);
    SDW_FUZZ_CHECK(!test.id.empty());
  } catch (const error& e) {
    SDW_FUZZ_CHECK(e.code() == errc::bad_request);
  }
  return 0;
}
