#pragma once
// Runs a shell command and returns its exit code and combined stdout/stderr; names set-up's Python.

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

namespace sdw::test {

inline std::pair<int, std::string> run_command(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    return {-1, "popen failed: " + cmd};
  }
  std::array<char, 512> buf{};
  while (fgets(buf.data(), buf.size(), p) != nullptr) {
    out += buf.data();
  }
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// The Python with torch, the test references and RunPod's SDK (SDW_PYTHON, which ctest sets to
/// set-up's environment).
inline std::string python() {
  const char* p = std::getenv("SDW_PYTHON");
  return p != nullptr && *p != '\0' ? p : "python3";
}

} // namespace sdw::test
