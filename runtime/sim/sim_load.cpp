#include "runtime/sim/sim_load.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"
#include "runtime/base/json_writer.hpp"

namespace sdw {

std::vector<sim_request_kind> default_request_mix() {
  return {
    {R"({"prompt":"a lighthouse on a cliff at dusk","steps":20,"width":512,"height":512,"sampler_name":"Euler a","seed":1})", 4},
    {R"({"prompt":"portrait of an old sailor, oil painting","steps":25,"width":512,"height":768,"sampler_name":"DPM++ 2M","scheduler":"Karras","seed":2})", 2},
    {R"({"prompt":"a cat in a spacesuit","steps":30,"width":768,"height":512,"sampler_name":"DPM++ 2M","seed":3})", 1},
    {R"({"prompt":"isometric city, pastel colours","steps":12,"width":512,"height":512,"sampler_name":"Euler","batch_size":2,"seed":4})", 2},
    {R"({"prompt":"a bowl of fruit","steps":20,"width":384,"height":384,"sampler_name":"DDIM","seed":5})", 1},
  };
}

std::vector<sim_request_kind> parse_request_mix(const std::string& json_text) {
  const json_value doc = parse_json(json_text, "mix");
  if (!doc.is_array() || doc.as_array().empty()) {
    throw error(errc::bad_request, "mix", "must be a non-empty JSON array of requests");
  }
  std::vector<sim_request_kind> out;
  for (size_t i = 0; i < doc.as_array().size(); ++i) {
    const json_value& item = doc.as_array()[i];
    const std::string where = "mix[" + std::to_string(i) + "]";
    if (!item.is_object()) {
      throw error(errc::bad_request, where, "must be an object");
    }
    sim_request_kind kind;
    const json_value* input = item.find("input");
    if (input != nullptr) {
      if (!input->is_object()) {
        throw error(errc::bad_request, where + ".input", "must be an object");
      }
      kind.input = to_json(*input);
      if (const json_value* w = item.find("weight")) {
        if (!w->is_number() || !(w->as_number() > 0)) {
          throw error(errc::bad_request, where + ".weight", "must be a positive number");
        }
        kind.weight = w->as_number();
      }
    } else {
      kind.input = to_json(item);
    }
    out.push_back(kind);
  }
  return out;
}

namespace {

std::discrete_distribution<size_t> weights_of(const std::vector<sim_request_kind>& mix) {
  std::vector<double> w;
  for (const auto& k : mix) {
    w.push_back(k.weight);
  }
  return std::discrete_distribution<size_t>(w.begin(), w.end());
}

} // namespace

sim_load_generator::sim_load_generator(std::vector<sim_request_kind> mix, uint64_t seed)
  : mix_(mix.empty() ? default_request_mix() : std::move(mix)), rng_(seed), pick_(weights_of(mix_)) {}

std::string sim_load_generator::next_input() {
  return mix_[pick_(rng_)].input;
}

double sim_load_generator::next_gap_ms(double rate_per_s) {
  return std::exponential_distribution<double>(rate_per_s)(rng_) * 1000.0;
}

} // namespace sdw
