#include "runtime/formats/infotext_parse.hpp"

#include "runtime/base/unicode_text.hpp"
#include "runtime/formats/infotext.hpp"
#include "runtime/formats/infotext_versions.hpp"
#include "runtime/formats/request_fields.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

namespace sdw {
namespace {

using unicode::is_space;
using unicode::is_word;

bool key_char(char32_t c) { return is_word(c) || c == U' ' || c == U'-' || c == U'/'; }

std::string utf8(const std::u32string& s, size_t begin, size_t end) {
  return unicode::encode_utf8(s.substr(begin, end - begin));
}

/// One match of re_param at `pos`: \s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)
bool match_pair(const std::u32string& s, size_t pos, std::string& key, std::string& value, size_t& next) {
  const size_t n = s.size();
  size_t p = pos;
  while (p < n && is_space(s[p])) {
    ++p;
  }
  if (p >= n || !is_word(s[p])) {
    return false;
  }
  size_t q = p + 1;
  while (q < n && key_char(s[q])) {
    ++q;
  }
  // ':' is outside the key's class, so only the longest run can be followed by it.
  if (q - p < 2 || q >= n || s[q] != U':') {
    return false;
  }
  key = utf8(s, p, q);
  size_t v = q + 1;
  while (v < n && is_space(s[v])) {
    ++v;
  }
  if (v < n && s[v] == U'"') {
    size_t r = v + 1;
    size_t units = 0;
    for (;;) {
      if (r + 1 < n && s[r] == U'\\' && s[r + 1] != U'\n') {
        r += 2;
      } else if (r < n && s[r] != U'\\' && s[r] != U'"') {
        r += 1;
      } else {
        break;
      }
      ++units;
    }
    if (units > 0 && r < n && s[r] == U'"' && (r + 1 == n || s[r + 1] == U',')) {
      value = utf8(s, v, r + 1);
      next = r + 1 == n ? n : r + 2;
      return true;
    }
  }
  size_t end = v;
  while (end < n && s[end] != U',') {
    ++end;
  }
  value = utf8(s, v, end);
  next = end == n ? n : end + 1;
  return true;
}

/// `^(\d+)x(\d+)$` ($ also before a final newline).
bool image_size(const std::string& v, std::string& w, std::string& h) {
  std::string text = v;
  if (!text.empty() && text.back() == '\n') {
    text.pop_back();
  }
  const size_t x = text.find('x');
  auto digits = [](const std::string& d) {
    return !d.empty() && std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (x == std::string::npos || !digits(text.substr(0, x)) || !digits(text.substr(x + 1))) {
    return false;
  }
  w = text.substr(0, x);
  h = text.substr(x + 1);
  return true;
}

/// unquote(): a JSON string literal's text, or the text unchanged when it is not one.
std::string unquote(const std::string& text) {
  try {
    const json_value v = parse_json(text, "infotext");
    if (v.is_string()) {
      return v.as_string();
    }
  } catch (const std::exception&) {
  }
  return text;
}

bool has(const json_value& res, const std::string& key) { return res.find(key) != nullptr; }

void set_default(json_value& res, const std::string& key, json_value value) {
  if (!has(res, key)) {
    res.set(key, std::move(value));
  }
}

/// Python's int() of a value (a string such as "512", or an int); nothing when it fails.
std::optional<std::int64_t> as_int(const json_value* v) {
  if (v == nullptr || !(v->is_string() || v->is_int())) {
    return std::nullopt;
  }
  try {
    return coerce_int(*v, "infotext");
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

/// restore_old_hires_fix_params: infotexts with "First pass size" become size + hires resize.
void restore_old_hires_fix_params(json_value& res, bool use_old_hires_fix_width_height) {
  if (use_old_hires_fix_width_height) {
    const auto hires_w = as_int(res.find("Hires resize-1"));
    const auto hires_h = as_int(res.find("Hires resize-2"));
    if (hires_w && hires_h && *hires_w != 0 && *hires_h != 0) {
      res.set("Size-1", *hires_w);
      res.set("Size-2", *hires_h);
      return;
    }
  }
  if (!has(res, "First pass size-1") || !has(res, "First pass size-2")) {
    return;
  }
  auto first_w = as_int(res.find("First pass size-1"));
  auto first_h = as_int(res.find("First pass size-2"));
  const json_value default_size(512);
  const auto width = as_int(has(res, "Size-1") ? res.find("Size-1") : &default_size);
  const auto height = as_int(has(res, "Size-2") ? res.find("Size-2") : &default_size);
  if (!first_w || !first_h || !width || !height) {
    return;  // A1111's int() raises here; the text is left as it is
  }
  if (*first_w == 0 || *first_h == 0) {
    // old_hires_fix_first_pass_dimensions: the size of about 512x512 pixels, in multiples of 64.
    const double pixels = static_cast<double>(*width) * static_cast<double>(*height);
    if (!(pixels > 0)) {
      return;  // A1111 divides by zero or takes the root of a negative number here: left as it is
    }
    const double scale = std::sqrt(512.0 * 512.0 / pixels);
    first_w = static_cast<std::int64_t>(std::ceil(scale * static_cast<double>(*width) / 64.0)) * 64;
    first_h = static_cast<std::int64_t>(std::ceil(scale * static_cast<double>(*height) / 64.0)) * 64;
  }
  res.set("Size-1", *first_w);
  res.set("Size-2", *first_h);
  res.set("Hires resize-1", *width);
  res.set("Hires resize-2", *height);
}

/// infotext_versions.backcompat: keys that make old versions' images come out the same.
void backcompat(json_value& res) {
  const json_value* version = res.find("Version");
  pep440_version ver;
  if (version == nullptr || !version->is_string() || !parse_infotext_version(version->as_string(), ver)) {
    return;
  }
  pep440_version v160, v170_tsnr, v180;
  parse_infotext_version("1.6.0", v160);
  parse_infotext_version("v1.7.0-225", v170_tsnr);
  parse_infotext_version("1.8.0", v180);
  // Copies, not pointers into `res`: each set below may add a member and move the others.
  auto text_of = [&res](const char* key) {
    const json_value* v = res.find(key);
    return v != nullptr && v->is_string() ? v->as_string() : std::string();
  };
  const std::string prompt = text_of("Prompt");
  const std::string sampler = text_of("Sampler");
  const std::string refiner = text_of("Refiner");
  if (version_less(ver, v160) && prompt.find('[') != std::string::npos) {
    res.set("Old prompt editing timelines", true);
  }
  if (version_less(ver, v160) && (sampler == "DDIM" || sampler == "PLMS")) {
    res.set("Pad conds v0", true);
  }
  if (version_less(ver, v170_tsnr)) {
    res.set("Downcast alphas_cumprod", true);
  }
  // Python truthiness of the value: a non-empty string.
  if (version_less(ver, v180) && !refiner.empty()) {
    res.set("Refiner switch by sampling steps", true);
  }
}

/// Takes the styles out of the prompts, as the infotext_styles option says.
void take_out_styles(json_value& res, std::string& prompt, std::string& negative, const infotext_parse_options& o) {
  if (o.infotext_styles == "Ignore") {
    return;
  }
  const extracted_styles found = extract_styles_from_prompt(o.styles, prompt, negative);
  bool same_hr_styles = true;
  const json_value* hires_prompt = res.find("Hires prompt");
  const json_value* hires_negative = res.find("Hires negative prompt");
  if (hires_prompt != nullptr || hires_negative != nullptr) {
    bool newer = true;
    pep440_version ver, v180_hr_styles;
    const json_value* version = res.find("Version");
    if (version != nullptr && version->is_string() && parse_infotext_version(version->as_string(), ver)) {
      parse_infotext_version("1.8.0-139", v180_hr_styles);
      newer = version_less(v180_hr_styles, ver);
    }
    if (newer) {
      auto text = [](const json_value* v, const std::string& otherwise) {
        return v != nullptr && v->is_string() ? v->as_string() : otherwise;
      };
      const extracted_styles hr =
        extract_styles_from_prompt(o.styles, text(hires_prompt, prompt), text(hires_negative, negative));
      same_hr_styles = found.names == hr.names;
      if (same_hr_styles) {
        res.set("Hires prompt", hr.prompt == found.prompt ? "" : hr.prompt);
        res.set("Hires negative prompt", hr.negative_prompt == found.negative_prompt ? "" : hr.negative_prompt);
      }
    }
  }
  if (same_hr_styles) {
    prompt = found.prompt;
    negative = found.negative_prompt;
    if ((o.infotext_styles == "Apply if any" && !found.names.empty()) || o.infotext_styles == "Apply") {
      json_value names = json_value::array();
      for (const auto& n : found.names) {
        names.push_back(n);
      }
      res.set("Styles array", std::move(names));
    }
  }
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (;;) {
    const size_t nl = text.find('\n', start);
    lines.push_back(text.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) {
      return lines;
    }
    start = nl + 1;
  }
}

} // namespace

std::vector<std::pair<std::string, std::string>> infotext_pairs(const std::string& line) {
  const std::u32string s = unicode::decode_utf8(line);
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos < s.size()) {
    std::string key, value;
    size_t next = pos;
    if (match_pair(s, pos, key, value, next)) {
      out.emplace_back(std::move(key), std::move(value));
      pos = next;
    } else {
      ++pos;
    }
  }
  return out;
}

json_value parse_generation_parameters(const std::string& text, const infotext_parse_options& o) {
  json_value res = json_value::object();
  std::vector<std::string> lines = split_lines(python_strip(text));
  std::string last = lines.back();
  lines.pop_back();
  auto pairs = infotext_pairs(last);
  if (pairs.size() < 3) {
    lines.push_back(last);
    pairs.clear();
  }

  std::string prompt, negative;
  bool done_with_prompt = false;
  for (std::string line : lines) {
    line = python_strip(line);
    if (line.rfind("Negative prompt:", 0) == 0) {
      done_with_prompt = true;
      line = python_strip(line.substr(16));
    }
    std::string& into = done_with_prompt ? negative : prompt;
    into += (into.empty() ? "" : "\n") + line;
  }

  for (auto& [key, value] : pairs) {
    if (value.empty()) {
      continue;  // A1111 reads v[0] and skips the key on the IndexError
    }
    if (value.size() >= 1 && value.front() == '"' && value.back() == '"') {
      value = unquote(value);
    }
    std::string w, h;
    if (image_size(value, w, h)) {
      res.set(key + "-1", w);
      res.set(key + "-2", h);
    } else {
      res.set(key, value);
    }
  }

  take_out_styles(res, prompt, negative, o);
  res.set("Prompt", prompt);
  res.set("Negative prompt", negative);
  set_default(res, "Clip skip", "1");
  if (const json_value* hypernet = res.find("Hypernet"); hypernet != nullptr && hypernet->is_string()) {
    const json_value* strength = res.find("Hypernet strength");
    const std::string s = strength != nullptr && strength->is_string() ? strength->as_string() : "1.0";
    res.set("Prompt", prompt + "<hypernet:" + hypernet->as_string() + ":" + s + ">");
  }
  if (!has(res, "Hires resize-1")) {
    res.set("Hires resize-1", 0);
    res.set("Hires resize-2", 0);
  }
  set_default(res, "Hires sampler", "Use same sampler");
  set_default(res, "Hires schedule type", "Use same scheduler");
  set_default(res, "Hires checkpoint", "Use same checkpoint");
  set_default(res, "Hires prompt", "");
  set_default(res, "Hires negative prompt", "");
  set_default(res, "Mask mode", "Inpaint masked");
  set_default(res, "Masked content", "original");
  set_default(res, "Inpaint area", "Whole picture");
  set_default(res, "Masked area padding", 32);
  restore_old_hires_fix_params(res, o.use_old_hires_fix_width_height);
  set_default(res, "RNG", "GPU");
  set_default(res, "Schedule type", "Automatic");
  set_default(res, "Schedule max sigma", 0);
  set_default(res, "Schedule min sigma", 0);
  set_default(res, "Schedule rho", 0);
  set_default(res, "VAE Encoder", "Full");
  set_default(res, "VAE Decoder", "Full");
  set_default(res, "FP8 weight", "Disable");
  if (const json_value* fp8 = res.find("FP8 weight"); !(fp8->is_string() && fp8->as_string() == "Disable")) {
    set_default(res, "Cache FP16 weight for LoRA", false);
  }
  if (!has(res, "Emphasis") && o.uses_emphasis && (o.uses_emphasis(prompt) || o.uses_emphasis(negative))) {
    res.set("Emphasis", "Original");
  }
  set_default(res, "Refiner switch by sampling steps", false);
  if (o.auto_backcompat) {
    backcompat(res);
  }
  json_object& members = res.as_object();
  for (const auto& skip : o.infotext_skip_pasting) {
    members.erase(std::remove_if(members.begin(), members.end(), [&](const json_member& m) { return m.first == skip; }),
                  members.end());
  }
  return res;
}

} // namespace sdw
