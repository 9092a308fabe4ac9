#include "runtime/engine/lora_file.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/safetensors.hpp"

#include <ATen/ATen.h>
#include <openssl/evp.h>

#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <optional>

namespace sdw {
namespace {

at::Tensor as_float_tensor(const st_tensor& t) {
  at::Tensor out = at::empty(std::vector<int64_t>(t.shape.begin(), t.shape.end()), at::kFloat);
  copy_as_float(t, out.data_ptr<float>());
  return out;
}

double scalar_of(const st_tensor& t, const std::string& path) {
  if (t.numel() != 1) {
    throw error(errc::bad_checkpoint, path, "tensor '" + t.name + "' should hold one number");
  }
  float v = 0;
  copy_as_float(t, &v);
  return v;
}

bool has_all(const std::map<std::string, const st_tensor*>& parts, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (parts.count(n) == 0) {
      return false;
    }
  }
  return true;
}

/// The kind A1111 would make of a module's keys, trying its module types in order.
std::optional<lora_module_kind> kind_of(const std::map<std::string, const st_tensor*>& parts) {
  if (has_all(parts, {"lora_up.weight", "lora_down.weight"})) {
    return lora_module_kind::lora;
  }
  if (has_all(parts, {"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"})) {
    return lora_module_kind::loha;
  }
  if (has_all(parts, {"weight"})) {
    return lora_module_kind::ia3;
  }
  const bool lokr1 = has_all(parts, {"lokr_w1"}) || has_all(parts, {"lokr_w1_a", "lokr_w1_b"});
  const bool lokr2 = has_all(parts, {"lokr_w2"}) || has_all(parts, {"lokr_w2_a", "lokr_w2_b"});
  if (lokr1 && lokr2) {
    return lora_module_kind::lokr;
  }
  if (has_all(parts, {"diff"})) {
    return lora_module_kind::full;
  }
  if (has_all(parts, {"w_norm", "b_norm"})) {
    return lora_module_kind::norm;
  }
  if (has_all(parts, {"a1.weight", "a2.weight", "alpha", "b1.weight", "b2.weight"})) {
    return lora_module_kind::glora;
  }
  return std::nullopt;
}

} // namespace

const char* to_string(lora_module_kind kind) {
  switch (kind) {
    case lora_module_kind::lora: return "LoRA";
    case lora_module_kind::loha: return "LoHa";
    case lora_module_kind::ia3: return "IA3";
    case lora_module_kind::lokr: return "LoKr";
    case lora_module_kind::full: return "full";
    case lora_module_kind::norm: return "norm";
    case lora_module_kind::glora: return "GLoRA";
  }
  return "?";
}

at::Tensor lora_module::get(const std::string& part) const {
  auto it = w.find(part);
  return it == w.end() ? at::Tensor() : it->second;
}

std::shared_ptr<const lora_network> load_lora_network(const std::string& path,
                                                      const std::map<std::string, lora_layer>& layers) {
  const auto file = safetensors_file::open(path);
  auto net = std::make_shared<lora_network>();
  net->path = path;
  // Groups by key prefix, in the order their first tensor appears.
  std::vector<std::string> order;
  std::map<std::string, std::map<std::string, const st_tensor*>> groups;
  for (const st_tensor& t : file->tensors()) {
    const size_t dot = t.name.find('.');
    const std::string prefix = t.name.substr(0, dot);
    const std::string part = dot == std::string::npos ? "" : t.name.substr(dot + 1);
    if (groups.count(prefix) == 0) {
      order.push_back(prefix);
    }
    groups[prefix][part] = &t;
  }
  for (const std::string& prefix : order) {
    const auto& parts = groups[prefix];
    const auto layer = find_lora_layer(prefix, layers);
    if (!layer) {
      ++net->unmatched;
      continue;
    }
    const auto kind = kind_of(parts);
    if (!kind) {
      if (parts.count("oft_blocks") != 0 || parts.count("oft_diag") != 0) {
        ++net->refused;
        continue;
      }
      std::string keys;
      for (const auto& [k, t] : parts) {
        keys += (keys.empty() ? "" : ", ") + k;
      }
      throw error(errc::unsupported, path, "layer '" + prefix + "' has " + keys + ", which no network kind accepts");
    }
    lora_module m;
    m.layer = *layer;
    m.target = layers.at(*layer);
    m.kind = *kind;
    if (m.target.kind == lora_layer_kind::other) {
      ++net->unapplied;
      continue;
    }
    for (const auto& [part, t] : parts) {
      if (part == "alpha") {
        m.alpha = scalar_of(*t, path);
      } else if (part == "scale") {
        m.scale = scalar_of(*t, path);
      } else if (part == "on_input") {
        m.on_input = scalar_of(*t, path) != 0;
      } else {
        m.w.emplace(part, as_float_tensor(*t));
      }
    }
    const auto rank_of = [&](const char* part) -> std::optional<int64_t> {
      const at::Tensor t = m.get(part);
      if (!t.defined()) {
        return std::nullopt;
      }
      if (t.dim() < 1) {
        throw error(errc::bad_checkpoint, path, "layer '" + prefix + "': '" + part + "' is a scalar");
      }
      return t.size(0);
    };
    switch (m.kind) {
      case lora_module_kind::lora: {
        const at::Tensor up = m.get("lora_up.weight"), down = m.get("lora_down.weight");
        if (down.dim() < 2 || up.dim() < 2 || up.size(1) != down.size(0)) {
          throw error(errc::bad_checkpoint, path, "layer '" + prefix + "': lora_up and lora_down do not fit together");
        }
        m.dim = down.size(0);
        break;
      }
      case lora_module_kind::loha:
        m.dim = rank_of("hada_w1_b");
        break;
      case lora_module_kind::lokr:
        // The second factor's rank wins when both are factored, as in A1111.
        m.dim = rank_of("lokr_w1_b");
        if (auto r = rank_of("lokr_w2_b")) {
          m.dim = r;
        }
        break;
      case lora_module_kind::ia3:
        if (parts.count("on_input") == 0) {
          throw error(errc::bad_checkpoint, path, "layer '" + prefix + "': an IA3 module needs 'on_input'");
        }
        break;
      default:
        break;
    }
    net->modules.push_back(std::move(m));
  }
  return net;
}

std::string lora_short_hash(const std::string& path) {
  const auto file = safetensors_file::open(path);
  const auto& meta = file->metadata();
  if (auto it = meta.find("sshs_model_hash"); it != meta.end() && !it->second.empty()) {
    return it->second.substr(0, 12);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw error(errc::not_found, path, "cannot open the file");
  }
  unsigned char len[8] = {};
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) {
    n = (n << 8) | len[i];
  }
  in.seekg(static_cast<std::streamoff>(n + 8));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> block(1 << 20);
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    if (in.gcount() > 0) {
      EVP_DigestUpdate(ctx.get(), block.data(), static_cast<size_t>(in.gcount()));
    }
  }
  unsigned char digest[32];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &size);
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < size; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", digest[i]);
    hex += buf;
  }
  return hex.substr(0, 12);
}

} // namespace sdw
