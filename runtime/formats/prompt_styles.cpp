#include "runtime/formats/prompt_styles.hpp"

#include "runtime/base/unicode_text.hpp"
#include "runtime/formats/infotext.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace sdw {
namespace {

/// The states of CPython's csv reader (Modules/_csv.c); escapechar is unset in the excel dialect.
enum class csv_state { start_record, start_field, in_field, in_quoted_field, quote_in_quoted_field, eat_crnl };

class csv_reader {
public:
  /// One character of a line, or the end of the line (`eol`).
  void feed(char c, bool eol) {
    const bool line_end = eol || c == '\n' || c == '\r';
    switch (state_) {
      case csv_state::start_record:
        if (eol) {
          end_record();
          return;
        }
        if (c == '\n' || c == '\r') {
          state_ = csv_state::eat_crnl;
          return;
        }
        state_ = csv_state::start_field;
        [[fallthrough]];
      case csv_state::start_field:
        if (line_end) {
          save_field();
          state_ = eol ? end_record() : csv_state::eat_crnl;
        } else if (c == '"') {
          state_ = csv_state::in_quoted_field;
        } else if (c == ' ') {
          // skipinitialspace: spaces before a field are dropped, so ` "a,b"` is quoted.
        } else if (c == ',') {
          save_field();
        } else {
          field_ += c;
          state_ = csv_state::in_field;
        }
        return;
      case csv_state::in_field:
        if (line_end) {
          save_field();
          state_ = eol ? end_record() : csv_state::eat_crnl;
        } else if (c == ',') {
          save_field();
          state_ = csv_state::start_field;
        } else {
          field_ += c;
        }
        return;
      case csv_state::in_quoted_field:
        if (eol) {
          return;  // the line break itself was a character of the field
        }
        if (c == '"') {
          state_ = csv_state::quote_in_quoted_field;
        } else {
          field_ += c;
        }
        return;
      case csv_state::quote_in_quoted_field:
        if (!eol && c == '"') {
          field_ += '"';
          state_ = csv_state::in_quoted_field;
        } else if (!eol && c == ',') {
          save_field();
          state_ = csv_state::start_field;
        } else if (line_end) {
          save_field();
          state_ = eol ? end_record() : csv_state::eat_crnl;
        } else {
          // Not strict: text after a closing quote joins the field.
          field_ += c;
          state_ = csv_state::in_field;
        }
        return;
      case csv_state::eat_crnl:
        if (eol) {
          state_ = end_record();
        }
        return;
    }
  }

  /// At the end of the text: a quoted field still open is kept with its row.
  std::vector<std::vector<std::string>> finish() {
    if (state_ == csv_state::in_quoted_field || !field_.empty()) {
      save_field();
      end_record();
    }
    return std::move(rows_);
  }

private:
  void save_field() {
    fields_.push_back(std::move(field_));
    field_.clear();
  }

  csv_state end_record() {
    rows_.push_back(std::move(fields_));
    fields_.clear();
    return csv_state::start_record;
  }

  csv_state state_ = csv_state::start_record;
  std::string field_;
  std::vector<std::string> fields_;
  std::vector<std::vector<std::string>> rows_;
};

void assign_style(std::vector<prompt_style>& styles, prompt_style style) {
  for (auto& s : styles) {
    if (s.name == style.name) {
      s = std::move(style);
      return;
    }
  }
  styles.push_back(std::move(style));
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// A1111's extract_style_text_from_prompt: whether `style_text` is at the end of the prompt (or
/// around it, with `{prompt}`), and the prompt without it.
bool extract_style_text(const std::string& style_text, std::string& prompt) {
  const std::string stripped = python_strip(prompt);
  const std::string style = python_strip(style_text);
  const std::string marker = "{prompt}";
  const size_t at = style.find(marker);
  if (at != std::string::npos) {
    if (style.find(marker, at + marker.size()) != std::string::npos) {
      return false;  // A1111's two-way unpacking fails on a second {prompt}
    }
    const std::string left = style.substr(0, at);
    const std::string right = style.substr(at + marker.size());
    if (starts_with(stripped, left) && ends_with(stripped, right)) {
      const size_t end = stripped.size() - right.size();
      prompt = left.size() < end ? stripped.substr(left.size(), end - left.size()) : "";
      return true;
    }
    return false;
  }
  if (!ends_with(stripped, style)) {
    return false;
  }
  prompt = stripped.substr(0, stripped.size() - style.size());
  if (ends_with(prompt, ", ")) {
    prompt.resize(prompt.size() - 2);
  }
  return true;
}

} // namespace

std::vector<std::vector<std::string>> read_csv_rows(std::string_view text) {
  csv_reader reader;
  // Lines end at \n, \r or \r\n, as Python's text files opened with newline="" split them.
  size_t i = 0;
  while (i < text.size()) {
    size_t end = text.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      end = text.size();
    } else if (text[end] == '\r' && end + 1 < text.size() && text[end + 1] == '\n') {
      end += 2;
    } else {
      end += 1;
    }
    for (size_t k = i; k < end; ++k) {
      reader.feed(text[k], false);
    }
    reader.feed('\0', true);
    i = end;
  }
  return reader.finish();
}

std::vector<prompt_style> parse_prompt_styles(std::string_view csv_text) {
  if (!unicode::is_valid_utf8(csv_text)) {
    return {};
  }
  if (csv_text.substr(0, 3) == "\xEF\xBB\xBF") {
    csv_text.remove_prefix(3);
  }
  const auto rows = read_csv_rows(csv_text);
  std::vector<prompt_style> styles;
  if (rows.empty()) {
    return styles;
  }
  const std::vector<std::string>& header = rows.front();
  for (size_t r = 1; r < rows.size(); ++r) {
    const auto& row = rows[r];
    if (row.empty()) {
      continue;
    }
    // The row as csv.DictReader makes it: missing cells are None; a repeated column name keeps
    // the last cell it names.
    std::map<std::string, std::optional<std::string>> cells;
    for (size_t c = 0; c < header.size(); ++c) {
      cells[header[c]] = c < row.size() ? std::optional<std::string>(row[c]) : std::nullopt;
    }
    const auto name = cells.find("name");
    if (name == cells.end() || !name->second) {
      break;
    }
    if (starts_with(*name->second, "#")) {
      continue;
    }
    prompt_style style;
    style.name = *name->second;
    if (auto p = cells.find("prompt"); p != cells.end()) {
      style.prompt = p->second;
    } else if (auto t = cells.find("text"); t != cells.end()) {
      style.prompt = t->second;
    } else {
      break;
    }
    const auto negative = cells.find("negative_prompt");
    style.negative_prompt = negative != cells.end() ? negative->second : std::optional<std::string>("");
    assign_style(styles, std::move(style));
  }
  return styles;
}

std::vector<prompt_style> load_prompt_styles(const std::string& path) {
  std::error_code ec;
  if (path.empty() || !std::filesystem::is_regular_file(path, ec)) {
    return {};
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return in ? parse_prompt_styles(text.str()) : std::vector<prompt_style>{};
}

extracted_styles extract_styles_from_prompt(const std::vector<prompt_style>& styles, const std::string& prompt,
                                            const std::string& negative_prompt) {
  extracted_styles out{{}, prompt, negative_prompt};
  std::vector<const prompt_style*> applicable;
  for (const auto& s : styles) {
    applicable.push_back(&s);
  }
  for (;;) {
    auto found = applicable.end();
    for (auto it = applicable.begin(); it != applicable.end(); ++it) {
      const prompt_style& s = **it;
      const std::string style_prompt = s.prompt.value_or("");
      const std::string style_negative = s.negative_prompt.value_or("");
      if (style_prompt.empty() && style_negative.empty()) {
        continue;
      }
      std::string p = out.prompt;
      std::string n = out.negative_prompt;
      if (extract_style_text(style_prompt, p) && extract_style_text(style_negative, n)) {
        out.prompt = std::move(p);
        out.negative_prompt = std::move(n);
        found = it;
        break;
      }
    }
    if (found == applicable.end()) {
      break;
    }
    out.names.push_back((*found)->name);
    applicable.erase(found);
  }
  std::reverse(out.names.begin(), out.names.end());
  return out;
}

} // namespace sdw
