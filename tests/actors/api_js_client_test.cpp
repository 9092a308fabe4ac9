#define BOOST_TEST_MODULE api_js_client
#include <boost/test/unit_test.hpp>

#define _TURN_OFF_PLATFORM_STRING
#include "runtime/png_codec.hpp"
#include "tests/support/api_server.hpp"
#include "tests/support/run_command.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace {

std::string js_dir() {
  const char* src = std::getenv("SDW_SOURCE_DIR");
  return std::string(src != nullptr ? src : ".") + "/tests/js";
}

/// The client test needs node and `npm ci` in tests/js (deploy/setup.sh does both).
struct client_installed {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result ok(true);
    if (sdw::test::run_command("node --version").first != 0) {
      ok = false;
      ok.message() << "node is not installed";
    } else if (!std::filesystem::exists(js_dir() + "/node_modules/runpod-sdk/package.json")) {
      ok = false;
      ok.message() << "runpod-sdk is not installed: run `npm ci` in tests/js";
    }
    return ok;
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(runpods_javascript_client_works_unchanged, *boost::unit_test::precondition(client_installed())) {
  bool first = false;
  auto& s = sdw::test::shared_api_server({"--queue-size", "4"}, first);
  BOOST_TEST_REQUIRE(s.server.wait_until_up(), s.server.log());
  const std::string png_path = s.models.file("from_js.png");
  const auto [code, output] = sdw::test::run_command("node " + js_dir() + "/runpod_client.mjs " +
                                                     std::to_string(s.server.port()) + " " + png_path);
  BOOST_TEST(code == 0, output << "\n--- server log ---\n" << s.server.log());
  BOOST_TEST(output.find("all steps passed") != std::string::npos, output);
  std::ifstream in(png_path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_TEST_REQUIRE(!bytes.empty());
  const auto png = sdw::decode_png(bytes);
  BOOST_TEST(png.width == 64);
  BOOST_TEST(png.height == 64);
  BOOST_TEST(png.text.count("parameters") == 1u);
}
