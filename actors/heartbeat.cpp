#include "actors/heartbeat.hpp"

#include "actors/http_call.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

namespace sdw {

heartbeat_actor::behavior_type heartbeat(heartbeat_actor::stateful_pointer<heartbeat_state> self,
                                         runpod_settings settings) {
  self->state.settings = std::move(settings);
  if (self->state.settings.pings()) {
    self->send(self, tick_atom::value);
    spdlog::info("heartbeat every {} ms to {}", self->state.settings.ping_interval_ms,
                 url_for_log(ping_url(self->state.settings, {})));
  }
  return {
    [=](jobs_atom, std::vector<std::string>& ids) { self->state.job_ids = std::move(ids); },
    [=](tick_atom) {
      auto& st = self->state;
      const auto interval = std::chrono::milliseconds(st.settings.ping_interval_ms);
      // Twice the interval, as the SDK allows, but at least a second.
      const auto timeout = std::chrono::seconds(std::max<int64_t>(1, 2 * st.settings.ping_interval_ms / 1000));
      const std::string url = ping_url(st.settings, st.job_ids);
      http_call_async("GET", url, st.settings.api_key, "", timeout, [url](http_exchange answer) {
        if (!answer.failure.empty() || answer.status >= 400) {
          spdlog::warn("heartbeat to {} failed: {}", url_for_log(url),
                       answer.failure.empty() ? "HTTP " + std::to_string(answer.status) : answer.failure);
        }
      });
      self->delayed_send(self, interval, tick_atom::value);
    },
  };
}

} // namespace sdw
