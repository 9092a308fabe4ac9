#pragma once
/// A1111's stored options at the API edge: GET /sdapi/v1/options (every option key with its
/// stored or default value) and POST /sdapi/v1/options (checked, merged into the stored ones),
/// checked against the checkpoints a client may name as `sd_model_checkpoint`.

#include "runtime/formats/a1111_api.hpp"
#include "runtime/base/json_value.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sdw {

/// The default of every A1111 1.9.4 option key as compact JSON text, in registration order.
const std::vector<std::pair<std::string_view, std::string_view>>& a1111_option_defaults();

/// The loaded checkpoint as the options show it.
struct loaded_checkpoint {
  std::string title;   ///< "<file name> [<short hash>]", or the file name while the hash is unknown
  std::string sha256;  ///< empty while unknown
};

/// GET /sdapi/v1/options: every key of a1111_option_defaults(), with its stored value when there
/// is one; `sd_model_checkpoint` and `sd_checkpoint_hash` name the loaded checkpoint unless stored.
std::string options_json(const json_object& stored, const loaded_checkpoint& loaded);

/// The outcome of POST /sdapi/v1/options: the stored options after the post, or why it was refused.
struct options_post {
  json_object stored;
  std::optional<http_answer> refused;
};

/// Checks a POST /sdapi/v1/options body and merges it into `stored`, as A1111 does: the body must
/// be a JSON object (else 422); a `sd_model_checkpoint` that `known_checkpoint` does not find → 500
/// RuntimeError "model 'x' not found" (nothing stored); a key A1111 does not register → 500
/// KeyError (unless the value equals the stored one); a value the engine cannot use for one of
/// its own options (`options`) → 422 naming the key. Other keys are stored as given.
options_post post_options(std::string_view body, const json_object& stored,
                          const std::function<bool(const std::string&)>& known_checkpoint);

} // namespace sdw
