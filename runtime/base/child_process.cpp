#include "runtime/base/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

extern char** environ;

namespace sdw {
namespace {

int open_output(const std::string& path) {
  if (path.empty()) {
    return -1;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::runtime_error("cannot write " + path);
  }
  return fd;
}

std::vector<std::string> child_environment(const child_spec& spec) {
  std::vector<std::string> vars;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string v = *e;
    const std::string name = v.substr(0, v.find('='));
    bool drop = false;
    for (const auto& u : spec.unset) {
      drop = drop || name == u;
    }
    for (const auto& kv : spec.env) {
      drop = drop || name == kv.first;
    }
    if (!drop) {
      vars.push_back(v);
    }
  }
  for (const auto& kv : spec.env) {
    vars.push_back(kv.first + "=" + kv.second);
  }
  return vars;
}

} // namespace

child_process::child_process(const child_spec& spec) {
  // Everything the child needs is made before fork: only async-signal-safe calls after it.
  std::vector<std::string> args = spec.args;
  std::vector<std::string> vars = child_environment(spec);
  std::vector<char*> argv, envp;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  for (auto& v : vars) {
    envp.push_back(v.data());
  }
  envp.push_back(nullptr);
  const int out = open_output(spec.stdout_path);
  const int err = spec.stderr_path == spec.stdout_path ? out : open_output(spec.stderr_path);
  const std::string cwd = spec.cwd;
  pid_ = ::fork();
  if (pid_ == 0) {
    if (out >= 0) {
      ::dup2(out, 1);
    }
    if (err >= 0) {
      ::dup2(err, 2);
    }
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
      ::_exit(126);
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  if (out >= 0) {
    ::close(out);
  }
  if (err >= 0 && err != out) {
    ::close(err);
  }
  if (pid_ < 0) {
    throw std::runtime_error("cannot start " + spec.args.at(0));
  }
}

child_process::~child_process() { kill(); }

bool child_process::alive() {
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

void child_process::signal(int sig) {
  if (alive()) {
    ::kill(pid_, sig);
  }
}

int child_process::wait_exit(std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (!alive()) {
      return code_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill();
  return -1;
}

int child_process::stop(std::chrono::milliseconds grace) {
  if (!alive()) {
    return -1;
  }
  ::kill(pid_, SIGTERM);
  return wait_exit(grace);
}

void child_process::kill() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    code_ = -1;
  }
}

} // namespace sdw
