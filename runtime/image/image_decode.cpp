#include "runtime/image/image_decode.hpp"

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/png_codec.hpp"

#include <libexif/exif-data.h>
#include <webp/decode.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

namespace sdw {
namespace {

void check_size(long long w, long long h, const std::string& field, const char* format) {
  if (w <= 0 || h <= 0) throw error(errc::bad_request, field, std::string("invalid ") + format + ": empty image");
  if (w > 16384 || h > 16384 || w * h > max_image_pixels)
    throw error(errc::bad_request, field,
                "image too large: " + std::to_string(w) + "x" + std::to_string(h) + " pixels, at most " +
                  std::to_string(max_image_pixels) + " and 16384 on a side");
}

// -- JPEG (libjpeg) --

struct jpeg_failure {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_jpeg_error(j_common_ptr cinfo) {
  auto* f = reinterpret_cast<jpeg_failure*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, f->message);
  std::longjmp(f->jump, 1);
}

void ignore_jpeg_message(j_common_ptr, int) {}

/// The EXIF orientation (1..8) of an APP1 marker's payload, 1 when there is none.
int exif_orientation(const jpeg_saved_marker_ptr markers) {
  for (auto m = markers; m != nullptr; m = m->next) {
    if (m->marker != JPEG_APP0 + 1 || m->data_length < 6 || std::memcmp(m->data, "Exif\0\0", 6) != 0) continue;
    std::unique_ptr<ExifData, void (*)(ExifData*)> data(exif_data_new_from_data(m->data, m->data_length),
                                                       exif_data_unref);
    if (!data) return 1;
    ExifEntry* e = exif_content_get_entry(data->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
    if (e == nullptr || e->format != EXIF_FORMAT_SHORT || e->components < 1) return 1;
    const int o = exif_get_short(e->data, exif_data_get_byte_order(data.get()));
    return o >= 1 && o <= 8 ? o : 1;
  }
  return 1;
}

/// Decodes into `out`; returns false with f.message set on a libjpeg error. Kept free of C++
/// objects with destructors between setjmp and longjmp.
bool read_jpeg(jpeg_decompress_struct& cinfo, jpeg_failure& f, const std::string& bytes, image8& out,
               int& orientation, std::string& refusal) {
  if (setjmp(f.jump)) return false;
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    refusal = "CMYK JPEG images are not supported; send RGB";
    return true;
  }
  cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  if (cinfo.image_width > 16384 || cinfo.image_height > 16384 ||
      static_cast<long long>(cinfo.image_width) * cinfo.image_height > max_image_pixels) {
    refusal = "image too large: " + std::to_string(cinfo.image_width) + "x" + std::to_string(cinfo.image_height) +
              " pixels, at most " + std::to_string(max_image_pixels) + " and 16384 on a side";
    return true;
  }
  orientation = exif_orientation(cinfo.marker_list);
  jpeg_start_decompress(&cinfo);
  out.width = static_cast<int>(cinfo.output_width);
  out.height = static_cast<int>(cinfo.output_height);
  out.channels = cinfo.output_components;
  out.pixels.assign(static_cast<std::size_t>(out.width) * out.height * out.channels, 0);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.row(static_cast<int>(cinfo.output_scanline));
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  return true;
}

/// PIL's ImageOps.exif_transpose for orientations 2..8.
image8 transpose_by_orientation(const image8& in, int orientation) {
  if (orientation <= 1) return in;
  const bool swap = orientation >= 5;
  image8 out(swap ? in.height : in.width, swap ? in.width : in.height, in.channels);
  const int ch = in.channels;
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
      case 2: sx = in.width - 1 - x; break;                                     // mirror
      case 3: sx = in.width - 1 - x; sy = in.height - 1 - y; break;              // 180°
      case 4: sy = in.height - 1 - y; break;                                    // flip
      case 5: sx = y; sy = x; break;                                            // transpose
      case 6: sx = y; sy = in.height - 1 - x; break;                            // 90° clockwise
      case 7: sx = in.width - 1 - y; sy = in.height - 1 - x; break;             // transverse
      case 8: sx = in.width - 1 - y; sy = x; break;                             // 90° counter-clockwise
      default: break;
      }
      std::memcpy(out.row(y) + x * ch, in.row(sy) + sx * ch, static_cast<std::size_t>(ch));
    }
  }
  return out;
}

image8 decode_jpeg(const std::string& bytes, const std::string& field) {
  jpeg_decompress_struct cinfo{};
  jpeg_failure f{};
  cinfo.err = jpeg_std_error(&f.mgr);
  f.mgr.error_exit = on_jpeg_error;
  f.mgr.emit_message = ignore_jpeg_message;
  image8 out;
  int orientation = 1;
  std::string refusal;
  const bool ok = read_jpeg(cinfo, f, bytes, out, orientation, refusal);
  jpeg_destroy_decompress(&cinfo);
  if (!ok) throw error(errc::bad_request, field, std::string("invalid JPEG: ") + f.message);
  if (!refusal.empty()) throw error(errc::bad_request, field, refusal);
  check_size(out.width, out.height, field, "JPEG");
  return transpose_by_orientation(out, orientation);
}

// -- WebP (libwebp) --

image8 decode_webp(const std::string& bytes, const std::string& field) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  WebPBitstreamFeatures features;
  if (WebPGetFeatures(data, bytes.size(), &features) != VP8_STATUS_OK)
    throw error(errc::bad_request, field, "invalid WebP: cannot read its header");
  if (features.has_animation) throw error(errc::bad_request, field, "animated WebP images are not supported");
  check_size(features.width, features.height, field, "WebP");
  image8 out(features.width, features.height, features.has_alpha ? 4 : 3);
  const int stride = out.width * out.channels;
  const bool ok = features.has_alpha
                      ? WebPDecodeRGBAInto(data, bytes.size(), out.pixels.data(), out.pixels.size(), stride) != nullptr
                      : WebPDecodeRGBInto(data, bytes.size(), out.pixels.data(), out.pixels.size(), stride) != nullptr;
  if (!ok) throw error(errc::bad_request, field, "invalid WebP: the image data is corrupt or truncated");
  return out;
}

// -- PNG --

image8 decode_png_image(const std::string& bytes, const std::string& field) {
  // The size is refused from the header, before a tiny file can make the decoder allocate a gigabyte.
  decoded_png png = decode_png(bytes, field, [&field](int w, int h) { check_size(w, h, field, "PNG"); });
  image8 out;
  out.width = png.width;
  out.height = png.height;
  out.channels = png.channels;
  out.pixels = std::move(png.pixels);
  return out;
}

bool starts_with(const std::string& s, const char* prefix, std::size_t at = 0) {
  const std::size_t n = std::strlen(prefix);
  return s.size() >= at + n && s.compare(at, n, prefix) == 0;
}

} // namespace

image8 decode_image(const std::string& bytes, const std::string& field) {
  if (starts_with(bytes, "\x89PNG\r\n\x1a\n")) return decode_png_image(bytes, field);
  if (starts_with(bytes, "\xff\xd8\xff")) return decode_jpeg(bytes, field);
  if (starts_with(bytes, "RIFF") && starts_with(bytes, "WEBP", 8)) return decode_webp(bytes, field);
  throw error(errc::bad_request, field, "Invalid encoded image: not a PNG, JPEG or WebP image");
}

image_with_text decode_image_with_text(const std::string& bytes, const std::string& field) {
  if (!starts_with(bytes, "\x89PNG\r\n\x1a\n")) return {decode_image(bytes, field), {}};
  // The size is refused from the header, before a tiny file can make the decoder allocate a gigabyte.
  decoded_png png = decode_png(bytes, field, [&field](int w, int h) { check_size(w, h, field, "PNG"); });
  image_with_text out;
  out.image.width = png.width;
  out.image.height = png.height;
  out.image.channels = png.channels;
  out.image.pixels = std::move(png.pixels);
  out.text = std::move(png.text);
  return out;
}

image8 decode_base64_image(const std::string& text, const std::string& field) {
  if (starts_with(text, "http://") || starts_with(text, "https://"))
    throw error(errc::bad_request, field, "image URLs are not fetched by this worker; send the image as base64");
  std::string_view payload = text;
  if (starts_with(text, "data:image/")) {
    // A1111 splits at ';' then ','.
    const auto semi = payload.find(';');
    if (semi != std::string_view::npos) payload.remove_prefix(semi + 1);
    const auto comma = payload.find(',');
    if (comma != std::string_view::npos) payload.remove_prefix(comma + 1);
  }
  return decode_image(base64_decode(payload, field), field);
}

} // namespace sdw
