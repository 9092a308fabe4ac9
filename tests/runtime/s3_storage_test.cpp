#define BOOST_TEST_MODULE s3_storage
#include <boost/test/unit_test.hpp>

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/json_writer.hpp"
#include "runtime/storage/s3_storage.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/temp_dir.hpp"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

using namespace sdw;

namespace {

/// 2026-05-04T10:11:12Z.
const auto when = std::chrono::system_clock::from_time_t(1777889472);

std::string header(const s3_request& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) {
      return v;
    }
  }
  return "";
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const error& e) {
    return e.what();
  }
  return "";
}

std::string source_dir() {
  const char* s = std::getenv("SDW_SOURCE_DIR");
  return s != nullptr ? s : ".";
}

} // namespace

BOOST_AUTO_TEST_CASE(endpoints_are_split_and_checked) {
  const s3_endpoint e = parse_s3_endpoint("HTTP://Minio.Local:9000/");
  BOOST_TEST(e.scheme == "http");
  BOOST_TEST(e.authority == "minio.local:9000");
  BOOST_TEST(e.base_path == "");
  BOOST_TEST(parse_s3_endpoint("https://h.example/prefix/").base_path == "/prefix");
  BOOST_TEST(parse_s3_endpoint("https://h.example").authority == "h.example");
  for (const char* bad : {"ftp://h", "h.example", "https://", "https://u:p@h.example", "https://h/?x=1",
                          "https://h:port", "https://h:"}) {
    BOOST_TEST_CONTEXT(bad) {
      BOOST_TEST(error_of([&] { parse_s3_endpoint(bad); }).rfind("runpod.bucket-endpoint-url: ", 0) == 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_region_is_read_from_the_endpoint) {
  BOOST_TEST(s3_region_for_endpoint("https://s3.us-west-2.amazonaws.com") == "us-west-2");
  BOOST_TEST(s3_region_for_endpoint("https://bucket.s3.eu-central-1.amazonaws.com") == "eu-central-1");
  BOOST_TEST(s3_region_for_endpoint("https://s3.us-west-002.backblazeb2.com") == "us-west-002");
  BOOST_TEST(s3_region_for_endpoint("https://nyc3.digitaloceanspaces.com") == "nyc3");
  BOOST_TEST(s3_region_for_endpoint("https://bucket.ams3.digitaloceanspaces.com") == "ams3");
  BOOST_TEST(s3_region_for_endpoint("https://s3.amazonaws.com") == "us-east-1");
  BOOST_TEST(s3_region_for_endpoint("https://acc.r2.cloudflarestorage.com") == "us-east-1");
  BOOST_TEST(s3_region_for_endpoint("http://127.0.0.1:9000") == "us-east-1");
  s3_storage configured{"https://s3.us-west-2.amazonaws.com", "id", "secret", "", "eu-west-1"};
  BOOST_TEST(s3_region(configured) == "eu-west-1");
  configured.region.clear();
  BOOST_TEST(s3_region(configured) == "us-west-2");
}

BOOST_AUTO_TEST_CASE(buckets_are_named_by_month_unless_configured) {
  const std::string name = s3_default_bucket(std::chrono::system_clock::now());
  BOOST_TEST(name.size() == 5u);
  BOOST_TEST(name[2] == '-');
  BOOST_TEST(std::stoi(name.substr(0, 2)) >= 1);
  BOOST_TEST(std::stoi(name.substr(0, 2)) <= 12);
  BOOST_TEST(bucket_name_problem(name) == "");
  BOOST_TEST(bucket_name_problem("results.example-1") == "");
  BOOST_TEST(bucket_name_problem("ab") != "");
  BOOST_TEST(bucket_name_problem("Upper") != "");
  BOOST_TEST(bucket_name_problem("-dash") != "");
  BOOST_TEST(bucket_name_problem("under_score") != "");
}

BOOST_AUTO_TEST_CASE(a_put_carries_what_it_signs) {
  const s3_storage storage{"http://127.0.0.1:9000", "AKID", "secret", "", ""};
  const s3_request put = s3_put_object(storage, {"05-26", "job 1/abc.png"}, "PNGDATA", "image/png", when);
  BOOST_TEST(put.method == "PUT");
  BOOST_TEST(put.url == "http://127.0.0.1:9000/05-26/job%201/abc.png");
  BOOST_TEST(put.body == "PNGDATA");
  BOOST_TEST(header(put, "Content-Type") == "image/png");
  BOOST_TEST(header(put, "x-amz-content-sha256") == sha256_hex("PNGDATA"));
  BOOST_TEST(header(put, "x-amz-date") == "20260504T101112Z");
  BOOST_TEST(header(put, "Authorization").rfind("AWS4-HMAC-SHA256 Credential=AKID/20260504/us-east-1/s3/aws4_request, "
                                                "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, "
                                                "Signature=",
                                                0) == 0u);
}

// The same requests as boto3 and botocore make them (tests/runtime/s3_reference.py): presigned
// URLs as RunPod's upload helper gets them from generate_presigned_url, and the PUT's
// Authorization as botocore's S3 signer (which moto also checks with) computes it.
BOOST_AUTO_TEST_CASE(requests_match_boto3s) {
  struct example {
    s3_storage storage;
    s3_object object;
  };
  const std::vector<example> examples = {
    {{"http://127.0.0.1:9000", "AKIAEXAMPLE", "wJalr/K7+secret", "", ""}, {"05-26", "sync-1a2b/0f3e9a1c.png"}},
    {{"https://nyc3.digitaloceanspaces.com", "DO00KEY", "s3cr3t", "", ""}, {"results", "job id+1/ab~c.png"}},
    {{"https://acc.r2.cloudflarestorage.com/", "r2key", "r2secret", "", "auto"}, {"images.example", "j/\xc3\xa9t\xc3\xa9.webp"}},
  };
  json_value cases = json_value::array();
  for (const auto& e : examples) {
    const std::string region = s3_region(e.storage);
    json_value presign = json_value::object();
    presign.set("kind", "presign");
    presign.set("endpoint", e.storage.endpoint_url);
    presign.set("bucket", e.object.bucket);
    presign.set("key", e.object.key);
    presign.set("id", e.storage.access_key_id);
    presign.set("secret", e.storage.secret_access_key);
    presign.set("region", region);
    presign.set("timestamp", "20260504T101112Z");
    cases.push_back(presign);
    json_value put = presign;
    put.set("kind", "put");
    put.set("url", s3_put_object(e.storage, e.object, "\x89PNG body", "image/png", when).url);
    put.set("content_type", "image/png");
    put.set("body_hex", "89504e4720626f6479");
    cases.push_back(put);
  }
  test::temp_dir dir;
  std::ofstream(dir.file("cases.json")) << to_json(cases);
  const auto [rc, out] = test::run_command(test::python() + " '" + source_dir() + "/tests/runtime/s3_reference.py' '" +
                                           dir.file("cases.json") + "' '" + dir.file("boto3.json") + "'");
  BOOST_TEST_REQUIRE(rc == 0, out);
  const json_value expected = parse_json(test::slurp(dir.file("boto3.json")));
  BOOST_TEST_REQUIRE(expected.as_array().size() == examples.size() * 2);
  for (size_t i = 0; i < examples.size(); ++i) {
    const auto& e = examples[i];
    BOOST_TEST_CONTEXT(e.storage.endpoint_url) {
      BOOST_TEST(s3_presigned_get(e.storage, e.object, when) == expected.as_array()[2 * i].as_string());
      const s3_request put = s3_put_object(e.storage, e.object, "\x89PNG body", "image/png", when);
      BOOST_TEST(header(put, "Authorization") == expected.as_array()[2 * i + 1].as_string());
    }
  }
}

BOOST_AUTO_TEST_CASE(storage_errors_say_what_s3_said) {
  const std::string xml =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The request "
    "signature we calculated does not match the signature you provided.</Message><RequestId>1</RequestId></Error>";
  BOOST_TEST(s3_error_text(403, xml) ==
             "HTTP 403 SignatureDoesNotMatch: The request signature we calculated does not match the signature you "
             "provided.");
  BOOST_TEST(s3_error_text(502, "<html>bad gateway</html>") == "HTTP 502");
  const s3_storage storage{"http://127.0.0.1:9000", "AKID", "very-secret", "", ""};
  BOOST_TEST(s3_storage_name(storage, "05-26") == "bucket '05-26' at http://127.0.0.1:9000");
}
