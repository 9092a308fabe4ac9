#pragma once
/// Small Unicode helpers shared by the CLIP tokenizer and the prompt parser: UTF-8 decoding and
/// encoding, and the character classes of Python's `str`/`re` (which A1111 relies on).

#include <string>
#include <string_view>

namespace sdw::unicode {

/// Whether `text` is well-formed UTF-8 (no overlong forms, no encoded surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view text);

/// Decodes UTF-8 into code points; malformed sequences become U+FFFD (never throws).
std::u32string decode_utf8(const std::string& text);

/// Encodes code points as UTF-8 (surrogates and out-of-range values become U+FFFD).
std::string encode_utf8(const std::u32string& text);

/// Appends one code point to `out` as UTF-8.
void append_utf8(std::string& out, char32_t c);

/// True for the characters Python's `str.isspace()` (and `re`'s `\s`) accepts.
bool is_space(char32_t c);

/// True for Python `re`'s `\w` on text: letters, numbers and '_'.
bool is_word(char32_t c);

/// True for the general category L (`\p{L}`).
bool is_letter(char32_t c);

/// True for the general category N (`\p{N}`).
bool is_number(char32_t c);

/// Full lower-case mapping (as Python's `str.lower()`, e.g. final sigma, U+0130).
std::u32string to_lower(const std::u32string& text);

/// Canonical composition (NFC).
std::u32string nfc(const std::u32string& text);

/// Compatibility composition (NFKC).
std::u32string nfkc(const std::u32string& text);

} // namespace sdw::unicode
