#include "runtime/engine/lora_plan.hpp"

#include "runtime/engine/lora_library.hpp"
#include "runtime/formats/prompt_attention.hpp"
#include "runtime/formats/infotext.hpp"
#include "runtime/formats/options.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace sdw {

job_loras resolve_job_loras(const std::string& prompt, lora_library* library, const model_config& config) {
  job_loras out;
  const lora_request request = lora_request_of(parse_extra_networks(prompt));
  if (!request.error.empty()) {
    spdlog::error("activating extra network lora: {}", request.error);
    return out;
  }
  std::vector<std::string> hashes;
  for (const lora_tag& tag : request.tags) {
    const auto path = library != nullptr ? library->find(tag.name) : std::nullopt;
    if (!path) {
      out.missing.push_back(tag.name);
      continue;
    }
    // A name given twice is one network object in A1111, listed twice, whose multipliers are
    // those of its last tag: it is applied twice with them.
    const lora_tag* last = &tag;
    for (const lora_tag& other : request.tags) {
      if (other.name == tag.name) {
        last = &other;
      }
    }
    std::shared_ptr<const lora_network> network;
    try {
      network = library->network(*path, config);
    } catch (const std::exception& e) {
      // A1111 logs a file it fails to load and reports it as not found; the job goes on.
      spdlog::error("loading network {}: {}", tag.name, e.what());
      out.missing.push_back(tag.name);
      continue;
    }
    out.set.push_back(lora_use{std::move(network), last->te, last->unet, last->dyn});
    const std::string hash = library->short_hash(*path);
    if (!hash.empty()) {
      // The extension drops ':' and ',' from the name it lists.
      std::string alias;
      for (char c : tag.name) {
        if (c != ':' && c != ',') {
          alias.push_back(c);
        }
      }
      // One entry per name, as the extension's dict keeps them.
      const std::string entry = alias + ": " + hash;
      if (std::find(hashes.begin(), hashes.end(), entry) == hashes.end()) hashes.push_back(entry);
    }
  }
  for (size_t i = 0; i < hashes.size(); ++i) {
    out.hashes += (i ? ", " : "") + hashes[i];
  }
  if (!out.missing.empty()) {
    std::string names;
    for (size_t i = 0; i < out.missing.size(); ++i) {
      names += (i ? ", " : "") + out.missing[i];
    }
    spdlog::warn("Lora not found: {}", names);
  }
  return out;
}

std::string joined_lora_hashes(const std::string& first, const std::string& more) {
  // Names have no ',' or ':' (the extension drops them), so ", " and ": " split the text.
  const auto split = [](const std::string& text) {
    std::vector<std::string> out;
    for (size_t at = 0; !text.empty() && at <= text.size();) {
      const size_t end = std::min(text.find(", ", at), text.size());
      out.push_back(text.substr(at, end - at));
      at = end + 2;
    }
    return out;
  };
  const auto name_of = [](const std::string& entry) { return entry.substr(0, entry.rfind(": ")); };
  std::vector<std::string> entries = split(first);
  for (const std::string& e : split(more)) {
    if (std::none_of(entries.begin(), entries.end(), [&](const std::string& x) { return name_of(x) == name_of(e); })) {
      entries.push_back(e);
    }
  }
  std::string joined;
  for (size_t i = 0; i < entries.size(); ++i) joined += (i ? ", " : "") + entries[i];
  return joined;
}

std::string lora_batch_key(const txt2img_request& req, const options& opts) {
  if (req.disable_extra_networks) {
    return lora_key_text(lora_request_of(parse_extra_networks("")));
  }
  const auto key_of = [&](std::string prompt) {
    if (req.styles && !req.styles->empty()) {
      prompt = python_strip(prompt);
    }
    if (opts.enable_prompt_comments) {
      prompt = strip_prompt_comments(prompt);
    }
    return lora_key_text(lora_request_of(parse_extra_networks(prompt)));
  };
  const std::string key = key_of(req.prompt);
  if (req.enable_hr && req.kind == request_kind::txt2img && !req.hr_prompt.empty()) {
    // The second pass runs its own prompt's networks.
    const std::string hires = key_of(req.hr_prompt);
    if (hires != key) return key + "|hires:" + hires;
  }
  return key;
}

} // namespace sdw
