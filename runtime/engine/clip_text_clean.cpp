#include "runtime/engine/clip_text_clean.hpp"

#include "runtime/base/unicode_text.hpp"

#include <cstdint>
#include <cstdlib>

namespace sdw {

namespace {

bool is_ascii_alnum(char32_t c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

// ftfy only unescapes entities when the text does not look like HTML (no '<'); the common named
// entities and the numeric forms cover what prompts contain.
std::u32string unescape_html(const std::u32string& s) {
  if (s.find(U'<') != std::u32string::npos || s.find(U'&') == std::u32string::npos)
    return s;
  struct entity { const char32_t* name; char32_t value; };
  static const entity named[] = {
    {U"amp", U'&'}, {U"lt", U'<'}, {U"gt", U'>'}, {U"quot", U'"'}, {U"apos", U'\''},
    {U"nbsp", 0xA0}, {U"AMP", U'&'}, {U"LT", U'<'}, {U"GT", U'>'}, {U"QUOT", U'"'},
    {U"copy", 0xA9}, {U"reg", 0xAE}, {U"hellip", 0x2026}, {U"mdash", 0x2014}, {U"ndash", 0x2013},
  };
  std::u32string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] != U'&') {
      out.push_back(s[i++]);
      continue;
    }
    // ftfy's pattern: &#?[0-9A-Za-z]{1,24};
    std::size_t j = i + 1;
    bool numeric = j < s.size() && s[j] == U'#';
    if (numeric)
      ++j;
    std::size_t start = j;
    while (j < s.size() && j - start < 24 && is_ascii_alnum(s[j]))
      ++j;
    if (j == start || j >= s.size() || s[j] != U';') {
      out.push_back(s[i++]);
      continue;
    }
    std::u32string body = s.substr(start, j - start);
    char32_t value = 0;
    if (numeric) {
      std::string digits;
      for (char32_t c : body)
        digits.push_back(static_cast<char>(c));
      bool hex = !digits.empty() && (digits[0] == 'x' || digits[0] == 'X');
      char* end = nullptr;
      const char* first = digits.c_str() + (hex ? 1 : 0);
      unsigned long v = std::strtoul(first, &end, hex ? 16 : 10);
      if (end != nullptr && *end == '\0' && *first != '\0' && v > 0 && v <= 0x10FFFF && !(v >= 0xD800 && v <= 0xDFFF))
        value = static_cast<char32_t>(v);
    } else {
      for (const entity& e : named)
        if (body == e.name) { value = e.value; break; }
    }
    if (value == 0) {
      out.push_back(s[i++]);
      continue;
    }
    out.push_back(value);
    i = j + 1;
  }
  return out;
}

bool is_control(char32_t c) {
  return (c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
         c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC) || (c >= 0x1D173 && c <= 0x1D17A) ||
         (c >= 0xE0000 && c <= 0xE007F);
}

const char32_t* ligature(char32_t c) {
  switch (c) {
    case 0x0132: return U"IJ";  case 0x0133: return U"ij";  case 0x0149: return U"\u02BCn";
    case 0x01C4: return U"D\u017D"; case 0x01C5: return U"D\u017E"; case 0x01C6: return U"d\u017E";
    case 0x01C7: return U"LJ";  case 0x01C8: return U"Lj";  case 0x01C9: return U"lj";
    case 0x01CA: return U"NJ";  case 0x01CB: return U"Nj";  case 0x01CC: return U"nj";
    case 0x01F1: return U"DZ";  case 0x01F2: return U"Dz";  case 0x01F3: return U"dz";
    case 0xFB00: return U"ff";  case 0xFB01: return U"fi";  case 0xFB02: return U"fl";
    case 0xFB03: return U"ffi"; case 0xFB04: return U"ffl"; case 0xFB05: return U"\u017Ft";
    case 0xFB06: return U"st";
    default: return nullptr;
  }
}

// One pass for the per-character fixes of ftfy (terminal escapes, ligatures, character width,
// curly quotes, line breaks, control characters), in its order of application.
std::u32string fix_characters(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char32_t c = s[i];
    if (c == 0x1B && i + 1 < s.size() && s[i + 1] == U'[') {
      // ESC [ (digits|;)* letter
      std::size_t j = i + 2;
      while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == ';'))
        ++j;
      if (j < s.size() && (s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z') {
        i = j;
        continue;
      }
    }
    if (const char32_t* lig = ligature(c)) {
      out += lig;
      continue;
    }
    if (c == 0x3000) {
      out.push_back(U' ');
      continue;
    }
    if (c >= 0xFF01 && c <= 0xFFEF) {
      out += unicode::nfkc(std::u32string(1, c));
      continue;
    }
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) {
      out.push_back(U'\'');
      continue;
    }
    if (c >= 0x201C && c <= 0x201F) {
      out.push_back(U'"');
      continue;
    }
    if (is_control(c))
      continue;
    out.push_back(c);
  }
  return out;
}

std::u32string collapse_whitespace(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  bool pending_space = false;
  for (char32_t c : s) {
    if (unicode::is_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space)
      out.push_back(U' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

} // namespace

std::u32string clip_clean_text(const std::string& text) {
  std::u32string s = unicode::decode_utf8(text);
  s = unescape_html(s);
  s = fix_characters(s);
  s = unicode::nfc(s);
  s = collapse_whitespace(s);
  return unicode::to_lower(s);
}

} // namespace sdw
