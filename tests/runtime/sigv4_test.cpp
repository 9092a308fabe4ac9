#define BOOST_TEST_MODULE sigv4
#include <boost/test/unit_test.hpp>

#include "runtime/base/encoding.hpp"
#include "runtime/storage/sigv4.hpp"

#include <chrono>

using namespace sdw;

namespace {

// AWS's SigV4 test suite (aws-sig-v4-test-suite): its key, scope and time.
const aws_credentials suite_key{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};
const sigv4_scope suite_scope{"us-east-1", "service"};
const std::string suite_time = "20150830T123600Z";

// The examples of Amazon S3's API reference (sig-v4-header-based-auth, sigv4-query-string-auth).
const aws_credentials s3_key{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
const sigv4_scope s3_scope{"us-east-1", "s3"};
const std::string s3_time = "20130524T000000Z";
const std::string empty_hash = sha256_hex("");

} // namespace

// get-vanilla: the published canonical request, string to sign and Authorization header.
BOOST_AUTO_TEST_CASE(the_get_vanilla_vector_of_awss_test_suite) {
  const sigv4_request r{"GET", "/", {}, {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", suite_time}}, empty_hash};
  BOOST_TEST(sigv4_canonical_request(r) ==
             "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
             "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  BOOST_TEST(sigv4_string_to_sign(suite_time, suite_scope, sigv4_canonical_request(r)) ==
             "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
             "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  BOOST_TEST(sigv4_authorization(r, suite_key, suite_scope, suite_time) ==
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
             "SignedHeaders=host;x-amz-date, "
             "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

// get-vanilla-query-order-key-case: the query is signed sorted by name.
BOOST_AUTO_TEST_CASE(query_parameters_are_signed_in_sorted_order) {
  const sigv4_request r{"GET",
                        "/",
                        {{"Param2", "value2"}, {"Param1", "value1"}},
                        {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", suite_time}},
                        empty_hash};
  BOOST_TEST(sigv4_canonical_query(r.query) == "Param1=value1&Param2=value2");
  BOOST_TEST(sigv4_signature(r, suite_key, suite_scope, suite_time) ==
             "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

BOOST_AUTO_TEST_CASE(the_s3_reference_examples_signed_in_headers) {
  // GET Object with a Range header.
  const sigv4_request get{"GET",
                          "/test.txt",
                          {},
                          {{"Host", "examplebucket.s3.amazonaws.com"},
                           {"Range", "bytes=0-9"},
                           {"x-amz-content-sha256", empty_hash},
                           {"x-amz-date", s3_time}},
                          empty_hash};
  BOOST_TEST(sigv4_authorization(get, s3_key, s3_scope, s3_time) ==
             "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
             "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
             "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");

  // PUT Object: the key's '$' encoded once, the body's hash signed.
  const std::string body_hash = sha256_hex("Welcome to Amazon S3.");
  BOOST_TEST(body_hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  const sigv4_request put{"PUT",
                          "/" + sigv4_uri_encode("test$file.text", true),
                          {},
                          {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                           {"Host", "examplebucket.s3.amazonaws.com"},
                           {"x-amz-content-sha256", body_hash},
                           {"x-amz-date", s3_time},
                           {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
                          body_hash};
  BOOST_TEST(put.path == "/test%24file.text");
  BOOST_TEST(sigv4_signature(put, s3_key, s3_scope, s3_time) ==
             "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");

  // GET Bucket (list objects): a query.
  const sigv4_request list{"GET",
                           "/",
                           {{"max-keys", "2"}, {"prefix", "J"}},
                           {{"Host", "examplebucket.s3.amazonaws.com"},
                            {"x-amz-content-sha256", empty_hash},
                            {"x-amz-date", s3_time}},
                           empty_hash};
  BOOST_TEST(sigv4_signature(list, s3_key, s3_scope, s3_time) ==
             "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

// The presigned-URL example: a GET of examplebucket/test.txt valid for a day.
BOOST_AUTO_TEST_CASE(the_s3_reference_example_presigned_in_the_query) {
  const std::string query = sigv4_presigned_query("GET", "/test.txt", "examplebucket.s3.amazonaws.com", s3_key,
                                                  s3_scope, s3_time, std::chrono::hours(24));
  BOOST_TEST("https://examplebucket.s3.amazonaws.com/test.txt?" + query ==
             "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
             "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
             "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
             "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

BOOST_AUTO_TEST_CASE(canonical_headers_are_lower_case_trimmed_and_merged) {
  const sigv4_request r{"PUT",
                        "/k",
                        {},
                        {{"X-Amz-Meta-B", "  two   words  "}, {"Host", "h"}, {"x-amz-meta-b", "again"}},
                        "UNSIGNED-PAYLOAD"};
  BOOST_TEST(sigv4_signed_headers(r.headers) == "host;x-amz-meta-b");
  BOOST_TEST(sigv4_canonical_request(r) ==
             "PUT\n/k\n\nhost:h\nx-amz-meta-b:two words,again\n\nhost;x-amz-meta-b\nUNSIGNED-PAYLOAD");
}

BOOST_AUTO_TEST_CASE(uri_encoding_keeps_only_unreserved_characters) {
  BOOST_TEST(sigv4_uri_encode("A-z_0.9~", false) == "A-z_0.9~");
  BOOST_TEST(sigv4_uri_encode("a b+c=d&e", false) == "a%20b%2Bc%3Dd%26e");
  BOOST_TEST(sigv4_uri_encode("job/1/x.png", true) == "job/1/x.png");
  BOOST_TEST(sigv4_uri_encode("job/1", false) == "job%2F1");
  BOOST_TEST(sigv4_uri_encode("\xc3\xa9", true) == "%C3%A9");
  BOOST_TEST(sigv4_canonical_query({{"b", "2"}, {"a", "x y"}, {"A", ""}}) == "A=&a=x%20y&b=2");
}

BOOST_AUTO_TEST_CASE(timestamps_are_utc) {
  // 2013-05-24T00:00:00Z as seconds since the epoch.
  const auto t = std::chrono::system_clock::from_time_t(1369353600);
  BOOST_TEST(amz_timestamp(t) == "20130524T000000Z");
  BOOST_TEST(amz_timestamp(t + std::chrono::seconds(3600 * 13 + 61)) == "20130524T130101Z");
}
