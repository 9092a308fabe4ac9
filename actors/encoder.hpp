#pragma once
/// The encoder actor: turns a generation's images into A1111's response JSON (PNG with the
/// infotext chunk, base64) off the executor's thread. Runs on the CAF scheduler; stateless;
/// only the scheduler sends it work.

#include "messages/interfaces.hpp"

namespace sdw {

/// The A1111 response for a generation, or its error, as a job result (COMPLETED or FAILED).
job_result encode_generation(const generation_output& out);

/// The encoder's behaviour.
encoder_actor::behavior_type encoder(encoder_actor::pointer self);

} // namespace sdw
