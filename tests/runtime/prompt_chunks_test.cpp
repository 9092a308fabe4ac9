#define BOOST_TEST_MODULE prompt_chunks
#include <boost/test/unit_test.hpp>

#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/engine/prompt_chunks.hpp"
#include "tests/support/run_command.hpp"
#include "tests/support/temp_dir.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tt = boost::test_tools;
using sdw::emphasis_mode;

namespace {

const sdw::clip_tokenizer& tok() {
  static const sdw::clip_tokenizer t = [] {
    const char* dir = std::getenv("SDW_SHARED_DIR");
    BOOST_TEST_REQUIRE(dir != nullptr);
    return sdw::clip_tokenizer::from_file(std::string(dir) + "/clip/bpe_simple_vocab_16e6.txt.gz");
  }();
  return t;
}

int id_of(const std::string& word) {
  std::vector<int> ids = tok().encode(word);
  BOOST_TEST_REQUIRE(ids.size() == 1u, word << " is not one token");
  return ids[0];
}

std::string repeat(const std::string& word, int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += (i ? " " : "") + word;
  return out;
}

void check_shape(const std::vector<sdw::token_chunk>& chunks) {
  for (const auto& c : chunks) {
    BOOST_TEST_REQUIRE(c.tokens.size() == 77u);
    BOOST_TEST_REQUIRE(c.multipliers.size() == 77u);
    BOOST_TEST(c.tokens.front() == 49406);
    BOOST_TEST(c.tokens.back() == 49407);
    BOOST_TEST(c.multipliers.front() == 1.0f);
    BOOST_TEST(c.multipliers.back() == 1.0f);
  }
}

// Number of prompt tokens in a chunk (before the end-token padding).
int used(const sdw::token_chunk& c) {
  int n = 0;
  while (n < 75 && c.tokens[static_cast<std::size_t>(n + 1)] != 49407)
    ++n;
  return n;
}

} // namespace

BOOST_AUTO_TEST_CASE(short_prompt_is_one_padded_chunk) {
  auto chunks = sdw::tokenize_prompt("a photo of a cat", tok());
  BOOST_TEST_REQUIRE(chunks.size() == 1u);
  check_shape(chunks);
  std::vector<int> head(chunks[0].tokens.begin(), chunks[0].tokens.begin() + 7);
  BOOST_TEST(head == (std::vector<int>{49406, 320, 1125, 539, 320, 2368, 49407}), tt::per_element());
  for (float m : chunks[0].multipliers)
    BOOST_TEST(m == 1.0f);
}

BOOST_AUTO_TEST_CASE(empty_prompt_gives_the_empty_chunk) {
  auto chunks = sdw::tokenize_prompt("", tok());
  BOOST_TEST_REQUIRE(chunks.size() == 1u);
  BOOST_TEST(chunks[0].tokens == sdw::empty_chunk().tokens, tt::per_element());
}

BOOST_AUTO_TEST_CASE(seventy_five_tokens_fit_seventy_six_do_not) {
  auto full = sdw::tokenize_prompt(repeat("cat", 75), tok());
  BOOST_TEST(full.size() == 1u);
  BOOST_TEST(used(full[0]) == 75);
  auto over = sdw::tokenize_prompt(repeat("cat", 76), tok());
  BOOST_TEST_REQUIRE(over.size() == 2u);
  check_shape(over);
  BOOST_TEST(used(over[0]) == 75);
  BOOST_TEST(used(over[1]) == 1);
}

BOOST_AUTO_TEST_CASE(break_closes_chunks) {
  auto two = sdw::tokenize_prompt("cat BREAK dog", tok());
  BOOST_TEST_REQUIRE(two.size() == 2u);
  check_shape(two);
  BOOST_TEST(two[0].tokens[1] == id_of("cat"));
  BOOST_TEST(used(two[0]) == 1);
  BOOST_TEST(two[1].tokens[1] == id_of("dog"));

  auto three = sdw::tokenize_prompt("cat BREAK BREAK dog", tok());
  BOOST_TEST_REQUIRE(three.size() == 3u);
  BOOST_TEST(used(three[1]) == 0);  // an empty chunk, padded

  auto leading = sdw::tokenize_prompt("BREAK dog", tok());
  BOOST_TEST_REQUIRE(leading.size() == 2u);
  BOOST_TEST(used(leading[0]) == 0);

  auto trailing = sdw::tokenize_prompt("dog BREAK", tok());
  BOOST_TEST(trailing.size() == 1u);  // nothing follows: no extra chunk
}

BOOST_AUTO_TEST_CASE(comma_backoff_moves_the_words_after_the_comma) {
  const int cat = id_of("cat");
  const int dog = id_of("dog");
  // 70 cats, a comma at index 70, then 10 dogs: the chunk is full after 4 dogs; the comma is
  // 5 tokens back, so all dogs move to the second chunk.
  const std::string prompt = repeat("cat", 70) + ", " + repeat("dog", 10);
  auto chunks = sdw::tokenize_prompt(prompt, tok());
  BOOST_TEST_REQUIRE(chunks.size() == 2u);
  check_shape(chunks);
  BOOST_TEST(used(chunks[0]) == 71);
  BOOST_TEST(chunks[0].tokens[70] == cat);
  BOOST_TEST(chunks[0].tokens[71] == tok().comma_id());
  BOOST_TEST(used(chunks[1]) == 10);
  for (int i = 1; i <= 10; ++i)
    BOOST_TEST(chunks[1].tokens[static_cast<std::size_t>(i)] == dog);

  auto no_backoff = sdw::tokenize_prompt(prompt, tok(), emphasis_mode::original, 0);
  BOOST_TEST_REQUIRE(no_backoff.size() == 2u);
  BOOST_TEST(used(no_backoff[0]) == 75);
  BOOST_TEST(used(no_backoff[1]) == 6);

  // A comma further back than the backtrack limit does not move anything.
  auto far = sdw::tokenize_prompt(repeat("cat", 30) + ", " + repeat("dog", 50), tok());
  BOOST_TEST_REQUIRE(far.size() == 2u);
  BOOST_TEST(used(far[0]) == 75);
  BOOST_TEST(used(far[1]) == 6);
}

BOOST_AUTO_TEST_CASE(multipliers_follow_emphasis) {
  auto chunks = sdw::tokenize_prompt("(cat) [dog] (bird:1.5) fish", tok());
  BOOST_TEST_REQUIRE(chunks.size() == 1u);
  const auto& m = chunks[0].multipliers;
  BOOST_TEST(m[1] == 1.1f, tt::tolerance(1e-6f));
  BOOST_TEST(m[2] == 1.0f / 1.1f, tt::tolerance(1e-6f));
  BOOST_TEST(m[3] == 1.5f, tt::tolerance(1e-6f));
  BOOST_TEST(m[4] == 1.0f);
  BOOST_TEST(chunks[0].tokens[1] == id_of("cat"));
  BOOST_TEST(chunks[0].tokens[4] == id_of("fish"));

  auto no_norm = sdw::tokenize_prompt("(cat) [dog] (bird:1.5) fish", tok(), emphasis_mode::no_norm);
  BOOST_TEST(no_norm[0].multipliers == m, tt::per_element());

  auto ignore = sdw::tokenize_prompt("(cat) [dog] (bird:1.5) fish", tok(), emphasis_mode::ignore);
  BOOST_TEST(ignore[0].tokens == chunks[0].tokens, tt::per_element());
  for (float x : ignore[0].multipliers)
    BOOST_TEST(x == 1.0f);
}

BOOST_AUTO_TEST_CASE(moved_tokens_keep_their_multipliers) {
  const std::string prompt = repeat("cat", 70) + ", (" + repeat("dog", 10) + ")";
  auto chunks = sdw::tokenize_prompt(prompt, tok());
  BOOST_TEST_REQUIRE(chunks.size() == 2u);
  for (int i = 1; i <= 10; ++i)
    BOOST_TEST(chunks[1].multipliers[static_cast<std::size_t>(i)] == 1.1f, tt::tolerance(1e-6f));
  BOOST_TEST(chunks[0].multipliers[72] == 1.0f);  // padding
}

BOOST_AUTO_TEST_CASE(emphasis_none_keeps_brackets_and_break_as_text) {
  auto chunks = sdw::tokenize_prompt("(cat) BREAK dog", tok(), emphasis_mode::none);
  BOOST_TEST_REQUIRE(chunks.size() == 1u);
  std::vector<int> expected = tok().encode("(cat) BREAK dog");
  BOOST_TEST_REQUIRE(used(chunks[0]) == static_cast<int>(expected.size()));
  for (std::size_t i = 0; i < expected.size(); ++i)
    BOOST_TEST(chunks[0].tokens[i + 1] == expected[i]);
  for (float x : chunks[0].multipliers)
    BOOST_TEST(x == 1.0f);
}

BOOST_AUTO_TEST_CASE(break_inside_brackets_is_text) {
  // Inside brackets the marker's weight is no longer exactly -1 (here -1.0000000000000002), so
  // A1111 tokenizes "BREAK" as a word instead of closing the chunk.
  auto chunks = sdw::tokenize_prompt("((([[[a BREAK b))))))", tok());
  BOOST_TEST_REQUIRE(chunks.size() == 1u);
  BOOST_TEST(chunks[0].tokens[2] == id_of("break"));
  BOOST_TEST(chunks[0].multipliers[2] < 0.0f);

  auto plain = sdw::tokenize_prompt("((([[[a]]]))) BREAK b", tok());
  BOOST_TEST(plain.size() == 2u);
}

// Option use_old_emphasis_implementation against tests/runtime/old_emphasis_reference.py (A1111's
// process_text_old over an independent BPE): bracket tokens weigh the tokens after them and vanish,
// `(x:1.5)` and `\\(` are plain text, weights outlive unbalanced brackets, BREAK is a word, and the
// tokens after 75 are cut off. A bracket glued to other punctuation is one token of its own weight.
BOOST_AUTO_TEST_CASE(old_emphasis_matches_a1111s_process_text_old) {
  const std::vector<std::string> prompts = {
    "a (red) house",
    "((masterpiece)), [[blurry]], (cat:1.3), best quality",
    "a ((( big ))) dog) and [a small (cat]",
    "\\(escaped\\) parens, BREAK, [[[x]]]:",
    "(((a)))),((b)",
    "",
    repeat("(tree)", 40) + " lake",
  };
  sdw::test::temp_dir dir;
  const std::string in = dir.file("in.txt"), out = dir.file("out.txt");
  {
    std::ofstream f(in);
    for (const std::string& t : prompts) {
      static const char* hex = "0123456789abcdef";
      for (unsigned char c : t) f << hex[c >> 4] << hex[c & 15];
      f << '\n';
    }
  }
  const std::string script = std::string(std::getenv("SDW_SOURCE_DIR")) + "/tests/runtime/old_emphasis_reference.py";
  const char* shared = std::getenv("SDW_SHARED_DIR");
  BOOST_TEST_REQUIRE(shared != nullptr);
  const auto [rc, log] = sdw::test::run_command(sdw::test::python() + " '" + script + "' '" + shared +
                                                "/clip/bpe_simple_vocab_16e6.txt.gz' '" + in + "' '" + out + "'");
  BOOST_TEST_REQUIRE(rc == 0, log);
  std::ifstream f(out);
  std::string line;
  std::size_t k = 0;
  int weighted = 0;
  for (; std::getline(f, line) && k < prompts.size(); ++k) {
    BOOST_TEST_CONTEXT("prompt " << k << ": " << prompts[k]) {
      const auto bar = line.find('|');
      std::istringstream ids(line.substr(0, bar)), mults(line.substr(bar + 1));
      std::vector<int> want_tokens;
      std::vector<float> want_mults;
      for (int id; ids >> id;) want_tokens.push_back(id);
      for (double m; mults >> m;) want_mults.push_back(static_cast<float>(m));
      const sdw::token_chunk ours = sdw::tokenize_prompt_old(prompts[k], tok());
      BOOST_TEST(ours.tokens == want_tokens, tt::per_element());
      BOOST_TEST(ours.multipliers == want_mults, tt::per_element());
      for (float m : ours.multipliers) weighted += m != 1.0f;
    }
  }
  BOOST_TEST(k == prompts.size());
  BOOST_TEST(weighted > 40);  // the cases do weigh tokens
  // Where the two implementations agree: simple brackets around words.
  const auto fresh = sdw::tokenize_prompt("a (red) house, [[blurry]]", tok());
  const auto old = sdw::tokenize_prompt_old("a (red) house, [[blurry]]", tok());
  BOOST_TEST(fresh.at(0).tokens == old.tokens, tt::per_element());
  BOOST_TEST(fresh.at(0).multipliers == old.multipliers, tt::per_element());
}
