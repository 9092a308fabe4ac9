#include "runtime/engine/conditioning.hpp"

#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/embedding_library.hpp"
#include "runtime/formats/prompt_attention.hpp"
#include "runtime/formats/prompt_schedule.hpp"
#include "runtime/engine/sdxl_conditioning.hpp"
#include "runtime/engine/text_encoder.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

namespace sdw {
namespace {

/// Stacks [L_i, W] tensors, padding shorter ones by repeating their last vector (A1111 stack_conds).
at::Tensor stack_conds(const std::vector<at::Tensor>& conds) {
  int64_t longest = 0;
  for (const auto& c : conds) {
    longest = std::max(longest, c.size(0));
  }
  std::vector<at::Tensor> padded;
  padded.reserve(conds.size());
  for (const auto& c : conds) {
    if (c.size(0) == longest) {
      padded.push_back(c);
    } else {
      auto last = c.narrow(0, c.size(0) - 1, 1).expand({longest - c.size(0), c.size(1)});
      padded.push_back(at::cat({c, last}, 0));
    }
  }
  return at::stack(padded);
}

const scheduled_cond& entry_at(const cond_schedule& schedule, int step) {
  for (const auto& entry : schedule) {
    if (step <= entry.end_at_step) {
      return entry;
    }
  }
  return schedule.front();  // A1111's reconstruct_cond_batch falls back to the first
}

const at::Tensor& cond_at(const cond_schedule& schedule, int step) { return entry_at(schedule, step).cond; }

} // namespace

prompt_encoder::prompt_encoder(const text_encoder& encoder, const clip_tokenizer& tokenizer,
                               prompt_settings settings)
  : encoder_(encoder), tokenizer_(tokenizer), settings_(settings) {}

prompt_encoder::prompt_encoder(const text_encoder& clip_l, const text_encoder& bigg, const clip_tokenizer& tokenizer,
                               prompt_settings settings, sdxl_sizes sizes, c10::ScalarType dtype)
  : encoder_(clip_l), bigg_(&bigg), tokenizer_(tokenizer), settings_(settings), sizes_(sizes), dtype_(dtype) {}

at::Tensor prompt_encoder::encode(const std::vector<std::string>& texts) const {
  c10::InferenceMode guard;
  std::vector<std::vector<token_chunk>> chunked;
  size_t chunk_count = 0;
  for (const auto& text : texts) {
    chunked.push_back(prompt_chunks_of(text, tokenizer_, settings_, settings_.embeddings.get()));
    chunk_count = std::max(chunk_count, chunked.back().size());
  }
  // Texts with fewer chunks than others in the batch get empty ones.
  const token_chunk blank = empty_chunk();
  std::vector<at::Tensor> zs;
  for (size_t i = 0; i < chunk_count; ++i) {
    std::vector<int64_t> ids;
    std::vector<float> mult;
    std::vector<token_embedding_fix> fixes;
    for (size_t row = 0; row < chunked.size(); ++row) {
      const auto& chunks = chunked[row];
      const token_chunk& c = i < chunks.size() ? chunks[i] : blank;
      ids.insert(ids.end(), c.tokens.begin(), c.tokens.end());
      mult.insert(mult.end(), c.multipliers.begin(), c.multipliers.end());
      for (const chunk_fix& f : c.fixes) {
        fixes.push_back({static_cast<int64_t>(row), f.offset + 1, f.embedding->vec});
      }
    }
    const auto n = static_cast<int64_t>(texts.size());
    auto tokens = at::tensor(ids, at::kLong).view({n, 77});
    // Emphasis runs in float32 whatever the model dtype, as under A1111's autocast.
    auto z = encoder_.encode(tokens, settings_.clip_skip, fixes).to(at::kFloat);
    auto m = at::tensor(mult, at::kFloat).view({n, 77, 1}).to(z.device());
    if (settings_.emphasis == emphasis_mode::original) {
      auto original_mean = z.mean();
      z = z * m.expand(z.sizes());
      z = z * (original_mean / z.mean());
    } else if (settings_.emphasis == emphasis_mode::no_norm) {
      z = z * m.expand(z.sizes());
    }
    zs.push_back(z);
  }
  return at::cat(zs, 1);
}

std::vector<token_chunk> prompt_chunks_of(const std::string& text, const clip_tokenizer& tokenizer,
                                          const prompt_settings& settings, const embedding_set* embeddings) {
  if (settings.old_emphasis) return {tokenize_prompt_old(text, tokenizer, embeddings)};
  return tokenize_prompt(text, tokenizer, settings.emphasis, settings.comma_padding_backtrack, embeddings);
}

std::vector<std::pair<int, std::string>> scheduled_texts(const std::string& prompt, int steps,
                                                         const prompt_settings& settings) {
  if (settings.first_pass_steps > 0) {
    return prompt_schedule(prompt, settings.first_pass_steps, steps, settings.use_old_scheduling);
  }
  return prompt_schedule(prompt, steps, 0, settings.use_old_scheduling);
}

bool old_timelines_differ(const std::vector<std::string>& prompts, int steps, const prompt_settings& settings) {
  prompt_settings old = settings, fresh = settings;
  old.use_old_scheduling = true;
  fresh.use_old_scheduling = false;
  return std::any_of(prompts.begin(), prompts.end(), [&](const std::string& p) {
    return scheduled_texts(p, steps, old) != scheduled_texts(p, steps, fresh);
  });
}

std::vector<cond_schedule> prompt_encoder::schedules(const std::vector<std::string>& prompts, int steps,
                                                    bool negative) const {
  std::map<std::string, cond_schedule> cache;
  std::vector<cond_schedule> out;
  for (const auto& prompt : prompts) {
    auto hit = cache.find(prompt);
    if (hit == cache.end()) {
      auto plan = scheduled_texts(prompt, steps, settings_);
      std::vector<std::string> texts;
      for (const auto& entry : plan) {
        texts.push_back(entry.second);
      }
      cond_schedule schedule;
      if (bigg_) {
        // One embedder call per prompt over its scheduled texts, as A1111's get_learned_conditioning.
        const sdxl_text_cond c = encode_sdxl_texts(encoder_, *bigg_, tokenizer_, settings_, texts, negative);
        const at::Tensor y = sdxl_vector(c.pooled, sizes_, dtype_);
        for (size_t i = 0; i < plan.size(); ++i) {
          const auto row = static_cast<int64_t>(i);
          schedule.push_back({plan[i].first, c.crossattn[row], y[row]});
        }
      } else {
        auto conds = encode(texts);
        for (size_t i = 0; i < plan.size(); ++i) {
          schedule.push_back({plan[i].first, conds[static_cast<int64_t>(i)], at::Tensor()});
        }
      }
      hit = cache.emplace(prompt, std::move(schedule)).first;
    }
    out.push_back(hit->second);
  }
  return out;
}

std::vector<multi_cond> prompt_encoder::multi_schedules(const std::vector<std::string>& prompts, int steps) const {
  // Identical AND parts across the batch are encoded once, as A1111's flat prompt list does.
  std::vector<std::string> flat;
  std::vector<std::vector<std::pair<size_t, double>>> index;
  for (const auto& prompt : prompts) {
    std::vector<std::pair<size_t, double>> parts;
    for (const auto& part : split_and(prompt)) {
      auto it = std::find(flat.begin(), flat.end(), part.text);
      const size_t at = static_cast<size_t>(it - flat.begin());
      if (it == flat.end()) {
        flat.push_back(part.text);
      }
      parts.emplace_back(at, part.weight);
    }
    index.push_back(std::move(parts));
  }
  auto learned = schedules(flat, steps);
  std::vector<multi_cond> out;
  for (const auto& parts : index) {
    multi_cond mc;
    for (const auto& [at, weight] : parts) {
      mc.parts.emplace_back(learned[at], weight);
    }
    out.push_back(std::move(mc));
  }
  return out;
}

std::string ti_hashes(const std::string& prompt, const std::string& negative, int steps, const prompt_settings& settings) {
  if (!settings.embeddings) {
    return "";
  }
  const embedding_set& set = *settings.embeddings;
  // One FrozenCLIPEmbedderWithCustomWords.forward over a prompt's scheduled texts: the embeddings of
  // chunk 0 of every text, then of chunk 1, ..., each name once.
  auto used_by_call = [&](const std::string& text) {
    std::vector<std::vector<token_chunk>> chunked;
    size_t chunk_count = 0;
    for (const auto& [end, scheduled] : scheduled_texts(text, steps, settings)) {
      chunked.push_back(prompt_chunks_of(scheduled, set.tokenizer(), settings, &set));
      chunk_count = std::max(chunk_count, chunked.back().size());
    }
    std::vector<const text_embedding*> used;
    for (size_t i = 0; i < chunk_count; ++i) {
      for (const auto& chunks : chunked) {
        if (i >= chunks.size()) continue;
        for (const chunk_fix& f : chunks[i].fixes) {
          const bool seen = std::any_of(used.begin(), used.end(),
                                        [&](const text_embedding* e) { return e->name == f.embedding->name; });
          if (!seen) used.push_back(f.embedding);
        }
      }
    }
    return used;
  };
  std::vector<std::string> calls{negative};
  for (const auto& part : split_and(prompt)) {
    if (std::find(calls.begin() + 1, calls.end(), part.text) == calls.end()) calls.push_back(part.text);
  }
  std::string noted;
  for (const auto& text : calls) {
    std::string hashes;
    for (const text_embedding* e : used_by_call(text)) {
      if (e->short_hash.empty()) continue;
      std::string name;
      for (char c : e->name) {
        if (c != ':' && c != ',') name += c;
      }
      hashes += (hashes.empty() ? "" : ", ") + name + ": " + e->short_hash;
    }
    if (!hashes.empty()) {
      noted = noted.empty() ? hashes : hashes + ", " + noted;
    }
  }
  return noted;
}

at::Tensor cond_batch_at(const std::vector<cond_schedule>& conds, int step) {
  std::vector<at::Tensor> picked;
  picked.reserve(conds.size());
  for (const auto& schedule : conds) {
    picked.push_back(cond_at(schedule, step));
  }
  return stack_conds(picked);
}

at::Tensor vector_batch_at(const std::vector<cond_schedule>& conds, int step) {
  std::vector<at::Tensor> picked;
  for (const auto& schedule : conds) {
    const scheduled_cond& e = entry_at(schedule, step);
    if (!e.y.defined()) return at::Tensor();
    picked.push_back(e.y);
  }
  return at::stack(picked);
}

multi_cond_batch multi_cond_batch_at(const std::vector<multi_cond>& conds, int step) {
  multi_cond_batch batch;
  std::vector<at::Tensor> picked, ys;
  for (const auto& mc : conds) {
    std::vector<std::pair<int, double>> rows;
    for (const auto& [schedule, weight] : mc.parts) {
      rows.emplace_back(static_cast<int>(picked.size()), weight);
      const scheduled_cond& e = entry_at(schedule, step);
      picked.push_back(e.cond);
      if (e.y.defined()) ys.push_back(e.y);
    }
    batch.rows.push_back(std::move(rows));
  }
  batch.tensor = stack_conds(picked);
  if (!ys.empty()) batch.y = at::stack(ys);
  return batch;
}

} // namespace sdw
