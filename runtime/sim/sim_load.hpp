#pragma once
/// The simulation harness's load: a request mix (txt2img inputs with weights: sizes, steps,
/// samplers, prompts) and a seeded generator that draws inputs and Poisson inter-arrival gaps,
/// so a run with the same seed sends the same jobs at the same offsets.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace sdw {

/// One kind of request and how often it comes.
struct sim_request_kind {
  std::string input;   ///< the job's `input` JSON
  double weight = 1;
};

/// A few SD1.5 requests of different sizes, steps, samplers and prompts.
std::vector<sim_request_kind> default_request_mix();

/// Reads a mix from JSON: an array whose items are either an input object or
/// `{"weight": w, "input": {...}}`. Errors (sdw::error, bad_request) name the item
/// ("mix[2].weight").
std::vector<sim_request_kind> parse_request_mix(const std::string& json_text);

/// Draws requests from a mix and arrival gaps, from one seed.
class sim_load_generator {
public:
  sim_load_generator(std::vector<sim_request_kind> mix, uint64_t seed);
  /// The next request's input JSON.
  std::string next_input();
  /// The next gap between arrivals for `rate_per_s` arrivals per second (exponential), in ms.
  double next_gap_ms(double rate_per_s);

private:
  std::vector<sim_request_kind> mix_;
  std::mt19937_64 rng_;
  std::discrete_distribution<size_t> pick_;
};

} // namespace sdw
