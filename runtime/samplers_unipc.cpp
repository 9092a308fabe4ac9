// UniPC (multistep, data prediction) as A1111 runs it; see sample_unipc.
#include "runtime/errors.hpp"
#include "runtime/samplers_impl.hpp"

#include <ATen/ATen.h>

namespace sdw::detail {

at::Tensor sample_unipc(run_context&, const discrete_schedule&, const at::Tensor&, at::Tensor) {
  throw error(errc::unsupported, "sampler_name", "UniPC is not implemented yet");
}

} // namespace sdw::detail
