#pragma once
// A fresh temporary folder for one test, removed with everything in it at the end.

#include <cstdlib>
#include <filesystem>
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

} // namespace sdw::test
