#include "actors/remote_executor.hpp"

#include <caf/io/middleman.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <set>

namespace sdw {
namespace {

using self_ptr = remote_executor_actor::stateful_pointer<remote_executor_state>;

/// Stop flags are looked at this often; heartbeats and reconnects go every few ticks.
constexpr auto tick_period = std::chrono::milliseconds(50);
constexpr uint64_t heartbeat_ticks_busy = 4;     // 200 ms: notice a loaded model soon, pass progress on
constexpr uint64_t heartbeat_ticks_ready = 20;   // 1 s
constexpr uint64_t reconnect_ticks = 20;
constexpr auto heartbeat_timeout = std::chrono::seconds(3);
constexpr auto connect_timeout = std::chrono::seconds(5);
constexpr int heartbeats_missed_when_lost = 2;

std::string device_name(const remote_executor_state& st) { return "remote:" + st.address.text(); }

/// Every job of `jobs` as lost with the host: the scheduler queues them again.
std::vector<generation_output> lost_outputs(const std::vector<generation_job>& jobs, const std::string& why) {
  std::vector<generation_output> outs(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    outs[i].job = jobs[i];
    outs[i].error = job_error{errc::executor_lost, "", why};
  }
  return outs;
}

void tell_health(self_ptr self, model_status status) {
  if (self->state.report_health) {
    self->send(self->state.health, state_atom::value, std::move(status));
  }
}

void lose(self_ptr self, const std::string& why) {
  auto& st = self->state;
  if (!st.host) {
    return;
  }
  spdlog::warn("{}: {}", device_name(st), why);
  self->demonitor(st.host.address());
  st.host = nullptr;
  ++st.connection;
  st.heartbeat_pending = false;
  st.missed_heartbeats = 0;
  st.host_model.reset();
  // The scheduler hears first, so the batches that come back are not placed here again.
  self->send(st.scheduler, offline_atom::value, why, st.index);
  auto flights = std::move(st.in_flight);
  st.in_flight.clear();
  for (auto& [id, f] : flights) {
    f.promise.deliver(lost_outputs(f.jobs, "executor host " + st.address.text() + ": " + why));
  }
}

void on_report(self_ptr self, const health_report& r) {
  auto& st = self->state;
  st.missed_heartbeats = 0;
  // The host's executor reports progress to the host's health; /progress and /health here see
  // it through the heartbeat.
  if (!st.in_flight.empty() && !r.current.id.empty()) {
    self->send(st.health, progress_atom::value, r.current);
  }
  if (r.model.state == st.host_model) {
    return;
  }
  st.host_model = r.model.state;
  tell_health(self, r.model);
  if (r.model.state == model_state::ready) {
    spdlog::info("{}: ready", device_name(st));
    self->send(st.scheduler, ready_atom::value, true, std::string(), st.index);
  } else if (r.model.state == model_state::failed) {
    self->send(st.scheduler, ready_atom::value, false, r.model.error, st.index);
  }
}

void heartbeat(self_ptr self) {
  auto& st = self->state;
  st.heartbeat_pending = true;
  const uint64_t connection = st.connection;
  self->request(st.host, heartbeat_timeout, report_atom::value)
    .then(
      [self, connection](health_report& r) {
        if (connection == self->state.connection) {
          self->state.heartbeat_pending = false;
          on_report(self, r);
        }
      },
      [self, connection](caf::error& err) {
        auto& s = self->state;
        if (connection != s.connection) {
          return;
        }
        s.heartbeat_pending = false;
        if (++s.missed_heartbeats >= heartbeats_missed_when_lost) {
          lose(self, "no answer to " + std::to_string(s.missed_heartbeats) + " heartbeats (" +
                       self->system().render(err) + ")");
        }
      });
}

void connect(self_ptr self) {
  auto& st = self->state;
  st.connecting = true;
  auto mm = self->system().middleman().actor_handle();
  self->request(mm, connect_timeout, caf::connect_atom::value, st.address.host, st.address.port)
    .then(
      [self](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>& ifs) {
        auto& s = self->state;
        s.connecting = false;
        if (!ptr || !self->system().assignable<executor_host_actor>(ifs)) {
          spdlog::error("{}: not an sdworker executor host (another program, or another version)", device_name(s));
          return;
        }
        s.host = caf::actor_cast<executor_host_actor>(ptr);
        ++s.connection;
        s.failed_connects = 0;
        s.missed_heartbeats = 0;
        self->monitor(s.host);
        spdlog::info("{}: connected", device_name(s));
        heartbeat(self);
      },
      [self](caf::error& err) {
        auto& s = self->state;
        s.connecting = false;
        // The first failure and then one in 30 say so; a host may simply start later.
        if (s.failed_connects++ % 30 == 0) {
          spdlog::warn("{}: cannot connect ({}); trying again every second", device_name(s),
                       self->system().render(err));
        }
      });
}

void tell_stops(self_ptr self) {
  auto& st = self->state;
  for (auto& [id, f] : st.in_flight) {
    for (size_t i = 0; i < f.jobs.size() && i < f.tokens.size(); ++i) {
      const cancel_token& t = f.tokens[i];
      const std::string& job = f.jobs[i].id;
      if (!(f.sent[i] & 1) && t.flag->load()) {
        f.sent[i] |= 1;
        self->send(st.host, cancel_atom::value, job);
      }
      if (!(f.sent[i] & 2) && t.interrupt->load()) {
        f.sent[i] |= 2;
        self->send(st.host, interrupt_atom::value, job);
      }
      if (t.skip->load()) {
        // The host's pipeline clears its own skip flag; this one is cleared as it is passed on.
        t.skip->store(false);
        self->send(st.host, skip_atom::value, job);
      }
    }
  }
}

void tick(self_ptr self) {
  auto& st = self->state;
  ++st.ticks;
  if (st.host) {
    tell_stops(self);
    const uint64_t every =
      st.host_model == model_state::ready && st.in_flight.empty() ? heartbeat_ticks_ready : heartbeat_ticks_busy;
    if (!st.heartbeat_pending && st.ticks % every == 0) {
      heartbeat(self);
    }
  } else if (!st.connecting && st.ticks % reconnect_ticks == 0) {
    connect(self);
  }
  self->delayed_send(self, tick_period, tick_atom::value);
}

} // namespace

remote_executor_actor::behavior_type remote_executor(self_ptr self, remote_address address, health_actor health,
                                                     bool report_health) {
  auto& st = self->state;
  st.address = std::move(address);
  st.health = std::move(health);
  st.report_health = report_health;
  self->set_down_handler([self](caf::down_msg& dm) {
    if (self->state.host && dm.source == self->state.host.address()) {
      lose(self, "connection lost (" + self->system().render(dm.reason) + ")");
    }
  });
  return {
    [=](model_atom, loaded_model&) {
      // The host loads its own model; nothing of it crosses processes.
      return std::string();
    },
    [=](run_atom, std::vector<generation_job>& jobs,
        std::vector<cancel_token>& tokens) -> caf::result<std::vector<generation_output>> {
      auto& s = self->state;
      if (!s.host || s.host_model != model_state::ready) {
        return lost_outputs(jobs, "executor host " + s.address.text() + " is not connected");
      }
      auto promise = self->make_response_promise<std::vector<generation_output>>();
      const uint64_t id = s.next_batch++;
      std::vector<uint8_t> sent(jobs.size(), 0);
      s.in_flight.emplace(id, remote_executor_state::flight{jobs, std::move(tokens), promise, std::move(sent)});
      self->request(s.host, caf::infinite, run_atom::value, std::move(jobs))
        .then(
          [self, id](std::vector<generation_output>& outs) {
            auto& f = self->state.in_flight;
            if (auto it = f.find(id); it != f.end()) {
              it->second.promise.deliver(std::move(outs));
              f.erase(it);
            }
          },
          [self, id](caf::error& err) {
            // Whatever broke the batch broke the connection's use: start over (the jobs come back).
            if (self->state.in_flight.count(id) > 0) {
              lose(self, "the batch failed (" + self->system().render(err) + ")");
            }
          });
      return promise;
    },
    // The host process holds its own model and keeps it: unload and reload stay local.
    [=](unload_atom) { return std::make_tuple(int64_t{0}, std::vector<std::string>{}); },
    [=](reload_atom) { return std::make_tuple(int64_t{0}, std::vector<std::string>{}); },
    [=](tick_atom) { tick(self); },
    [=](ready_atom, scheduler_actor& scheduler, int32_t index) {
      self->state.scheduler = std::move(scheduler);
      self->state.index = index;
      model_status status;
      status.stage = "connecting to executor host " + self->state.address.text();
      tell_health(self, status);
      connect(self);
      tick(self);
    },
  };
}

} // namespace sdw
