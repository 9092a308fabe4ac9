#include "runtime/base/errors.hpp"

namespace sdw {

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::bad_request: return "bad_request";
    case errc::not_found: return "not_found";
    case errc::bad_checkpoint: return "bad_checkpoint";
    case errc::unsupported: return "unsupported";
    case errc::cancelled: return "cancelled";
    case errc::internal: return "internal";
    case errc::queue_full: return "queue_full";
    case errc::device_fault: return "device_fault";
    case errc::executor_lost: return "executor_lost";
  }
  return "internal";
}

} // namespace sdw
