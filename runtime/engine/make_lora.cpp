#include "runtime/engine/make_lora.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/lora_keys.hpp"
#include "runtime/engine/sd1_layout.hpp"

#include <c10/util/Half.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>

namespace sdw {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool covered(const std::string& layer, lora_kind kind) {
  static const char* const attention[] = {"_to_q",      "_to_k",    "_to_v",     "_to_out_0",   "_proj_in",
                                          "_proj_out",  "_ff_net_0_proj", "_ff_net_2", "_q_proj",
                                          "_k_proj",    "_v_proj",  "_out_proj", "_mlp_fc1",    "_mlp_fc2",
                                          "_mlp_c_fc",  "_mlp_c_proj"};
  static const char* const convolutions[] = {"_in_layers_2", "_out_layers_3", "_skip_connection", "_op", "_conv"};
  for (const char* s : attention) {
    if (ends_with(layer, s)) {
      return true;
    }
  }
  if (kind == lora_kind::locon && layer.rfind("diffusion_model_", 0) == 0) {
    for (const char* s : convolutions) {
      if (ends_with(layer, s) && layer != "diffusion_model_input_blocks_0_0" && layer != "diffusion_model_out_2") {
        return true;
      }
    }
  }
  return false;
}

std::string bytes_of(const std::vector<float>& values, st_dtype dtype) {
  std::string out(values.size() * dtype_size(dtype), '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == st_dtype::f32) {
      std::memcpy(&out[4 * i], &values[i], 4);
    } else {
      const uint16_t h = c10::Half(values[i]).x;
      std::memcpy(&out[2 * i], &h, 2);
    }
  }
  return out;
}

/// LyCORIS's factorization(dim, -1): the divisor pair nearest the square root, smaller first.
std::pair<int64_t, int64_t> factorization(int64_t dim) {
  int64_t m = 1;
  for (int64_t d = 1; d * d <= dim; ++d) {
    if (dim % d == 0) {
      m = d;
    }
  }
  return {m, dim / m};
}

std::vector<int64_t> with_kernel(std::vector<int64_t> shape, bool conv, int64_t kh, int64_t kw) {
  if (conv) {
    shape.push_back(kh);
    shape.push_back(kw);
  }
  return shape;
}

} // namespace

const char* to_string(lora_kind kind) {
  switch (kind) {
    case lora_kind::lora: return "lora";
    case lora_kind::locon: return "locon";
    case lora_kind::loha: return "loha";
    case lora_kind::lokr: return "lokr";
    case lora_kind::full: return "full";
    case lora_kind::norm: return "norm";
  }
  return "?";
}

std::optional<lora_kind> parse_lora_kind(const std::string& name) {
  for (lora_kind k : {lora_kind::lora, lora_kind::locon, lora_kind::loha, lora_kind::lokr, lora_kind::full,
                      lora_kind::norm}) {
    if (name == to_string(k)) {
      return k;
    }
  }
  return std::nullopt;
}

void make_lora(model_preset preset, lora_kind kind, int rank, st_dtype dtype, uint64_t seed,
               const std::string& out_path) {
  if (rank < 1) {
    throw error(errc::bad_request, "rank", "a LoRA's rank is at least 1");
  }
  if (dtype != st_dtype::f16 && dtype != st_dtype::f32) {
    throw error(errc::bad_request, "dtype", std::string("make_lora writes F16 or F32 weights, not ") + to_string(dtype));
  }
  const model_config config = preset_config(preset);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& spec : sd1_checkpoint_layout(config)) {
    shapes[spec.name] = spec.shape;
  }
  const auto layers = lora_layers(config);
  const float alpha = static_cast<float>(rank) / 2.0f;
  const double r = rank;
  // ΔW = up·down·alpha/rank has entries of variance rank·s²/fan_in·(alpha/rank)²; s² = 0.4/rank
  // makes that a tenth of a weight's own (1/fan_in), a clear change that keeps activations sane.
  const double up_std = std::sqrt(0.4 / rank);
  std::mt19937_64 gen(seed);
  std::vector<st_write_entry> entries;
  const auto draw = [&](size_t n, double stddev) {
    std::normal_distribution<double> normal(0.0, stddev);
    std::vector<float> v(n);
    for (auto& x : v) {
      x = static_cast<float>(normal(gen));
    }
    return v;
  };
  const auto count = [](const std::vector<int64_t>& shape) {
    size_t n = 1;
    for (int64_t d : shape) {
      n *= static_cast<size_t>(d);
    }
    return n;
  };
  const auto add = [&](const std::string& key, const std::vector<int64_t>& shape, double stddev) {
    entries.push_back({key, dtype, shape, bytes_of(draw(count(shape), stddev), dtype)});
  };
  const auto add_alpha = [&](const std::string& name) {
    entries.push_back({name + ".alpha", st_dtype::f32, {}, bytes_of({alpha}, st_dtype::f32)});
  };
  const lora_kind coverage = kind == lora_kind::lora ? lora_kind::lora : lora_kind::locon;
  int index = 0;
  for (const auto& [layer, target] : layers) {
    const std::string name = kohya_name_for(layer, is_sdxl(config));
    if (kind == lora_kind::norm) {
      if (target.kind != lora_layer_kind::norm || find_lora_layer(name, layers) != layer) {
        continue;
      }
      const int64_t channels = shapes.at(target.weight_key)[0];
      add(name + ".w_norm", {channels}, 0.1);
      add(name + ".b_norm", {channels}, 0.1);
      continue;
    }
    if ((target.kind != lora_layer_kind::linear && target.kind != lora_layer_kind::conv) || !covered(layer, coverage)) {
      continue;
    }
    const std::vector<int64_t>& w = shapes.at(target.weight_key);
    const int64_t out = target.rows > 0 ? target.rows : w[0], in = w[1];
    const bool conv = w.size() == 4;
    const int64_t kh = conv ? w[2] : 1, kw = conv ? w[3] : 1;
    const bool tucker = kh * kw > 1;
    const double fan_in = static_cast<double>(in * kh * kw);
    // The delta's entries aim at a tenth of a weight's variance, as for LoRA above.
    const double target_var = 0.1 / fan_in;
    switch (kind) {
      case lora_kind::lora:
      case lora_kind::locon: {
        const double down_std = 1.0 / std::sqrt(fan_in);
        std::vector<int64_t> down_shape = conv ? std::vector<int64_t>{rank, in, kh, kw} : std::vector<int64_t>{rank, in};
        std::vector<int64_t> up_shape = conv ? std::vector<int64_t>{out, rank, 1, 1} : std::vector<int64_t>{out, rank};
        add(name + ".lora_down.weight", down_shape, down_std);
        add(name + ".lora_up.weight", up_shape, up_std);
        add_alpha(name);
        break;
      }
      case lora_kind::loha: {
        // Each factor product has variance v; the Hadamard product v², times (alpha/rank)² = 1/4.
        const double v = 2.0 * std::sqrt(target_var);
        for (const char* i : {"1", "2"}) {
          const std::string w_a = name + ".hada_w" + i + "_a", w_b = name + ".hada_w" + i + "_b";
          if (tucker) {
            const double s = std::pow(v / (r * r), 1.0 / 6.0);
            add(w_a, {rank, out}, s);
            add(w_b, {rank, in}, s);
            add(name + ".hada_t" + i, {rank, rank, kh, kw}, s);
          } else {
            const double s = std::pow(v / r, 0.25);
            add(w_a, {out, rank}, s);
            add(w_b, {rank, in * kh * kw}, s);
          }
        }
        add_alpha(name);
        break;
      }
      case lora_kind::lokr: {
        const auto [out_l, out_k] = factorization(out);
        const auto [in_m, in_n] = factorization(in);
        const int form = index++ % 4;
        const bool w1_factored = form >= 2, w2_factored = form == 1 || form == 3;
        // w1's entries have variance 1; w2's make the product's variance the target after the scale.
        const double scale = w1_factored || w2_factored ? 0.5 : 1.0;
        const double v2 = target_var / (scale * scale);
        if (w1_factored) {
          const int64_t r1 = w2_factored ? rank + 1 : rank;
          const double s = std::pow(1.0 / static_cast<double>(r1), 0.25);
          add(name + ".lokr_w1_a", {out_l, r1}, s);
          add(name + ".lokr_w1_b", {r1, in_m}, s);
        } else {
          add(name + ".lokr_w1", {out_l, in_m}, 1.0);
        }
        if (!w2_factored) {
          add(name + ".lokr_w2", with_kernel({out_k, in_n}, conv, kh, kw), std::sqrt(v2));
        } else if (tucker) {
          const double s = std::pow(v2 / (r * r), 1.0 / 6.0);
          add(name + ".lokr_w2_a", {rank, out_k}, s);
          add(name + ".lokr_w2_b", {rank, in_n}, s);
          add(name + ".lokr_t2", {rank, rank, kh, kw}, s);
        } else {
          const double s = std::pow(v2 / r, 0.25);
          add(name + ".lokr_w2_a", {out_k, rank}, s);
          add(name + ".lokr_w2_b", {rank, in_n * kh * kw}, s);
        }
        add_alpha(name);
        break;
      }
      case lora_kind::full:
        add(name + ".diff", w, std::sqrt(target_var));
        if (!target.bias_key.empty()) {
          add(name + ".diff_b", {out}, 0.05);
        }
        break;
      case lora_kind::norm:
        break;
    }
  }
  const bool kohya = kind == lora_kind::lora;
  std::map<std::string, std::string> metadata = {
      {"ss_network_module", kohya ? "networks.lora" : "lycoris.kohya"},
      {"ss_network_dim", std::to_string(rank)},
      {"ss_network_alpha", std::to_string(rank / 2.0)},
      {"sdworker_preset", to_string(preset)},
      {"sdworker_kind", to_string(kind)},
      {"sdworker_seed", std::to_string(seed)}};
  if (kind != lora_kind::lora && kind != lora_kind::locon) {
    metadata["ss_network_args"] = std::string(R"({"algo": ")") + to_string(kind) + R"("})";
  }
  write_safetensors(out_path, entries, metadata);
}

} // namespace sdw
