#include "runtime/sched/cost_model.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/base/json_value.hpp"

namespace sdw {

double step_ms(const cost_model& model, int width, int height, int batch) {
  const double megapixels = static_cast<double>(width) * height / 1e6;
  return (model.step_fixed_ms + model.step_ms_per_megapixel * megapixels * batch) / model.speed;
}

double job_ms(const cost_model& model, const job_shape& shape) {
  const double megapixels = static_cast<double>(shape.width) * shape.height / 1e6;
  const double per_batch = shape.steps * step_ms(model, shape.width, shape.height, shape.batch) +
                           model.decode_ms_per_megapixel * megapixels * shape.batch / model.speed;
  return model.text_encode_ms / model.speed + per_batch * shape.batches;
}

cost_model parse_cost_model(const std::string& json_text, const cost_model& base) {
  const json_value doc = parse_json(json_text, "cost model");
  if (!doc.is_object()) {
    throw error(errc::bad_request, "cost model", "must be a JSON object");
  }
  cost_model m = base;
  for (const auto& [key, value] : doc.as_object()) {
    double* field = key == "step_fixed_ms"           ? &m.step_fixed_ms
                    : key == "step_ms_per_megapixel" ? &m.step_ms_per_megapixel
                    : key == "decode_ms_per_megapixel" ? &m.decode_ms_per_megapixel
                    : key == "text_encode_ms"        ? &m.text_encode_ms
                    : key == "speed"                 ? &m.speed
                                                     : nullptr;
    if (field == nullptr) {
      throw error(errc::bad_request, "cost model." + key, "unknown key");
    }
    if (!value.is_number()) {
      throw error(errc::bad_request, "cost model." + key, "must be a number");
    }
    *field = value.as_number();
    if (*field < 0 || (key == "speed" && *field <= 0)) {
      throw error(errc::bad_request, "cost model." + key, key == "speed" ? "must be positive" : "must not be negative");
    }
  }
  return m;
}

} // namespace sdw
