#pragma once
/// How A1111 tells an SD2 v-prediction UNet from an eps one when no yaml says: a test run.

namespace sdw {

class unet;

/// A1111's is_using_v_parameterization_for_sd2: one UNet pass on a constant input (8×8 latents
/// of 0.5, timestep 999, a 2-token context of 0.5); the model predicts v when the mean of
/// (output − input) is below −1. An eps model predicts the noise (mean near 0 here); a v model's
/// output at t = 999 is near −x0, far below. A1111 runs it in float32 on the CPU; this runs on the
/// model's own device and dtype, which the coarse threshold does not notice. Deterministic.
bool unet_predicts_v(const unet& model);

} // namespace sdw
