#include "actors/sim_workers.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>

extern char** environ;

namespace sdw {

sim_workers::~sim_workers() {
  for (auto& p : procs_) {
    if (p.pid > 0) {
      ::kill(p.pid, SIGKILL);
      int status = 0;
      ::waitpid(p.pid, &status, 0);
    }
  }
}

void sim_workers::start(const sim_worker_spec& spec, const std::string& name,
                        const std::vector<std::pair<std::string, std::string>>& env) {
  char scale[32];
  std::snprintf(scale, sizeof scale, "%g", spec.time_scale);
  std::vector<std::string> args = {spec.binary, "--threads", "1", "serve", "--simulate", "1",
                                   "--simulate-time-scale", scale};
  args.insert(args.end(), spec.extra.begin(), spec.extra.end());
  std::vector<std::string> vars;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string v = *e;
    const std::string var = v.substr(0, v.find('='));
    bool replaced = false;
    for (const auto& kv : env) {
      replaced = replaced || kv.first == var;
    }
    if (!replaced) {
      vars.push_back(v);
    }
  }
  for (const auto& kv : env) {
    vars.push_back(kv.first + "=" + kv.second);
  }
  // Everything the child needs is built before fork: only async-signal-safe calls after it.
  std::vector<char*> argv, envp;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  for (auto& v : vars) {
    envp.push_back(v.data());
  }
  envp.push_back(nullptr);
  const std::string log = spec.log_dir + "/" + name + ".log";
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::runtime_error("sim: cannot write " + log);
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(fd);
  if (pid < 0) {
    throw std::runtime_error("sim: cannot start a worker process");
  }
  procs_.push_back({name, pid});
}

bool sim_workers::kill(const std::string& name) {
  for (auto& p : procs_) {
    if (p.name == name && alive(name)) {
      ::kill(p.pid, SIGKILL);
      int status = 0;
      ::waitpid(p.pid, &status, 0);
      p.pid = -1;
      return true;
    }
  }
  return false;
}

bool sim_workers::alive(const std::string& name) {
  for (auto& p : procs_) {
    if (p.name == name && p.pid > 0) {
      int status = 0;
      if (::waitpid(p.pid, &status, WNOHANG) == p.pid) {
        p.pid = -1;
        return false;
      }
      return true;
    }
  }
  return false;
}

std::vector<std::string> sim_workers::names() const {
  std::vector<std::string> out;
  for (const auto& p : procs_) {
    out.push_back(p.name);
  }
  return out;
}

} // namespace sdw
