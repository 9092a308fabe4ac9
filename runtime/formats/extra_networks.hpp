#pragma once
/// Extra-network tags in prompts (`<lora:name:0.8>`, `<lora:name:te=0.5:unet=1>`) as A1111 1.9.4
/// reads them (modules/extra_networks.py and the Lora extension's extra_networks_lora.py): found
/// and removed from positive prompts only, grouped by type, and read into a job's LoRA list.

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sdw {

/// The arguments of one tag, split on ':' as ExtraNetworkParams splits them: an item with exactly
/// one '=' is named (the last of a name wins), every other item is positional.
struct extra_network_params {
  std::vector<std::string> items;
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> named;
  /// The value of a named argument, or nothing.
  const std::string* find(const std::string& key) const;
};

/// A prompt with its tags taken out, and the tags by type in the order each type first appears.
struct extra_network_tags {
  std::string prompt;
  std::vector<std::pair<std::string, std::vector<extra_network_params>>> by_type;
};

/// Finds the tags `<(\w+):([^>]+)>` (Python's Unicode \w) and removes them (nothing is put in
/// their place, as re.sub with "" does).
extra_network_tags parse_extra_networks(const std::string& prompt);

/// One LoRA a prompt asks for: `<lora:name[:te[:unet[:dyn]]]>` or with te=, unet=, dyn= named;
/// te defaults to 1, unet to te, dyn (a rank limit) to none.
struct lora_tag {
  std::string name;
  double te = 1.0;
  double unet = 1.0;
  std::optional<long long> dyn;
  bool operator==(const lora_tag& o) const;
};

/// The LoRAs of a prompt: the `lora` tags and those of its alias `lyco`, joined in the order the
/// two types first appear (A1111's lookup_extra_networks). When an argument is not a number, or
/// a tag has no positional name, A1111's activate fails and no LoRA is used: `tags` is empty and
/// `error` says why.
struct lora_request {
  std::vector<lora_tag> tags;
  std::string error;
};

/// Reads the LoRA list from parsed tags.
lora_request lora_request_of(const extra_network_tags& tags);

/// A text that is equal for two prompts exactly when their LoRA lists are equal (names,
/// multipliers written exactly, order): what batch keys carry so that only jobs with the same
/// LoRAs share UNet calls. Empty for no LoRA.
std::string lora_key_text(const lora_request& request);

/// Python's float() of a string (surrounding whitespace, '_' between digits, inf and nan), or
/// nothing where float() raises.
std::optional<double> python_float(const std::string& text);

/// Python's int() of a string in base 10, or nothing where int() raises (or it does not fit).
std::optional<long long> python_int(const std::string& text);

} // namespace sdw
