#pragma once
// Runs the real `sdworker serve` binary (SDW_BINARY) with extra environment variables (the
// RunPod ones), in its own working folder, stdout and stderr to files.

#include "tests/support/tiny_model.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

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
    std::vector<std::string> args = {binary,        "--threads",    "1",          subcommand,
                                     "--model",     model,          "--clip-vocab", clip_vocab(),
                                     "--model-dir", dir_.path};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<std::string> vars;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string v = *e;
      const std::string name = v.substr(0, v.find('='));
      bool drop = false;
      for (const auto& u : unset) {
        drop = drop || name == u;
      }
      for (const auto& kv : env) {
        drop = drop || name == kv.first;
      }
      if (!drop) {
        vars.push_back(v);
      }
    }
    for (const auto& kv : env) {
      vars.push_back(kv.first + "=" + kv.second);
    }
    // Everything the child needs is made before fork: only async-signal-safe calls after it.
    std::vector<char*> argv, envp;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    for (auto& v : vars) {
      envp.push_back(v.data());
    }
    envp.push_back(nullptr);
    const int out = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const std::string cwd = dir_.path;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out, 1);
      ::dup2(err, 2);
      if (::chdir(cwd.c_str()) != 0) {
        ::_exit(126);
      }
      ::execve(binary, argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(out);
    ::close(err);
  }

  ~serve_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }

  serve_process(const serve_process&) = delete;
  serve_process& operator=(const serve_process&) = delete;

  /// Whether the process is still running.
  bool alive() {
    if (pid_ <= 0) {
      return false;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return false;
    }
    return true;
  }

  void signal(int sig) {
    if (pid_ > 0) {
      ::kill(pid_, sig);
    }
  }

  /// Waits for the process to exit by itself; its exit code, or -1 on timeout (it is then killed)
  /// or death by a signal.
  int wait_exit(std::chrono::seconds limit = std::chrono::seconds(60)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (!alive()) {
        return code_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return -1;
  }

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
  pid_t pid_ = -1;
  int code_ = -1;
};

} // namespace sdw::test
