#include "runtime/engine/lora_delta.hpp"

#include "runtime/engine/lora_apply.hpp"

#include <ATen/ATen.h>

#include <stdexcept>
#include <vector>

namespace sdw {
namespace {

using shape_t = std::vector<int64_t>;

shape_t sizes_of(const at::Tensor& t) { return shape_t(t.sizes().begin(), t.sizes().end()); }

shape_t tail(const at::Tensor& t, int64_t from) {
  return t.dim() > from ? shape_t(t.sizes().begin() + from, t.sizes().end()) : shape_t{};
}

shape_t joined(shape_t a, const shape_t& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

/// lyco_helpers.rebuild_conventional: up @ down as matrices, reshaped.
at::Tensor conventional(at::Tensor up, at::Tensor down, const shape_t& shape, std::optional<long long> dyn = {}) {
  up = up.reshape({up.size(0), -1});
  down = down.reshape({down.size(0), -1});
  if (dyn) {
    up = up.slice(1, 0, *dyn);
    down = down.slice(0, 0, *dyn);
  }
  return at::matmul(up, down).reshape(shape);
}

/// lyco_helpers.make_weight_cp: a Tucker core t [r, r, kh, kw] with wa [r, out] and wb [r, in].
at::Tensor weight_cp(const at::Tensor& t, const at::Tensor& wa, const at::Tensor& wb) {
  const at::Tensor temp = at::einsum("i j k l, j r -> i r k l", {t, wb});
  return at::einsum("i j k l, i r -> r j k l", {temp, wa});
}

struct raw_delta {
  at::Tensor updown;
  shape_t output_shape;
  at::Tensor ex_bias;
};

raw_delta calc_updown(const lora_module& m, const lora_use& use, const at::Tensor& weight, const at::TensorOptions& opts) {
  const auto w = [&](const char* part) {
    const at::Tensor t = m.get(part);
    return t.defined() ? t.to(opts) : t;
  };
  raw_delta d;
  switch (m.kind) {
    case lora_module_kind::lora: {
      const at::Tensor up = w("lora_up.weight"), down = w("lora_down.weight"), mid = w("lora_mid.weight");
      d.output_shape = {up.size(0), down.size(1)};
      if (mid.defined()) {
        d.updown = at::einsum("n m k l, i n, m j -> i j k l",
                              {mid, up.reshape({up.size(0), -1}), down.reshape({down.size(0), -1})});
        d.output_shape = joined(d.output_shape, tail(mid, 2));
      } else {
        if (down.dim() == 4) {
          d.output_shape = joined(d.output_shape, tail(down, 2));
        }
        d.updown = conventional(up, down, d.output_shape, use.dyn);
      }
      break;
    }
    case lora_module_kind::loha: {
      const at::Tensor w1a = w("hada_w1_a"), w1b = w("hada_w1_b"), w2a = w("hada_w2_a"), w2b = w("hada_w2_b");
      const at::Tensor t1 = w("hada_t1"), t2 = w("hada_t2");
      at::Tensor updown1;
      if (t1.defined()) {
        d.output_shape = joined({w1a.size(1), w1b.size(1)}, tail(t1, 2));
        updown1 = weight_cp(t1, w1a, w1b);
      } else {
        d.output_shape = {w1a.size(0), w1b.size(1)};
        if (w1b.dim() == 4) {
          d.output_shape = joined(d.output_shape, tail(w1b, 2));
        }
        updown1 = conventional(w1a, w1b, d.output_shape);
      }
      const at::Tensor updown2 = t2.defined() ? weight_cp(t2, w2a, w2b) : conventional(w2a, w2b, d.output_shape);
      d.updown = updown1 * updown2;
      break;
    }
    case lora_module_kind::lokr: {
      at::Tensor w1 = w("lokr_w1");
      if (!w1.defined()) {
        w1 = at::matmul(w("lokr_w1_a"), w("lokr_w1_b"));
      }
      at::Tensor w2 = w("lokr_w2");
      if (!w2.defined()) {
        const at::Tensor t2 = w("lokr_t2");
        w2 = t2.defined() ? weight_cp(t2, w("lokr_w2_a"), w("lokr_w2_b")) : at::matmul(w("lokr_w2_a"), w("lokr_w2_b"));
      }
      d.output_shape = {w1.size(0) * w2.size(0), w1.size(1) * w2.size(1)};
      if (weight.dim() == 4) {
        d.output_shape = sizes_of(weight);
      }
      // network_lokr.make_kron: a 4-D second factor takes the first as a 1x1 kernel.
      if (w2.dim() == 4) {
        w1 = w1.unsqueeze(2).unsqueeze(2);
      }
      d.updown = at::kron(w1, w2.contiguous()).reshape(d.output_shape);
      break;
    }
    case lora_module_kind::full:
      d.updown = w("diff");
      d.output_shape = sizes_of(d.updown);
      d.ex_bias = w("diff_b");
      break;
    case lora_module_kind::norm:
      d.updown = w("w_norm");
      d.output_shape = sizes_of(d.updown);
      d.ex_bias = w("b_norm");
      break;
    case lora_module_kind::ia3: {
      at::Tensor scale = w("weight");
      d.output_shape = {scale.size(0), weight.size(1)};
      if (m.on_input) {
        std::swap(d.output_shape[0], d.output_shape[1]);
      } else {
        scale = scale.reshape({-1, 1});
      }
      d.updown = weight * scale;
      break;
    }
    case lora_module_kind::glora: {
      const at::Tensor w1a = w("a1.weight"), w1b = w("b1.weight"), w2a = w("a2.weight"), w2b = w("b2.weight");
      d.output_shape = {w1a.size(0), w1b.size(1)};
      d.updown = at::matmul(w2b, w1b) + at::matmul(at::matmul(weight, w2a), w1a);
      break;
    }
  }
  return d;
}

double calc_scale(const lora_module& m) {
  if (m.scale) {
    return *m.scale;
  }
  if (m.dim && m.alpha) {
    return *m.alpha / static_cast<double>(*m.dim);
  }
  return 1.0;
}

/// network.py apply_weight_decompose: the merged weight's columns rescaled to dora_scale.
at::Tensor weight_decompose(const at::Tensor& updown, const at::Tensor& weight, const at::Tensor& dora_scale) {
  const at::Tensor merged = updown + weight;
  shape_t norm_shape{merged.size(1)};
  norm_shape.resize(static_cast<size_t>(weight.dim()), 1);
  const at::Tensor norm = merged.transpose(0, 1)
                              .reshape({merged.size(1), -1})
                              .norm(2, {1}, /*keepdim=*/true)
                              .reshape(norm_shape)
                              .transpose(0, 1);
  return merged * (dora_scale / norm) - weight;
}

} // namespace

double lora_multiplier(const lora_module& m, const lora_use& use) {
  return m.layer.substr(0, 20).find("transformer") != std::string::npos ? use.te : use.unet;
}

lora_delta lora_module_delta(const lora_module& m, const lora_use& use, const at::Tensor& weight_in,
                             c10::ScalarType dtype) {
  const auto opts = at::TensorOptions().device(weight_in.device()).dtype(dtype);
  const at::Tensor weight = weight_in.to(opts);
  try {
    raw_delta d = calc_updown(m, use, weight, opts);
    at::Tensor updown = d.updown;
    // finalize_updown
    if (const at::Tensor bias = m.get("bias"); bias.defined()) {
      updown = updown.reshape(bias.sizes()) + bias.to(opts);
      updown = updown.reshape(d.output_shape);
    }
    if (d.output_shape.size() == 4) {
      updown = updown.reshape(d.output_shape);
    }
    if (weight.numel() == updown.numel()) {
      updown = updown.reshape(weight.sizes());
    }
    const double multiplier = lora_multiplier(m, use);
    lora_delta out;
    if (d.ex_bias.defined()) {
      out.ex_bias = d.ex_bias * multiplier;
    }
    updown = updown * calc_scale(m);
    if (const at::Tensor dora = m.get("dora_scale"); dora.defined()) {
      updown = weight_decompose(updown, weight, dora.to(opts));
    }
    out.updown = updown * multiplier;
    // An inpainting model's first convolution has 9 input channels; A1111 pads the delta's
    // input channels with zeros from 4 to 9.
    if (weight.dim() == 4 && weight.size(1) == 9) {
      out.updown = at::constant_pad_nd(out.updown, {0, 0, 0, 0, 0, 5});
    }
    return out;
  } catch (const c10::Error& e) {
    throw std::runtime_error("layer " + m.layer + ": " + to_string(m.kind) + " delta: " + e.what_without_backtrace());
  }
}

} // namespace sdw
