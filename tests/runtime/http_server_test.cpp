#define BOOST_TEST_MODULE http_server
#include <boost/test/unit_test.hpp>

#include "runtime/net/http_checks.hpp"
#include "runtime/net/http_server.hpp"
#include "tests/support/raw_http.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <thread>

using namespace sdw;
using sdw::test::raw_http;

namespace {

/// The file descriptors this process has open.
std::size_t open_descriptors() {
  const std::filesystem::directory_iterator fds("/proc/self/fd");
  return static_cast<std::size_t>(std::distance(begin(fds), end(fds)));
}

/// A server with small limits: /early is answered from the header alone, /later from another
/// thread after a while, anything else with the size of its body.
struct fixture {
  fixture() : server("127.0.0.1", 0, limits(), handlers()) { server.open(); }
  ~fixture() {
    server.close();
    for (auto& t : late) t.join();
  }

  static http_server_limits limits() {
    http_server_limits l;
    l.max_header_bytes = 4096;
    l.max_body_bytes = 1000;
    l.read_timeout = std::chrono::milliseconds(1500);
    l.threads = 2;
    return l;
  }

  http_server_handlers handlers() {
    http_server_handlers h;
    h.on_header = [](const http_request_in& head) -> std::optional<http_response_out> {
      if (head.target == "/early") return http_response_out{404, R"({"early":true})"};
      return std::nullopt;
    };
    h.on_request = [this](http_request_in in, http_respond_fn respond) {
      ++requests;
      if (in.target == "/later") {
        late.emplace_back([respond] {
          std::this_thread::sleep_for(std::chrono::milliseconds(300));
          respond({200, R"({"later":true})"});
          respond({500, R"({"twice":true})"});  // only the first answer counts
        });
        return;
      }
      respond({200, R"({"size":)" + std::to_string(in.body.size()) + R"(,"ct":")" +
                      in.header("content-type").value_or("") + "\"}"});
    };
    h.error_body = [](int status, const std::string& reason) {
      return R"({"status":)" + std::to_string(status) + R"(,"reason":")" + reason + "\"}";
    };
    return h;
  }

  int port() const { return server.port(); }

  std::atomic<int> requests{0};
  std::vector<std::thread> late;
  http_server server;
};

std::string post(const std::string& target, const std::string& body, const std::string& extra = "") {
  return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

std::string chunked(const std::vector<std::string>& chunks) {
  std::string out;
  for (const auto& c : chunks) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", c.size());
    out += size + c + "\r\n";
  }
  return out + "0\r\n\r\n";
}

const std::string chunked_head = "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";

} // namespace

BOOST_FIXTURE_TEST_SUITE(server, fixture)

BOOST_AUTO_TEST_CASE(requests_are_answered_and_connections_kept) {
  const auto r = raw_http(port(), post("/echo", R"({"a":1})"));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == R"({"size":7,"ct":"application/json"})");
  BOOST_TEST(r.head.find("Content-Type: application/json") != std::string::npos);
  BOOST_TEST(!r.closed);
  // Two requests back to back on one connection: both are answered.
  const auto two = raw_http(port(), post("/echo", "{}") + post("/echo", "[1,2]"));
  BOOST_TEST(two.status == 200);
  BOOST_TEST(two.body.find(R"({"size":2,)") == 0u);
}

BOOST_AUTO_TEST_CASE(an_answer_may_come_later_from_another_thread) {
  const auto r = raw_http(port(), "GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == R"({"later":true})");
  BOOST_TEST(r.seconds >= 0.25);
}

BOOST_AUTO_TEST_CASE(an_answer_from_the_header_leaves_the_body_unread) {
  // Content-Length says 500 bytes that never come: the answer does not wait for them.
  const auto r = raw_http(port(), "POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n");
  BOOST_TEST(r.status == 404);
  BOOST_TEST(r.body == R"({"early":true})");
  BOOST_TEST(r.seconds < 1.0);
  BOOST_TEST(requests == 0);
}

BOOST_AUTO_TEST_CASE(a_body_over_the_limit_is_413_at_once_when_its_length_says_so) {
  const auto r = raw_http(port(), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n");
  BOOST_TEST(r.status == 413);
  BOOST_TEST(r.body == R"({"status":413,"reason":"Request body too large: more than 1000 bytes"})");
  BOOST_TEST(r.seconds < 1.0);
  BOOST_TEST(r.head.find("Connection: close") != std::string::npos);
  // Exactly at the limit is fine; one byte more is not.
  BOOST_TEST(raw_http(port(), post("/echo", std::string(1000, 'x'))).status == 200);
  BOOST_TEST(raw_http(port(), post("/echo", std::string(1001, 'x'))).status == 413);
  BOOST_TEST(requests == 1);
}

BOOST_AUTO_TEST_CASE(chunked_bodies_are_held_to_the_same_limit) {
  const auto ok = raw_http(port(), chunked_head + chunked({std::string(600, 'a'), std::string(400, 'b')}));
  BOOST_TEST(ok.status == 200);
  BOOST_TEST(ok.body.find(R"({"size":1000,)") == 0u);
  // 3 × 600 bytes: refused when the second chunk is announced, before the rest is sent.
  const auto over =
    raw_http(port(), chunked_head + chunked({std::string(600, 'a'), std::string(600, 'b'), std::string(600, 'c')}));
  BOOST_TEST(over.status == 413);
  BOOST_TEST(over.body.find("Request body too large") != std::string::npos);
  // Many small chunks add up too.
  const auto many = raw_http(port(), chunked_head + chunked(std::vector<std::string>(200, std::string(10, 'z'))));
  BOOST_TEST(many.status == 413);
  BOOST_TEST(requests == 1);
}

BOOST_AUTO_TEST_CASE(malformed_lengths_are_400_at_once) {
  for (const std::string length : {"-1", "abc", "99999999999999999999999", "1, 2", ""}) {
    BOOST_TEST_CONTEXT("Content-Length: " << length) {
      const auto r = raw_http(port(), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + "\r\n\r\n{}");
      BOOST_TEST(r.status == 400);
      BOOST_TEST(r.body.find(R"({"status":400,"reason":"Bad request: )") == 0u, r.body);
      BOOST_TEST(r.seconds < 1.0);
    }
  }
  const auto bad_chunk = raw_http(port(), chunked_head + "zz\r\nabc\r\n0\r\n\r\n");
  BOOST_TEST(bad_chunk.status == 400);
  const auto bad_line = raw_http(port(), "GARBAGE\r\n\r\n");
  BOOST_TEST(bad_line.status == 400);
  BOOST_TEST(requests == 0);
}

BOOST_AUTO_TEST_CASE(oversized_headers_are_431) {
  const std::string big = "GET /echo HTTP/1.1\r\nHost: x\r\nX-Filler: " + std::string(1 << 20, 'h') + "\r\n\r\n";
  const auto r = raw_http(port(), big);
  BOOST_TEST(r.status == 431);
  BOOST_TEST(r.body == R"({"status":431,"reason":"Request header fields too large: more than 4096 bytes"})");
  std::string many = "GET /echo HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 400; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  BOOST_TEST(raw_http(port(), many + "\r\n").status == 431);
  BOOST_TEST(requests == 0);
}

BOOST_AUTO_TEST_CASE(expect_100_continue_is_honoured) {
  const auto r = raw_http(port(), "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
                          std::chrono::seconds(5), "hello");
  BOOST_TEST(r.continued);
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body.find(R"({"size":5,)") == 0u);
}

BOOST_AUTO_TEST_CASE(a_request_that_stalls_is_dropped_after_the_read_timeout) {
  const auto r =
    raw_http(port(), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", std::chrono::seconds(10));
  BOOST_TEST(r.closed);
  BOOST_TEST(r.status == 0);
  BOOST_TEST(r.seconds > 1.0);
  BOOST_TEST(r.seconds < 8.0);
  const auto half_header = raw_http(port(), "GET /echo HTTP/1.1\r\nHost: x\r\n", std::chrono::seconds(10));
  BOOST_TEST(half_header.closed);
  BOOST_TEST(half_header.seconds < 8.0);
}

BOOST_AUTO_TEST_CASE(head_requests_get_no_body) {
  const auto r = raw_http(port(), "HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n", std::chrono::seconds(3));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body.empty());
  BOOST_TEST(r.closed);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(an_answer_after_close_is_dropped) {
  http_respond_fn kept;
  std::atomic<bool> got{false};
  {
    http_server_handlers h;
    h.on_request = [&](http_request_in, http_respond_fn respond) {
      kept = respond;
      got = true;
    };
    http_server server("127.0.0.1", 0, {}, h);
    server.open();
    std::thread client(
      [port = server.port()] { raw_http(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", std::chrono::seconds(3)); });
    while (!got) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    server.close();
    client.join();
  }
  kept({200, "{}"});  // nothing to answer any more, and nothing breaks
  BOOST_TEST(got);
  // The last reference to the connection goes here, after the server: its socket and timer are
  // destroyed before the io_context they belong to (the sanitizer build checks that).
  kept = nullptr;
}

BOOST_AUTO_TEST_CASE(a_taken_port_is_an_error_naming_it) {
  http_server first("127.0.0.1", 0, {}, {});
  first.open();
  const std::size_t fds_before = open_descriptors();
  {
    http_server second("127.0.0.1", first.port(), {}, {});
    try {
      second.open();
      BOOST_FAIL("bound twice");
    } catch (const std::runtime_error& e) {
      BOOST_TEST(std::string(e.what()).find("cannot listen on 127.0.0.1:" + std::to_string(first.port())) == 0u);
    }
  }
  // The server that never served is gone with its socket and its io_context's descriptors.
  BOOST_TEST(open_descriptors() == fds_before);
}

BOOST_AUTO_TEST_CASE(json_media_types) {
  BOOST_TEST(is_json_media_type(std::nullopt));
  BOOST_TEST(is_json_media_type(std::string("")));
  BOOST_TEST(is_json_media_type(std::string("application/json")));
  BOOST_TEST(is_json_media_type(std::string("Application/JSON; charset=utf-8")));
  BOOST_TEST(is_json_media_type(std::string("application/vnd.api+json")));
  BOOST_TEST(!is_json_media_type(std::string("text/plain")));
  BOOST_TEST(!is_json_media_type(std::string("text/plain; charset=application/json")));
  BOOST_TEST(!is_json_media_type(std::string("application/x-www-form-urlencoded")));
  BOOST_TEST(!is_json_media_type(std::string("multipart/form-data; boundary=x")));
  BOOST_TEST(!is_json_media_type(std::string("application/jsonp")));
  BOOST_TEST(!is_json_media_type(std::string("text/json")));
}

BOOST_AUTO_TEST_CASE(loopback_hosts) {
  for (const char* h : {"127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2", "LOCALHOST"})
    BOOST_TEST(is_loopback_host(h), h);
  for (const char* h : {"0.0.0.0", "::", "10.0.0.1", "example.com", "192.168.1.2"}) BOOST_TEST(!is_loopback_host(h), h);
  for (const char* h :
       {"localhost", "localhost:3000", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:3000", "Localhost:1"}) {
    BOOST_TEST(is_loopback_host_header(std::string(h)), h);
  }
  BOOST_TEST(is_loopback_host_header(std::nullopt));
  for (const char* h : {"evil.example", "evil.example:3000", "localhost.evil.example", "127.0.0.1.nip.io", "", "127.1",
                        "[::1]x", "::1", "localhost:abc", "10.0.0.1:3000", "0.0.0.0"}) {
    BOOST_TEST(!is_loopback_host_header(std::string(h)), h);
  }
}
