#pragma once
// A fresh temporary folder for one test, removed with everything in it at the end, and reading a
// file the test or a reference script wrote there.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <unistd.h>

namespace sdw::test {

struct temp_dir {
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sdw-test-XXXXXX").string();
    dir = ::mkdtemp(tmpl.data());
    path = dir.string();
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string file(const std::string& name) const { return (dir / name).string(); }

  std::filesystem::path dir;
  std::string path;
};

/// A whole file's bytes; a file that cannot be opened throws (and so fails the test naming it).
inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  return {std::istreambuf_iterator<char>(f), {}};
}

} // namespace sdw::test
