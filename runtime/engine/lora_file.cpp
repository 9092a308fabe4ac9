#include "runtime/engine/lora_file.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/safetensors.hpp"

#include <ATen/ATen.h>
#include <openssl/evp.h>

#include <cstdio>
#include <fstream>
#include <memory>

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

} // namespace

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
    const auto part = [&](const char* name) {
      auto it = parts.find(name);
      return it == parts.end() ? nullptr : it->second;
    };
    const st_tensor* up = part("lora_up.weight");
    const st_tensor* down = part("lora_down.weight");
    if (up == nullptr || down == nullptr) {
      std::string keys;
      for (const auto& [k, t] : parts) {
        keys += (keys.empty() ? "" : ", ") + k;
      }
      throw error(errc::unsupported, path,
                  "layer '" + prefix + "' has " + keys + ": only LoRA and LoCon (lora_up/lora_down) are supported yet");
    }
    lora_module m;
    m.layer = *layer;
    m.target = layers.at(*layer);
    if (m.target.kind == lora_layer_kind::other) {
      throw error(errc::unsupported, path, "layer '" + prefix + "' is not a linear or convolution layer");
    }
    if (part("bias") != nullptr || part("dora_scale") != nullptr) {
      throw error(errc::unsupported, path, "layer '" + prefix + "' has a bias or DoRA scale, which is not supported yet");
    }
    m.up = as_float_tensor(*up);
    m.down = as_float_tensor(*down);
    if (const st_tensor* mid = part("lora_mid.weight")) {
      m.mid = as_float_tensor(*mid);
    }
    if (const st_tensor* alpha = part("alpha")) {
      m.alpha = scalar_of(*alpha, path);
    }
    if (const st_tensor* scale = part("scale")) {
      m.scale = scalar_of(*scale, path);
    }
    if (m.down.dim() < 2 || m.up.dim() < 2 || m.up.size(1) != m.down.size(0)) {
      throw error(errc::bad_checkpoint, path, "layer '" + prefix + "': lora_up and lora_down do not fit together");
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
