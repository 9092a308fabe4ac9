#include "runtime/sim/sim_workers.hpp"

#include <cstdio>

namespace sdw {

void sim_workers::start(const sim_worker_spec& spec, const std::string& name,
                        const std::vector<std::pair<std::string, std::string>>& env) {
  char scale[32];
  std::snprintf(scale, sizeof scale, "%g", spec.time_scale);
  child_spec child;
  child.args = {spec.binary, "--threads", "1", "serve", "--simulate", "1", "--simulate-time-scale", scale};
  child.args.insert(child.args.end(), spec.extra.begin(), spec.extra.end());
  child.env = env;
  child.stdout_path = spec.log_dir + "/" + name + ".log";
  child.stderr_path = child.stdout_path;
  procs_.push_back({name, std::make_unique<child_process>(child)});
}

bool sim_workers::kill(const std::string& name) {
  for (auto& p : procs_) {
    if (p.name == name && p.process->alive()) {
      p.process->kill();
      return true;
    }
  }
  return false;
}

bool sim_workers::alive(const std::string& name) {
  for (auto& p : procs_) {
    if (p.name == name) {
      return p.process->alive();
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
