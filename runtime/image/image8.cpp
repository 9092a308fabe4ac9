#include "runtime/image/image8.hpp"

#include "runtime/base/errors.hpp"

#include <cctype>

namespace sdw {
namespace {

/// PIL's rounding division by 255 (Paste.c DIV255).
inline std::uint8_t div255(unsigned v) {
  const unsigned t = v + 128;
  return static_cast<std::uint8_t>(((t >> 8) + t) >> 8);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

} // namespace

image8::image8(int w, int h, int c)
    : width(w), height(h), channels(c), pixels(static_cast<std::size_t>(w) * h * c, 0) {}

image8 to_rgb(const image8& in) {
  if (in.channels == 3) return in;
  image8 out(in.width, in.height, 3);
  const std::size_t n = static_cast<std::size_t>(in.width) * in.height;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = in.pixels.data() + i * in.channels;
    std::uint8_t* q = out.pixels.data() + i * 3;
    if (in.channels <= 2) {
      q[0] = q[1] = q[2] = p[0];
    } else {
      q[0] = p[0];
      q[1] = p[1];
      q[2] = p[2];
    }
  }
  return out;
}

image8 to_gray(const image8& in) {
  if (in.channels == 1) return in;
  image8 out(in.width, in.height, 1);
  const std::size_t n = static_cast<std::size_t>(in.width) * in.height;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = in.pixels.data() + i * in.channels;
    if (in.channels <= 2) {
      out.pixels[i] = p[0];
    } else {
      // Convert.c L24: 16-bit fixed-point weights of 0.299, 0.587, 0.114, rounded.
      out.pixels[i] = static_cast<std::uint8_t>((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
    }
  }
  return out;
}

rgb_color parse_color(const std::string& text, const std::string& field) {
  const auto bad = [&] {
    return error(errc::bad_request, field, "is not a colour: \"" + text + "\" (expected #rgb or #rrggbb)");
  };
  if (text.size() != 4 && text.size() != 7) throw bad();
  if (text[0] != '#') throw bad();
  int v[6];
  for (std::size_t i = 1; i < text.size(); ++i) {
    v[i - 1] = hex_digit(text[i]);
    if (v[i - 1] < 0) throw bad();
  }
  if (text.size() == 4) {
    return {static_cast<std::uint8_t>(v[0] * 17), static_cast<std::uint8_t>(v[1] * 17),
            static_cast<std::uint8_t>(v[2] * 17)};
  }
  return {static_cast<std::uint8_t>(v[0] * 16 + v[1]), static_cast<std::uint8_t>(v[2] * 16 + v[3]),
          static_cast<std::uint8_t>(v[4] * 16 + v[5])};
}

image8 flatten(const image8& in, rgb_color background) {
  if (in.channels != 4) return to_rgb(in);
  image8 out(in.width, in.height, 3);
  const std::uint8_t bg[3] = {background.r, background.g, background.b};
  const std::size_t n = static_cast<std::size_t>(in.width) * in.height;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = in.pixels.data() + i * 4;
    const unsigned a = p[3];
    for (int c = 0; c < 3; ++c) {
      out.pixels[i * 3 + c] = div255(bg[c] * (255 - a) + p[c] * a);
    }
  }
  return out;
}

} // namespace sdw
