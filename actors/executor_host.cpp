#include "actors/executor_host.hpp"

#include <spdlog/spdlog.h>


namespace sdw {
namespace {

using self_ptr = executor_host_actor::stateful_pointer<executor_host_state>;

std::vector<generation_output> failed(const std::vector<generation_job>& jobs, errc kind,
                                      const std::string& message) {
  std::vector<generation_output> outs(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    outs[i].job = jobs[i];
    outs[i].error = job_error{kind, "", message};
  }
  return outs;
}

void start(self_ptr self, executor_host_state::batch b) {
  auto& st = self->state;
  std::vector<std::string> ids;
  for (const auto& job : b.jobs) {
    ids.push_back(job.id);
  }
  auto forget = [self, ids] {
    for (const auto& id : ids) {
      self->state.jobs.erase(id);
    }
  };
  if (st.model == model_state::failed) {
    forget();
    b.promise.deliver(failed(b.jobs, errc::internal, "the model failed to load: " + st.model_error));
    return;
  }
  auto jobs = b.jobs;
  auto promise = b.promise;
  self->request(st.executor, caf::infinite, run_atom::value, std::move(b.jobs), std::move(b.tokens))
    .then(
      [forget, promise](std::vector<generation_output>& outs) mutable {
        forget();
        promise.deliver(std::move(outs));
      },
      [self, forget, jobs, promise](caf::error& err) mutable {
        forget();
        promise.deliver(failed(jobs, errc::internal, "executor: " + self->system().render(err)));
      });
}

/// Sets one stop flag of a job; one still waiting for the model sees it when it starts.
void stop(self_ptr self, const std::string& id, std::shared_ptr<std::atomic<bool>> cancel_token::*flag) {
  if (auto it = self->state.jobs.find(id); it != self->state.jobs.end()) {
    (it->second.token.*flag)->store(true);
  }
}

void model_ready(self_ptr self, bool ok, const std::string& message) {
  auto& st = self->state;
  st.model = ok ? model_state::ready : model_state::failed;
  st.model_error = message;
  auto waiting = std::move(st.waiting);
  st.waiting.clear();
  for (auto& w : waiting) {
    start(self, std::move(w));
  }
}

} // namespace

executor_host_actor::behavior_type executor_host(self_ptr self, executor_actor executor, health_actor health) {
  self->state.executor = std::move(executor);
  self->state.health = std::move(health);
  // A front that disconnects will never read its answers: stop its jobs so the device frees up.
  self->set_down_handler([self](caf::down_msg& dm) {
    self->state.fronts.erase(dm.source);
    int stopped = 0;
    for (auto& [id, job] : self->state.jobs) {
      if (job.front == dm.source) {
        job.token.flag->store(true);
        ++stopped;
      }
    }
    if (stopped > 0) {
      spdlog::warn("a worker went away: {} of its jobs stopped", stopped);
    }
  });
  return {
    [=](run_atom, std::vector<generation_job>& jobs) -> caf::result<std::vector<generation_output>> {
      auto promise = self->make_response_promise<std::vector<generation_output>>();
      const caf::actor_addr front = caf::actor_cast<caf::actor_addr>(self->current_sender());
      if (front && self->state.fronts.insert(front).second) {
        self->monitor(front);
      }
      executor_host_state::batch b{std::move(jobs), {}, promise};
      b.tokens.resize(b.jobs.size());
      for (size_t i = 0; i < b.jobs.size(); ++i) {
        self->state.jobs[b.jobs[i].id] = executor_host_state::held_job{b.tokens[i], front};
      }
      if (self->state.model == model_state::loading) {
        self->state.waiting.push_back(std::move(b));
      } else {
        start(self, std::move(b));
      }
      return promise;
    },
    [=](cancel_atom, const std::string& id) { stop(self, id, &cancel_token::flag); },
    [=](interrupt_atom, const std::string& id) { stop(self, id, &cancel_token::interrupt); },
    [=](skip_atom, const std::string& id) { stop(self, id, &cancel_token::skip); },
    [=](ready_atom, bool ok, const std::string& message) { model_ready(self, ok, message); },
    [=](ready_atom, bool ok, const std::string& message, int32_t) { model_ready(self, ok, message); },
    [=](report_atom) { return self->delegate(self->state.health, report_atom::value); },
  };
}

} // namespace sdw
