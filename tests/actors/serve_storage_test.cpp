#define BOOST_TEST_MODULE serve_storage
#include <boost/test/unit_test.hpp>

#include "runtime/base/json_value.hpp"
#include "runtime/base/png_codec.hpp"
#include "runtime/storage/s3_storage.hpp"
#include "tests/support/fake_runpod.hpp"
#include "tests/support/free_port.hpp"
#include "tests/support/moto_s3.hpp"
#include "tests/support/serve_process.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>

using sdw::json_value;
using sdw::test::fake_runpod;
using sdw::test::moto_s3;
using namespace std::chrono_literals;

namespace {

// Two 512x512 images of the tiny model: about 2 MB of base64, over a 1 MB limit.
const std::string big_input = R"({"prompt":"big","steps":2,"width":512,"height":512,"batch_size":2,"seed":3})";
const std::string small_input = R"({"prompt":"a boat","steps":3,"width":64,"height":64,"seed":2})";

using env_list = std::vector<std::pair<std::string, std::string>>;

/// The RunPod variables, a 1 MB result limit and the storage variables.
env_list worker_env(const fake_runpod& fake, const std::string& endpoint, const std::string& id,
                    const std::string& secret, const std::string& bucket = "") {
  env_list env = fake.env();
  env.emplace_back("SDWORKER_MAX_RESULT_MB", "1");
  env.emplace_back("BUCKET_ENDPOINT_URL", endpoint);
  env.emplace_back("BUCKET_ACCESS_KEY_ID", id);
  env.emplace_back("BUCKET_SECRET_ACCESS_KEY", secret);
  if (!bucket.empty()) {
    env.emplace_back("SDWORKER_BUCKET", bucket);
  }
  return env;
}

const json_value& output_of(const json_value& body) {
  const json_value* output = body.find("output");
  BOOST_TEST_REQUIRE(output != nullptr);
  return *output;
}

/// A small job still runs and is delivered: the worker is fine after a failed upload.
void still_serves(fake_runpod& fake, sdw::test::serve_process& worker) {
  fake.add_job("job-small", small_input);
  const std::string body = fake.wait_for_result("job-small");
  BOOST_TEST_REQUIRE(!body.empty(), worker.log());
  BOOST_TEST(output_of(sdw::parse_json(body)).find("images")->as_array().size() == 1u);
  BOOST_TEST(worker.alive(), worker.log());
}

} // namespace

// With storage configured, an over-the-limit result's images go to the bucket RunPod's upload
// helper would choose (the month's, "MM-YY"), PUT with Signature V4 that moto checks, and the
// output carries presigned URLs in their place; a plain GET of each returns the PNG.
BOOST_AUTO_TEST_CASE(over_the_limit_the_images_go_to_storage_and_the_output_carries_their_urls) {
  const std::string bucket = sdw::s3_default_bucket(std::chrono::system_clock::now());
  moto_s3 s3({bucket});
  fake_runpod fake;
  sdw::test::temp_dir models;
  sdw::test::serve_process worker(sdw::test::tiny_model(models),
                                  worker_env(fake, s3.endpoint(), s3.access_key_id(), s3.secret_access_key()));
  fake.add_job("job-big", big_input);
  const std::string body = fake.wait_for_result("job-big", 120s);
  BOOST_TEST_REQUIRE(!body.empty(), worker.log());
  BOOST_TEST(fake.results_for("job-big").size() == 1u);
  BOOST_TEST(body.size() < 10000u);
  const json_value doc = sdw::parse_json(body);
  BOOST_TEST(doc.find("error") == nullptr, body);
  const json_value& output = output_of(doc);
  // The A1111 response otherwise as it was.
  BOOST_TEST(output.find("parameters")->find("prompt")->as_string() == "big");
  BOOST_TEST(output.find("info")->is_string());
  const auto& images = output.find("images")->as_array();
  BOOST_TEST_REQUIRE(images.size() == 2u, body);
  s3.check_signatures(false);
  for (const auto& image : images) {
    const std::string url = image.as_string();
    BOOST_TEST_CONTEXT(url) {
      BOOST_TEST(url.rfind(s3.endpoint() + "/" + bucket + "/job-big/", 0) == 0u);
      BOOST_TEST(url.find(".png?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + s3.access_key_id() + "%2F") !=
                 std::string::npos);
      BOOST_TEST(url.find("&X-Amz-Expires=604800&X-Amz-SignedHeaders=host&X-Amz-Signature=") != std::string::npos);
      const sdw::test::raw_reply got = s3.get(url);
      BOOST_TEST_REQUIRE(got.status == 200, got.head + got.body.substr(0, 300));
      std::string head = got.head;
      std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
      BOOST_TEST(head.find("\r\ncontent-type: image/png\r\n") != std::string::npos, got.head);
      const sdw::decoded_png png = sdw::decode_png(got.body, url);
      BOOST_TEST(png.width == 512);
      BOOST_TEST(png.height == 512);
      BOOST_TEST(png.text.count("parameters") == 1u);
    }
  }
  BOOST_TEST(images[0].as_string() != images[1].as_string());
  BOOST_TEST(worker.log().find(s3.secret_access_key()) == std::string::npos);
  BOOST_TEST(worker.alive(), worker.log());
}

// A key the storage refuses (moto checks the signature, made with the wrong secret) is not
// retried: the job ends with an error result naming the storage and what it said.
BOOST_AUTO_TEST_CASE(refused_credentials_end_the_job_with_an_error_naming_the_storage) {
  moto_s3 s3({"results-bucket"});
  fake_runpod fake;
  sdw::test::temp_dir models;
  sdw::test::serve_process worker(
    sdw::test::tiny_model(models),
    worker_env(fake, s3.endpoint(), s3.access_key_id(), "not-the-secret", "results-bucket"));
  fake.add_job("job-big", big_input);
  const std::string body = fake.wait_for_result("job-big", 120s);
  BOOST_TEST_REQUIRE(!body.empty(), worker.log());
  const std::string error = sdw::test::result_error_text(body);
  BOOST_TEST(error.find("over the platform's limit of 1000000") != std::string::npos, error);
  BOOST_TEST(error.find("S3-compatible storage (bucket 'results-bucket' at " + s3.endpoint() + ") failed") !=
               std::string::npos,
             error);
  BOOST_TEST(error.find("HTTP 403 SignatureDoesNotMatch") != std::string::npos, error);
  BOOST_TEST(error.find("attempts") == std::string::npos, error);  // a refusal is not retried
  BOOST_TEST(error.find("not-the-secret") == std::string::npos, error);
  still_serves(fake, worker);
}

// A storage that does not answer is tried again a few times, then the job ends with an error
// result naming it; the worker goes on.
BOOST_AUTO_TEST_CASE(an_unreachable_storage_is_retried_then_the_job_ends_with_an_error) {
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(sdw::test::free_port());
  fake_runpod fake;
  sdw::test::temp_dir models;
  sdw::test::serve_process worker(sdw::test::tiny_model(models), worker_env(fake, endpoint, "id", "secret", "results"));
  fake.add_job("job-big", big_input);
  const std::string body = fake.wait_for_result("job-big", 120s);
  BOOST_TEST_REQUIRE(!body.empty(), worker.log());
  const std::string error = sdw::test::result_error_text(body);
  BOOST_TEST(error.find("S3-compatible storage (bucket 'results' at " + endpoint + ") failed: image 1 of 2") !=
               std::string::npos,
             error);
  BOOST_TEST(error.find("(5 attempts)") != std::string::npos, error);
  BOOST_TEST(fake.results_for("job-big").size() == 1u);
  still_serves(fake, worker);
}
