#define BOOST_TEST_MODULE file_hash
#include <boost/test/unit_test.hpp>

#include "tests/support/temp_dir.hpp"

#include "runtime/catalog/file_hash.hpp"
#include "runtime/base/errors.hpp"

#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace sdw;

namespace {

using sdw::test::temp_dir;

} // namespace

// Expected values are Python hashlib's for the same bytes.
BOOST_AUTO_TEST_CASE(hashes_match_hashlib) {
  temp_dir tmp;
  {
    std::ofstream out(tmp.file("abc.safetensors"), std::ios::binary);
    out << "abc";
  }
  BOOST_TEST(file_sha256(tmp.file("abc.safetensors")) ==
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  BOOST_TEST(short_hash(file_sha256(tmp.file("abc.safetensors"))) == "ba7816bf8f");
  BOOST_TEST(legacy_model_hash(tmp.file("abc.safetensors")) == "e3b0c442");  // nothing at 1 MiB

  // Over two 1 MiB blocks, so the block loop and the legacy window are both exercised.
  std::string data(1200000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 7 + 3) % 256);
  {
    std::ofstream out(tmp.file("big.safetensors"), std::ios::binary);
    out << data;
  }
  BOOST_TEST(file_sha256(tmp.file("big.safetensors")) ==
             "6fe71f2e4933e3006925a4f23af3fb7dc4eeeb290158d86da228cab9cef6b625");
  BOOST_TEST(legacy_model_hash(tmp.file("big.safetensors")) == "510b126e");
}

BOOST_AUTO_TEST_CASE(missing_file_is_not_found) {
  try {
    file_sha256("/nonexistent/model.safetensors");
    BOOST_ERROR("should fail");
  } catch (const error& e) {
    BOOST_TEST((e.code() == errc::not_found));
    BOOST_TEST(e.where() == "/nonexistent/model.safetensors");
  }
}

BOOST_AUTO_TEST_CASE(cached_hash_is_reused_until_the_file_changes) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("sdw-hash-cache-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "m.safetensors").string();
  std::ofstream(path, std::ios::binary) << "abc";
  const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  BOOST_TEST(sdw::cached_file_sha256(path) == abc);
  BOOST_TEST(fs::exists(path + ".sha256"));
  BOOST_TEST(sdw::cached_file_sha256(path) == abc);
  // a different size invalidates the cached value
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "abcd";
  BOOST_TEST(sdw::cached_file_sha256(path) == sdw::file_sha256(path));
  BOOST_TEST(sdw::cached_file_sha256(path) != abc);
  fs::remove_all(dir);
}
