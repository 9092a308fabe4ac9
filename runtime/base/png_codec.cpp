#include "runtime/base/png_codec.hpp"

#include "runtime/base/errors.hpp"

#include <png.h>

#include <cctype>
#include <csetjmp>
#include <cstdio>
#include <cstring>

namespace sdw {
namespace {

// libpng reports errors by longjmp. Every function that calls setjmp below keeps only trivially
// destructible locals, and every frame libpng may jump over (its own C frames and the callbacks
// here) holds nothing that needs a destructor, so no C++ object is ever skipped by the jump.
// The C++ side (allocation, strings, exceptions) happens in the callers, outside those frames.

constexpr png_uint_32 max_side = 16384;
constexpr std::size_t max_decoded_bytes = std::size_t(1) << 30;

struct failure {
  char message[256];
};

void on_error(png_structp png, png_const_charp msg) {
  auto* f = static_cast<failure*>(png_get_error_ptr(png));
  if (f) std::snprintf(f->message, sizeof f->message, "%s", msg ? msg : "libpng error");
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}

void write_bytes(png_structp png, png_bytep data, png_size_t len) {
  auto* out = static_cast<std::string*>(png_get_io_ptr(png));
  bool ok = true;
  try {
    out->append(reinterpret_cast<const char*>(data), len);
  } catch (...) {
    ok = false;
  }
  if (!ok) png_error(png, "out of memory while writing PNG");
}

void flush_nothing(png_structp) {}

struct read_source {
  const char* data;
  std::size_t size;
  std::size_t pos;
};

void read_bytes(png_structp png, png_bytep out, png_size_t len) {
  auto* src = static_cast<read_source*>(png_get_io_ptr(png));
  if (len > src->size - src->pos) png_error(png, "truncated data");
  std::memcpy(out, src->data + src->pos, len);
  src->pos += len;
}

bool write_all(png_structp png, png_infop info, png_bytepp rows, png_uint_32 width, png_uint_32 height,
               png_textp texts, int text_count, int color_type) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_IHDR(png, info, width, height, 8, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (text_count > 0) png_set_text(png, info, texts, text_count);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, info);
  return true;
}

struct header {
  png_uint_32 width;
  png_uint_32 height;
  int channels;
  png_size_t rowbytes;
};

bool read_header(png_structp png, png_infop info, header* h) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_user_limits(png, max_side, max_side);
  png_read_info(png, info);
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  // PIL's reading of tRNS: per-entry palette alpha makes RGBA; a palette with one fully
  // transparent entry (else opaque), like the colour key of a gray or RGB image, is ignored.
  if (png_get_valid(png, info, PNG_INFO_tRNS)) {
    bool per_entry = false;
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
      png_bytep alpha = nullptr;
      int count = 0;
      png_get_tRNS(png, info, &alpha, &count, nullptr);
      int zeros = 0, others = 0;
      for (int i = 0; i < count; ++i) {
        zeros += alpha[i] == 0;
        others += alpha[i] != 0 && alpha[i] != 255;
      }
      per_entry = !(zeros == 1 && others == 0);
    }
    // Expansion turns any tRNS into alpha; an ignored one loses that alpha again.
    if (per_entry) {
      png_set_tRNS_to_alpha(png);
    } else {
      png_set_strip_alpha(png);
    }
  }
  if (bit_depth == 16) png_set_strip_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  h->width = png_get_image_width(png, info);
  h->height = png_get_image_height(png, info);
  h->channels = png_get_channels(png, info);
  h->rowbytes = png_get_rowbytes(png, info);
  return true;
}

bool read_body(png_structp png, png_infop info, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  png_read_end(png, info);
  return true;
}

// Text conversions: tEXt/zTXt hold Latin-1, iTXt holds UTF-8.
bool utf8_to_latin1(const std::string& in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size();) {
    const auto b = static_cast<unsigned char>(in[i]);
    if (b < 0x80) {
      out += static_cast<char>(b);
      ++i;
    } else if ((b & 0xE0) == 0xC0 && i + 1 < in.size() && (static_cast<unsigned char>(in[i + 1]) & 0xC0) == 0x80) {
      const unsigned cp = ((b & 0x1Fu) << 6) | (static_cast<unsigned char>(in[i + 1]) & 0x3Fu);
      if (cp < 0x80 || cp > 0xFF) return false;
      out += static_cast<char>(cp);
      i += 2;
    } else {
      return false;
    }
  }
  return true;
}

std::string latin1_to_utf8(const char* s, std::size_t len) {
  std::string out;
  out.reserve(len);
  for (std::size_t i = 0; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out += static_cast<char>(b);
    } else {
      out += static_cast<char>(0xC0 | (b >> 6));
      out += static_cast<char>(0x80 | (b & 0x3F));
    }
  }
  return out;
}

// Whether every chunk up to IEND lies within the data. libpng allocates a chunk's declared length
// before it reads the chunk, so a few bytes that claim a 2 GB text chunk would cost 2 GB.
bool chunks_fit(const std::string& bytes, std::string* fault) {
  std::size_t pos = 8;
  while (pos < bytes.size()) {
    if (bytes.size() - pos < 12) break;  // libpng reports the truncation
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + pos);
    const std::uint64_t length = (std::uint64_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
    std::string type(bytes.data() + pos + 4, 4);
    for (char& c : type) c = std::isalpha(static_cast<unsigned char>(c)) ? c : '?';
    if (length > bytes.size() - pos - 12) {
      *fault = "chunk '" + type + "' claims " + std::to_string(length) + " bytes, more than the " +
               std::to_string(bytes.size() - pos - 12) + " left (truncated data)";
      return false;
    }
    if (type == "IEND") break;
    pos += 12 + length;
  }
  return true;
}

struct write_guard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~write_guard() { png_destroy_write_struct(&png, &info); }
};

struct read_guard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~read_guard() { png_destroy_read_struct(&png, &info, nullptr); }
};

} // namespace

std::string encode_png(const std::uint8_t* rgb, int width, int height,
                       const std::vector<std::pair<std::string, std::string>>& text_chunks, int channels) {
  if (channels != 3 && channels != 4) throw error(errc::internal, "image", "PNG encoding takes RGB or RGBA pixels");
  if (width <= 0 || height <= 0 || static_cast<png_uint_32>(width) > PNG_USER_WIDTH_MAX ||
      static_cast<png_uint_32>(height) > PNG_USER_HEIGHT_MAX)
    throw error(errc::bad_request, "image", "cannot encode a " + std::to_string(width) + "x" +
                                                std::to_string(height) + " image as PNG");
  if (!rgb) throw error(errc::internal, "image", "no pixel data to encode");

  // Keys and values converted to what each chunk type stores; kept alive until the write ends.
  std::vector<std::string> keys(text_chunks.size()), values(text_chunks.size());
  std::vector<png_text> texts(text_chunks.size());
  for (std::size_t i = 0; i < text_chunks.size(); ++i) {
    const auto& [key, value] = text_chunks[i];
    if (!utf8_to_latin1(key, keys[i]) || keys[i].empty() || keys[i].size() > 79 ||
        keys[i].find('\0') != std::string::npos)
      throw error(errc::bad_request, "image", "PNG text key must be 1 to 79 Latin-1 characters: \"" + key + "\"");
    std::memset(&texts[i], 0, sizeof(png_text));
    texts[i].key = keys[i].data();
    if (utf8_to_latin1(value, values[i])) {
      texts[i].compression = PNG_TEXT_COMPRESSION_NONE;
      texts[i].text = values[i].data();
      texts[i].text_length = values[i].size();
    } else {
      values[i] = value;
      texts[i].compression = PNG_ITXT_COMPRESSION_NONE;
      texts[i].text = values[i].data();
      texts[i].itxt_length = values[i].size();
      texts[i].lang = nullptr;
      texts[i].lang_key = nullptr;
    }
  }

  std::vector<png_bytep> rows(static_cast<std::size_t>(height));
  const std::size_t stride = static_cast<std::size_t>(width) * static_cast<std::size_t>(channels);
  for (int y = 0; y < height; ++y)
    rows[static_cast<std::size_t>(y)] = const_cast<png_bytep>(rgb + stride * static_cast<std::size_t>(y));

  failure fail{};
  std::string out;
  write_guard g;
  g.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &fail, on_error, on_warning);
  if (!g.png) throw error(errc::internal, "image", "cannot create PNG writer");
  g.info = png_create_info_struct(g.png);
  if (!g.info) throw error(errc::internal, "image", "cannot create PNG writer");
  png_set_write_fn(g.png, &out, write_bytes, flush_nothing);
  if (!write_all(g.png, g.info, rows.data(), static_cast<png_uint_32>(width), static_cast<png_uint_32>(height),
                 texts.data(), static_cast<int>(texts.size()), channels == 4 ? PNG_COLOR_TYPE_RGBA : PNG_COLOR_TYPE_RGB))
    throw error(errc::internal, "image", std::string("PNG encoding failed: ") + fail.message);
  return out;
}

decoded_png decode_png(const std::string& bytes, const std::string& where,
                       const std::function<void(int width, int height)>& check_size) {
  if (bytes.size() < 8 || png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) != 0)
    throw error(errc::bad_request, where, "invalid PNG: not a PNG file (bad signature)");
  if (std::string fault; !chunks_fit(bytes, &fault)) throw error(errc::bad_request, where, "invalid PNG: " + fault);

  failure fail{};
  read_source src{bytes.data(), bytes.size(), 0};
  read_guard g;
  g.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &fail, on_error, on_warning);
  if (!g.png) throw error(errc::internal, where, "cannot create PNG reader");
  g.info = png_create_info_struct(g.png);
  if (!g.info) throw error(errc::internal, where, "cannot create PNG reader");
  png_set_read_fn(g.png, &src, read_bytes);

  header h{};
  if (!read_header(g.png, g.info, &h)) throw error(errc::bad_request, where, std::string("invalid PNG: ") + fail.message);
  if (h.width == 0 || h.height == 0 || h.channels < 1 || h.channels > 4 ||
      h.rowbytes != static_cast<png_size_t>(h.width) * static_cast<png_size_t>(h.channels))
    throw error(errc::bad_request, where, "invalid PNG: unsupported pixel layout");
  if (h.rowbytes * h.height > max_decoded_bytes)
    throw error(errc::bad_request, where, "invalid PNG: image too large (" + std::to_string(h.width) + "x" +
                                              std::to_string(h.height) + ")");
  if (check_size) check_size(static_cast<int>(h.width), static_cast<int>(h.height));

  decoded_png out;
  out.width = static_cast<int>(h.width);
  out.height = static_cast<int>(h.height);
  out.channels = h.channels;
  out.pixels.resize(h.rowbytes * h.height);
  std::vector<png_bytep> rows(h.height);
  for (png_uint_32 y = 0; y < h.height; ++y) rows[y] = out.pixels.data() + h.rowbytes * y;
  if (!read_body(g.png, g.info, rows.data()))
    throw error(errc::bad_request, where, std::string("invalid PNG: ") + fail.message);

  png_textp texts = nullptr;
  const int count = png_get_text(g.png, g.info, &texts, nullptr);
  for (int i = 0; i < count; ++i) {
    const png_text& t = texts[i];
    const std::string key = latin1_to_utf8(t.key, std::strlen(t.key));
    const bool itxt = t.compression == PNG_ITXT_COMPRESSION_NONE || t.compression == PNG_ITXT_COMPRESSION_zTXt;
    std::string value = itxt ? std::string(t.text ? t.text : "", t.text ? t.itxt_length : 0)
                             : latin1_to_utf8(t.text ? t.text : "", t.text ? t.text_length : 0);
    out.text.insert_or_assign(key, std::move(value));
  }
  return out;
}

} // namespace sdw
