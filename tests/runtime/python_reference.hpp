#pragma once
// Test helpers: run a reference script with set-up's Python (SDW_PYTHON: torch, numpy) and read what it
// wrote (raw little-endian float32 files and a whitespace-separated manifest).

#include "tests/support/run_command.hpp"

#include <ATen/ATen.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace sdw::test {

/// The project root (SDW_SOURCE_DIR, set by ctest).
inline std::string source_dir() {
  const char* s = std::getenv("SDW_SOURCE_DIR");
  return s ? s : ".";
}

/// A fresh temporary directory.
inline std::string make_temp_dir(const std::string& tag) {
  std::string templ = "/tmp/sdw_" + tag + "_XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  return buf.data();
}

/// A temporary directory removed again when the object goes away.
struct temp_dir {
  std::string path;
  explicit temp_dir(const std::string& tag) : path(make_temp_dir(tag)) {}
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

/// Runs tests/runtime/<script> with python() and the given arguments; throws on failure.
inline void run_python(const std::string& script, const std::string& args) {
  const std::string cmd = python() + " '" + source_dir() + "/tests/runtime/" + script + "' " + args;
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("reference script failed: " + cmd);
}

/// A raw float32 file as a 1-D float tensor.
inline at::Tensor read_floats(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw std::runtime_error("cannot open " + path);
  const auto bytes = static_cast<size_t>(f.tellg());
  f.seekg(0);
  auto t = at::empty({static_cast<int64_t>(bytes / sizeof(float))}, at::kFloat);
  f.read(reinterpret_cast<char*>(t.data_ptr<float>()), static_cast<std::streamsize>(bytes));
  return t;
}

/// The lines of a manifest, each split on whitespace (or on `sep` when given).
inline std::vector<std::vector<std::string>> read_manifest(const std::string& path, char sep = ' ') {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    std::vector<std::string> fields;
    std::stringstream ss(line);
    std::string field;
    while (std::getline(ss, field, sep))
      if (!field.empty()) fields.push_back(field);
    rows.push_back(fields);
  }
  return rows;
}

/// Largest absolute difference of two tensors of the same number of elements.
inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.reshape({-1}).to(at::kDouble) - b.reshape({-1}).to(at::kDouble)).abs().max().item<double>();
}

} // namespace sdw::test
