#pragma once
// Runs the real `sdworker serve` binary (SDW_BINARY) with extra environment variables (the
// RunPod ones), in its own working folder, stdout and stderr to files.

#include "runtime/base/child_process.hpp"
#include "tests/support/tiny_model.hpp"

#include <signal.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sdw::test {

class serve_process {
public:
  /// Starts `sdworker --threads 1 <subcommand> --model <model> ... <extra>` with `env` added to (or
  /// replacing in) the environment; `unset` names variables to remove. Runs in its own temp folder,
  /// where `files` (name, text) are written first.
  serve_process(const std::string& model, const std::vector<std::pair<std::string, std::string>>& env,
                std::vector<std::string> extra = {}, const std::vector<std::string>& unset = {},
                const std::vector<std::pair<std::string, std::string>>& files = {},
                const std::string& subcommand = "serve")
    : out_(dir_.file("stdout.txt")), log_(dir_.file("stderr.txt")) {
    for (const auto& f : files) {
      std::ofstream(dir_.file(f.first)) << f.second;
    }
    const char* binary = std::getenv("SDW_BINARY");
    if (binary == nullptr) {
      throw std::runtime_error("SDW_BINARY is not set");
    }
    child_spec spec;
    spec.args = {binary, "--threads", "1", subcommand, "--model", model, "--clip-vocab", clip_vocab(),
                 "--model-dir", dir_.path};
    spec.args.insert(spec.args.end(), extra.begin(), extra.end());
    spec.env = env;
    spec.unset = unset;
    spec.stdout_path = out_;
    spec.stderr_path = log_;
    spec.cwd = dir_.path;
    child_ = std::make_unique<child_process>(spec);
  }

  /// Whether the process is still running.
  bool alive() { return child_->alive(); }

  void signal(int sig) { child_->signal(sig); }

  /// Waits for the process to exit by itself; its exit code, or -1 on timeout (it is then killed)
  /// or death by a signal.
  int wait_exit(std::chrono::seconds limit = std::chrono::seconds(60)) { return child_->wait_exit(limit); }

  /// What it wrote on stdout / stderr so far.
  std::string out() const { return read(out_); }
  std::string log() const { return read(log_); }

  const temp_dir& dir() const { return dir_; }

private:
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  temp_dir dir_;
  std::string out_;
  std::string log_;
  std::unique_ptr<child_process> child_;
};

} // namespace sdw::test
