#include "runtime/image/extras_upscale.hpp"

#include "runtime/image/resample.hpp"

#include <algorithm>
#include <cmath>

namespace sdw {

extras_upscale_plan plan_extras_upscale(int width, int height, const extras_upscale_params& p) {
  extras_upscale_plan plan;
  plan.width = width;
  plan.height = height;
  plan.runs = p.upscaler_1 != "None";
  if (!plan.runs) {
    return plan;
  }
  plan.blends = p.upscaler_2 != "None" && p.upscaler_2_visibility > 0;
  plan.scale = p.mode == 1 ? std::max(static_cast<double>(p.to_width) / width, static_cast<double>(p.to_height) / height)
                           : p.upscale_by;
  // Python's int() of the products, and `(side * scale) // 8 * 8`, in doubles as A1111 computes them.
  plan.pass_width = static_cast<int>(std::min(width * plan.scale, 2e9));
  plan.pass_height = static_cast<int>(std::min(height * plan.scale, 2e9));
  plan.upscaled_width = static_cast<int>(std::min(std::floor(width * plan.scale / 8) * 8, 2e9));
  plan.upscaled_height = static_cast<int>(std::min(std::floor(height * plan.scale / 8) * 8, 2e9));
  plan.cropped = p.mode == 1 && p.crop;
  plan.width = plan.cropped ? p.to_width : plan.upscaled_width;
  plan.height = plan.cropped ? p.to_height : plan.upscaled_height;
  return plan;
}

image8 extras_upscale(const image8& rgb, const extras_upscale_params& p, const model_upscale_use& use) {
  const extras_upscale_plan plan = plan_extras_upscale(rgb.width, rgb.height, p);
  if (!plan.runs) {
    return rgb;
  }
  image8 out = a1111_upscaler_upscale(rgb, plan.scale, p.upscaler_1, use);
  if (plan.cropped) {
    const auto crop = [&](const image8& im) {
      image8 canvas(p.to_width, p.to_height, 3);
      paste(canvas, im, p.to_width / 2 - im.width / 2, p.to_height / 2 - im.height / 2);
      return canvas;
    };
    out = crop(out);
    if (plan.blends) {
      out = pil_blend(out, crop(a1111_upscaler_upscale(rgb, plan.scale, p.upscaler_2, use)),
                      static_cast<float>(p.upscaler_2_visibility));
    }
    return out;
  }
  if (plan.blends) {
    out = pil_blend(out, a1111_upscaler_upscale(rgb, plan.scale, p.upscaler_2, use), static_cast<float>(p.upscaler_2_visibility));
  }
  return out;
}

} // namespace sdw
