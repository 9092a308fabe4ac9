#include "runtime/engine/clip_tokenizer.hpp"

#include "runtime/engine/clip_text_clean.hpp"
#include "runtime/base/errors.hpp"
#include "runtime/base/unicode_text.hpp"

#include <zlib.h>

#include <array>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <sys/stat.h>
#include <unordered_map>

namespace sdw {

namespace {

constexpr int merge_count = 49152 - 256 - 2;  // merges used by CLIP: lines 2..48895 of the file
constexpr std::size_t cache_limit = 200000;   // words; the cache is cleared when it grows past this
const std::string end_of_word = "</w>";
const std::u32string start_text = U"<|startoftext|>";
const std::u32string end_text = U"<|endoftext|>";

// GPT-2/CLIP byte_to_unicode: printable bytes keep their code point, the others map to 256+n.
std::array<char32_t, 256> byte_code_points(std::array<unsigned char, 256>& order) {
  std::array<char32_t, 256> cp{};
  std::array<bool, 256> seen{};
  std::size_t k = 0;
  auto keep = [&](int lo, int hi) {
    for (int b = lo; b <= hi; ++b) {
      cp[static_cast<std::size_t>(b)] = static_cast<char32_t>(b);
      seen[static_cast<std::size_t>(b)] = true;
      order[k++] = static_cast<unsigned char>(b);
    }
  };
  keep('!', '~');
  keep(0xA1, 0xAC);
  keep(0xAE, 0xFF);
  char32_t n = 0;
  for (int b = 0; b < 256; ++b) {
    if (seen[static_cast<std::size_t>(b)])
      continue;
    cp[static_cast<std::size_t>(b)] = 256 + n++;
    order[k++] = static_cast<unsigned char>(b);
  }
  return cp;
}

std::string read_gzip(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw error(errc::not_found, path, "CLIP vocabulary file not found");
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr)
    throw error(errc::not_found, path, "cannot open CLIP vocabulary file");
  std::string data;
  char buf[1 << 16];
  for (;;) {
    int got = gzread(f, buf, sizeof buf);
    if (got < 0) {
      int code = 0;
      std::string why = gzerror(f, &code);
      gzclose(f);
      throw error(errc::bad_checkpoint, path, "corrupt gzip data in CLIP vocabulary: " + why);
    }
    if (got == 0)
      break;
    data.append(buf, static_cast<std::size_t>(got));
  }
  gzclose(f);
  return data;
}

std::vector<std::string> split_ws(const std::string& line) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
      ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r')
      ++j;
    if (j > i)
      parts.push_back(line.substr(i, j - i));
    i = j;
  }
  return parts;
}

bool starts_with_at(const std::u32string& s, std::size_t pos, const std::u32string& what) {
  return s.compare(pos, what.size(), what) == 0;
}

// The CLIP word pattern, case-insensitive on already lower-cased text:
// <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
std::vector<std::u32string> split_words(const std::u32string& s) {
  std::vector<std::u32string> words;
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    char32_t c = s[i];
    if (c == U'<' && starts_with_at(s, i, start_text)) {
      words.push_back(start_text);
      i += start_text.size();
      continue;
    }
    if (c == U'<' && starts_with_at(s, i, end_text)) {
      words.push_back(end_text);
      i += end_text.size();
      continue;
    }
    if (c == U'\'' && i + 1 < n) {
      char32_t d = s[i + 1];
      if (d == U's' || d == U't' || d == U'm' || d == U'd') {
        words.push_back(s.substr(i, 2));
        i += 2;
        continue;
      }
      if (i + 2 < n) {
        char32_t e = s[i + 2];
        if ((d == U'r' && e == U'e') || (d == U'v' && e == U'e') || (d == U'l' && e == U'l')) {
          words.push_back(s.substr(i, 3));
          i += 3;
          continue;
        }
      }
    }
    if (unicode::is_letter(c)) {
      std::size_t j = i + 1;
      while (j < n && unicode::is_letter(s[j]))
        ++j;
      words.push_back(s.substr(i, j - i));
      i = j;
      continue;
    }
    if (unicode::is_number(c)) {
      words.push_back(s.substr(i, 1));
      ++i;
      continue;
    }
    if (unicode::is_space(c)) {
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    while (j < n && !unicode::is_space(s[j]) && !unicode::is_letter(s[j]) && !unicode::is_number(s[j]))
      ++j;
    words.push_back(s.substr(i, j - i));
    i = j;
  }
  return words;
}

} // namespace

struct clip_tokenizer::tables {
  std::array<std::string, 256> byte_text;  // byte -> its mapped character, UTF-8
  std::unordered_map<std::string, int> encoder;
  std::unordered_map<std::string, int> ranks;  // "first second" -> merge rank
  std::vector<std::string> decoder;            // id -> mapped token text
  std::unordered_map<char32_t, unsigned char> byte_of;  // mapped character -> byte
  int comma = -1;

  std::mutex cache_mutex;
  std::unordered_map<std::string, std::vector<int>> cache;
};

clip_tokenizer clip_tokenizer::from_file(const std::string& bpe_gz_path) {
  std::string data = read_gzip(bpe_gz_path);
  auto t = std::make_shared<tables>();

  std::array<unsigned char, 256> order{};
  std::array<char32_t, 256> cp = byte_code_points(order);
  for (int b = 0; b < 256; ++b) {
    std::string s;
    unicode::append_utf8(s, cp[static_cast<std::size_t>(b)]);
    t->byte_text[static_cast<std::size_t>(b)] = s;
    t->byte_of[cp[static_cast<std::size_t>(b)]] = static_cast<unsigned char>(b);
  }

  std::vector<std::string> vocab;
  vocab.reserve(49408);
  for (unsigned char b : order)
    vocab.push_back(t->byte_text[b]);
  for (unsigned char b : order)
    vocab.push_back(t->byte_text[b] + end_of_word);

  // The file's first line is a version header; merges follow, one "a b" pair per line.
  std::size_t pos = data.find('\n');
  if (pos == std::string::npos)
    throw error(errc::bad_checkpoint, bpe_gz_path, "CLIP vocabulary has no merges");
  ++pos;
  int rank = 0;
  while (rank < merge_count && pos < data.size()) {
    std::size_t eol = data.find('\n', pos);
    if (eol == std::string::npos)
      eol = data.size();
    std::vector<std::string> parts = split_ws(data.substr(pos, eol - pos));
    pos = eol + 1;
    if (parts.size() != 2)
      throw error(errc::bad_checkpoint, bpe_gz_path,
                  "malformed merge on line " + std::to_string(rank + 2) + " of the CLIP vocabulary");
    t->ranks.emplace(parts[0] + " " + parts[1], rank);
    vocab.push_back(parts[0] + parts[1]);
    ++rank;
  }
  if (rank < merge_count)
    throw error(errc::bad_checkpoint, bpe_gz_path,
                "CLIP vocabulary has " + std::to_string(rank) + " merges, expected " + std::to_string(merge_count));
  vocab.push_back("<|startoftext|>");
  vocab.push_back("<|endoftext|>");

  for (std::size_t i = 0; i < vocab.size(); ++i)
    t->encoder[vocab[i]] = static_cast<int>(i);
  t->decoder = std::move(vocab);
  t->comma = t->encoder.at("," + end_of_word);
  return clip_tokenizer(std::move(t));
}

int clip_tokenizer::comma_id() const { return tables_->comma; }

std::size_t clip_tokenizer::vocab_size() const { return tables_->decoder.size(); }

int clip_tokenizer::token_id(const std::string& token) const {
  auto it = tables_->encoder.find(token);
  return it == tables_->encoder.end() ? -1 : it->second;
}

std::vector<int> clip_tokenizer::bpe(const std::string& piece) const {
  tables& t = *tables_;
  {
    std::lock_guard<std::mutex> lock(t.cache_mutex);
    auto it = t.cache.find(piece);
    if (it != t.cache.end())
      return it->second;
  }
  std::vector<int> ids;
  if (piece == "<|startoftext|>" || piece == "<|endoftext|>") {
    ids.push_back(t.encoder.at(piece));
  } else if (!piece.empty()) {
    std::vector<std::string> word;
    word.reserve(piece.size());
    for (unsigned char b : piece)
      word.push_back(t.byte_text[b]);
    word.back() += end_of_word;
    while (word.size() > 1) {
      int best = INT_MAX;
      std::size_t best_at = 0;
      for (std::size_t i = 0; i + 1 < word.size(); ++i) {
        auto it = t.ranks.find(word[i] + " " + word[i + 1]);
        if (it != t.ranks.end() && it->second < best) {
          best = it->second;
          best_at = i;
        }
      }
      if (best == INT_MAX)
        break;
      const std::string first = word[best_at];
      const std::string second = word[best_at + 1];
      std::vector<std::string> merged;
      merged.reserve(word.size());
      for (std::size_t i = 0; i < word.size();) {
        if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
          merged.push_back(first + second);
          i += 2;
        } else {
          merged.push_back(word[i]);
          ++i;
        }
      }
      word = std::move(merged);
    }
    const int unknown = end_id();
    for (const std::string& sym : word) {
      auto it = t.encoder.find(sym);
      ids.push_back(it == t.encoder.end() ? unknown : it->second);
    }
  }
  std::lock_guard<std::mutex> lock(t.cache_mutex);
  if (t.cache.size() >= cache_limit)
    t.cache.clear();
  t.cache.emplace(piece, ids);
  return ids;
}

std::vector<int> clip_tokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  auto encode_piece = [&](const std::string& piece) {
    for (const std::u32string& word : split_words(clip_clean_text(piece))) {
      std::vector<int> part = bpe(unicode::encode_utf8(word));
      ids.insert(ids.end(), part.begin(), part.end());
    }
  };
  // The special tokens, spelled exactly, are split off before any clean-up (HF's added-token
  // split), so ",<|endoftext|>" is a comma and the end token.
  static const std::string specials[2] = {"<|startoftext|>", "<|endoftext|>"};
  std::size_t from = 0;
  while (from <= text.size()) {
    std::size_t best = std::string::npos;
    int which = 0;
    for (int k = 0; k < 2; ++k) {
      std::size_t at = text.find(specials[k], from);
      if (at < best) {
        best = at;
        which = k;
      }
    }
    if (best == std::string::npos) {
      encode_piece(text.substr(from));
      break;
    }
    encode_piece(text.substr(from, best - from));
    ids.push_back(which == 0 ? start_id() : end_id());
    from = best + specials[which].size();
  }
  return ids;
}

std::string clip_tokenizer::token(int id) const {
  const tables& t = *tables_;
  return id >= 0 && static_cast<std::size_t>(id) < t.decoder.size() ? t.decoder[static_cast<std::size_t>(id)]
                                                                     : std::string();
}

std::string clip_tokenizer::decode(const std::vector<int>& ids) const {
  const tables& t = *tables_;
  std::string bytes;
  for (int id : ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= t.decoder.size())
      continue;
    std::string tok = t.decoder[static_cast<std::size_t>(id)];
    if (id == start_id() || id == end_id()) {
      bytes += tok;
      continue;
    }
    bool eow = tok.size() >= end_of_word.size() &&
               tok.compare(tok.size() - end_of_word.size(), end_of_word.size(), end_of_word) == 0;
    if (eow)
      tok.resize(tok.size() - end_of_word.size());
    for (char32_t c : unicode::decode_utf8(tok)) {
      auto it = t.byte_of.find(c);
      if (it != t.byte_of.end())
        bytes.push_back(static_cast<char>(it->second));
    }
    if (eow)
      bytes.push_back(' ');
  }
  if (!bytes.empty() && bytes.back() == ' ')
    bytes.pop_back();
  return bytes;
}

namespace {
constexpr const char* k_vocab_name = "bpe_simple_vocab_16e6.txt.gz";
} // namespace

std::string find_clip_vocab(const std::string& explicit_path, const std::string& model_dir) {
  std::vector<std::string> candidates;
  if (!explicit_path.empty()) {
    if (!std::filesystem::exists(explicit_path)) {
      throw error(errc::not_found, explicit_path, "the CLIP vocabulary file does not exist");
    }
    return explicit_path;
  }
  if (const char* env = std::getenv("SDW_CLIP_VOCAB")) {
    candidates.emplace_back(env);
  }
  candidates.push_back((std::filesystem::path(model_dir) / "clip" / k_vocab_name).string());
  if (const char* shared = std::getenv("SDW_SHARED_DIR")) {
    candidates.push_back((std::filesystem::path(shared) / "clip" / k_vocab_name).string());
  }
  candidates.push_back((std::filesystem::path("..") / "shared" / "clip" / k_vocab_name).string());
  candidates.push_back(std::string("/usr/share/sdworker/") + k_vocab_name);
  for (const auto& c : candidates) {
    if (std::filesystem::exists(c)) {
      return c;
    }
  }
  throw error(errc::not_found, "clip_vocab",
              std::string("no CLIP tokenizer file found (looked for ") + k_vocab_name +
                " in $SDW_CLIP_VOCAB, " + model_dir + "/clip/, ../shared/clip/); run deploy/fetch-tokenizer.sh");
}

} // namespace sdw
