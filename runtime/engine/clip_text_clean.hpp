#pragma once
/// The text clean-up the CLIP tokenizer does before splitting words: a subset of ftfy's `fix_text`
/// (HTML entities, terminal escapes, Latin ligatures, full-width forms, curly quotes, control
/// characters, NFC), then whitespace runs collapsed to one space, trimmed, and lower-cased.

#include <string>

namespace sdw {

/// Cleans `text` (UTF-8) the way the CLIP tokenizer does; returns code points.
std::u32string clip_clean_text(const std::string& text);

} // namespace sdw
