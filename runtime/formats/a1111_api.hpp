#pragma once
/// The A1111 HTTP API at the edge: checking a txt2img body before it is queued, the error
/// bodies A1111 answers with, and the listing endpoints (/samplers, /sd-models).

#include "runtime/base/errors.hpp"
#include "runtime/catalog/checkpoint_catalog.hpp"
#include "runtime/catalog/vae_catalog.hpp"
#include "runtime/formats/txt2img_request.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace sdw {

/// An HTTP status and a JSON body.
struct http_answer {
  int status = 200;
  std::string body;
  std::string content_type;  ///< empty: application/json
};

/// Parses and checks a body sent to the txt2img or img2img route (`kind`) the way A1111 does before
/// it runs anything: the fields (txt2img_request_from_json), the sampler name and
/// `override_settings`; a RunPod job form names its own call. Errors: sdw::error(bad_request,
/// "<field>", ...), sdw::error(not_found, "sampler_name" / "init_images", ...).
txt2img_request check_generation_body(std::string_view body, request_kind kind);

/// The answer A1111 gives for an error of kind `kind`:
/// bad_request → 422 `{"detail":[{"loc":["body",<field>...],"msg","type"}]}` (a JSON syntax error
/// → loc ["body", <char offset>], type value_error.jsondecode); an unknown sampler → 404
/// `{"error":"HTTPException","detail":"Sampler not found","body":"","errors":""}`; queue_full → 503;
/// cancelled → 500 "Interrupted"; anything else → 500 `{"error":"RuntimeError",...,"errors":<message>}`.
http_answer a1111_error_answer(errc kind, const std::string& field, const std::string& message);

/// A1111's body for an HTTPException of `status`: `{"error":"HTTPException","detail":<detail>,"body":"","errors":""}`
/// (e.g. 400 "There was an error parsing the body", FastAPI's answer to a body that is not UTF-8).
http_answer a1111_http_exception(int status, const std::string& detail);

/// pydantic v1's error type for one of its messages ("value is not a valid integer" →
/// "type_error.integer", "ensure this value is greater than 0" → "value_error.number.not_gt");
/// "value_error" for messages of our own range checks.
std::string pydantic_error_type(const std::string& message);

/// GET /sdapi/v1/samplers: `[{"name","aliases":[...],"options":{...}}]` in A1111's order.
std::string samplers_json();

/// GET /sdapi/v1/sd-models: `[{"title","model_name","hash","sha256","filename","config"}]`, where
/// title is "<name> [<short hash>]" once the hash is known, and hash/sha256/config are null
/// when unknown.
std::string sd_models_json(const std::vector<checkpoint_info>& models);

/// GET /sdapi/v1/sd-vae: `[{"model_name","filename"}]`.
std::string sd_vae_json(const std::vector<vae_info>& vaes);

} // namespace sdw
