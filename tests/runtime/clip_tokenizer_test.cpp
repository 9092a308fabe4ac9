#define BOOST_TEST_MODULE clip_tokenizer
#include <boost/test/unit_test.hpp>

#include "runtime/engine/clip_tokenizer.hpp"
#include "runtime/base/errors.hpp"
#include "tests/support/run_command.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  BOOST_TEST_REQUIRE(v != nullptr, name << " is not set");
  return v;
}

std::string vocab_path() { return env("SDW_SHARED_DIR") + "/clip/bpe_simple_vocab_16e6.txt.gz"; }

const sdw::clip_tokenizer& tok() {
  static const sdw::clip_tokenizer t = sdw::clip_tokenizer::from_file(vocab_path());
  return t;
}

std::string temp_path(const std::string& name) {
  return "/tmp/sdw_clip_test_" + std::to_string(::getpid()) + "_" + name;
}

using ids = std::vector<int>;

} // namespace

BOOST_AUTO_TEST_CASE(known_ids) {
  BOOST_TEST(tok().encode("a photo of a cat") == (ids{320, 1125, 539, 320, 2368}), boost::test_tools::per_element());
  BOOST_TEST(tok().encode(",") == ids{267}, boost::test_tools::per_element());
  BOOST_TEST(tok().comma_id() == 267);
  BOOST_TEST(tok().token_id(",</w>") == 267);
  BOOST_TEST(tok().vocab_size() == 49408u);
  BOOST_TEST(tok().encode("").empty());
  BOOST_TEST(tok().encode("   \t\n ").empty());
}

BOOST_AUTO_TEST_CASE(special_tokens) {
  BOOST_TEST(sdw::clip_tokenizer::start_id() == 49406);
  BOOST_TEST(sdw::clip_tokenizer::end_id() == 49407);
  BOOST_TEST(tok().token_id("<|startoftext|>") == 49406);
  BOOST_TEST(tok().token_id("<|endoftext|>") == 49407);
  BOOST_TEST(tok().encode("<|startoftext|>") == ids{49406}, boost::test_tools::per_element());
  ids cat = tok().encode("cat");
  ids with_end = tok().encode("cat<|endoftext|>");
  BOOST_TEST_REQUIRE(with_end.size() == cat.size() + 1);
  BOOST_TEST(with_end.back() == 49407);
  // Exact spellings are split off before the word pattern, even after punctuation.
  BOOST_TEST(tok().encode(",<|endoftext|>") == (ids{267, 49407}), boost::test_tools::per_element());
  BOOST_TEST(tok().encode("<|ENDOFTEXT|>") == ids{49407}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(case_and_whitespace_fold) {
  BOOST_TEST(tok().encode("  A   PHOTO\tof a\n CAT ") == tok().encode("a photo of a cat"),
             boost::test_tools::per_element());
  BOOST_TEST(tok().encode("HELLO World") == tok().encode("hello world"), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(contractions_and_punctuation_split) {
  // "it's" splits as "it" + "'s"; punctuation runs stay together.
  ids its = tok().encode("it's");
  ids parts = tok().encode("it");
  ids s = tok().encode("'s");
  parts.insert(parts.end(), s.begin(), s.end());
  BOOST_TEST(its == parts, boost::test_tools::per_element());
  BOOST_TEST(tok().decode(tok().encode("Hello, World!!")) == "hello , world !!");
}

BOOST_AUTO_TEST_CASE(text_fixes_like_ftfy) {
  BOOST_TEST(tok().encode("\xEF\xAC\x81sh") == tok().encode("fish"), boost::test_tools::per_element());           // ligature
  BOOST_TEST(tok().encode("\xEF\xBC\xA3\xEF\xBC\xA1\xEF\xBC\xB4") == tok().encode("cat"), boost::test_tools::per_element());  // full width
  BOOST_TEST(tok().encode("\xE2\x80\x9Cquoted\xE2\x80\x9D") == tok().encode("\"quoted\""), boost::test_tools::per_element());
  BOOST_TEST(tok().encode("salt &amp; pepper") == tok().encode("salt & pepper"), boost::test_tools::per_element());
  BOOST_TEST(tok().encode("cafe\xCC\x81") == tok().encode("caf\xC3\xA9"), boost::test_tools::per_element());  // NFC
}

BOOST_AUTO_TEST_CASE(unicode_and_bad_bytes_do_not_crash) {
  for (const std::string text : {std::string("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80 na\xC3\xAFve"),
                                 std::string("\xFF\xFE\x80 broken \xC3"), std::string("\0\x01\x02", 3),
                                 std::string(5000, 'z')}) {
    ids out = tok().encode(text);
    for (int id : out) {
      BOOST_TEST(id >= 0);
      BOOST_TEST(id < 49408);
    }
  }
  BOOST_TEST(!tok().encode("\xF0\x9F\x98\x80").empty());
}

BOOST_AUTO_TEST_CASE(decode_round_trip) {
  BOOST_TEST(tok().decode(tok().encode("a photo of a cat")) == "a photo of a cat");
  BOOST_TEST(tok().decode(tok().encode("na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC")) == "na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC");
}

BOOST_AUTO_TEST_CASE(missing_file_names_path) {
  const std::string path = temp_path("missing.txt.gz");
  try {
    sdw::clip_tokenizer::from_file(path);
    BOOST_FAIL("no error for a missing file");
  } catch (const sdw::error& e) {
    BOOST_TEST((e.code() == sdw::errc::not_found));
    BOOST_TEST(e.where() == path);
  }
}

BOOST_AUTO_TEST_CASE(corrupt_file_names_path) {
  const std::string path = temp_path("corrupt.txt.gz");
  {
    std::ofstream f(path, std::ios::binary);
    f << "\x1f\x8b\x08\x00garbage that is not deflate data at all";
  }
  try {
    sdw::clip_tokenizer::from_file(path);
    std::remove(path.c_str());
    BOOST_FAIL("no error for a corrupt file");
  } catch (const sdw::error& e) {
    std::remove(path.c_str());
    BOOST_TEST((e.code() == sdw::errc::bad_checkpoint));
    BOOST_TEST(e.where() == path);
  }
}

BOOST_AUTO_TEST_CASE(matches_python_reference) {
  const std::vector<std::string> texts = {
    "a photo of a cat",
    "masterpiece, best quality, ultra-detailed, 8k, photorealistic:1.4",
    "It's a dog's life, isn't it? We'll see. They've gone. I'm here. He'd go. You're right",
    "<|startoftext|>hello<|endoftext|>",
    ",<|endoftext|> x",
    "na\xC3\xAFve caf\xC3\xA9 r\xC3\xA9sum\xC3\xA9 \xC3\x85ngstr\xC3\xB6m",
    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88 \xE4\xB8\xAD\xE6\x96\x87",
    "\xCE\x95\xCE\xBB\xCE\xBB\xCE\xB7\xCE\xBD\xCE\xB9\xCE\xBA\xCE\xAC \xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3",
    "emoji \xF0\x9F\x98\x80\xF0\x9F\x8E\x89 test \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",
    "numbers 12345 3.14159 \xC2\xBD \xC2\xB2 \xD9\xA3",
    "a_b-c.d/e\\f",
    "   leading and trailing   ",
    "tab\tseparated\twords\nand lines",
    "\xC3\x87" "A VA? \xC4\xB0stanbul",
    "1girl, solo, looking at viewer, smile, blue eyes, long hair",
    "hyper realistic portrait of an elderly woman, 85mm lens, bokeh, golden hour lighting",
    "zzzzzzzzzzzzzzzzzzzzzzzzzzzz qqqqqqqqqqqqq",
    "Der Stra\xC3\x9F" "e Fu\xC3\x9Fg\xC3\xA4nger",
    "ab'cd's 'S 'RE 'll 'x",
    "(((sky))) [[[ground]]] {curly} <angle>",
    "!!!??? ... --- *** ### @@@",
    "\xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0 \xD0\xBA\xD1\x80\xD0\xB5\xD0\xBC\xD0\xBB\xD1\x8C",
    "\xD8\xA7\xD9\x84\xD8\xB9\xD8\xB1\xD8\xA8\xD9\x8A\xD8\xA9 \xD7\xA2\xD7\x91\xD7\xA8\xD7\x99\xD7\xAA",
    "cyberpunk cityscape at night, neon lights, rain, reflections, highly detailed, artstation",
    "a painting of a fox sitting in a field at sunrise in the style of Claude Monet",
    "lowres, bad anatomy, bad hands, text, error, missing fingers, extra digit, fewer digits",
    "dslr photo of a red sports car, f/1.8, 1/200s, ISO100",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "x", "X", "0", "\xC3\xA9", "''''", "<|endoftext|><|endoftext|>", "a,<|startoftext|>,b <|ENDOFTEXT|>",
  };
  const std::string in = temp_path("ref_in.txt");
  const std::string out = temp_path("ref_out.txt");
  {
    std::ofstream f(in);
    for (const std::string& t : texts) {
      static const char* hex = "0123456789abcdef";
      for (unsigned char c : t)
        f << hex[c >> 4] << hex[c & 15];
      f << '\n';
    }
  }
  const std::string script = env("SDW_SOURCE_DIR") + "/tests/runtime/clip_bpe_reference.py";
  const std::string cmd = sdw::test::python() + " '" + script + "' '" + vocab_path() + "' '" + in + "' '" + out + "'";
  BOOST_TEST_REQUIRE(std::system(cmd.c_str()) == 0, "reference script failed: " << cmd);
  std::ifstream f(out);
  std::string line;
  std::size_t k = 0;
  while (std::getline(f, line) && k < texts.size()) {
    std::istringstream ss(line);
    ids expected;
    for (int id; ss >> id;)
      expected.push_back(id);
    BOOST_TEST_CONTEXT("text #" << k << ": " << texts[k]) {
      BOOST_TEST(tok().encode(texts[k]) == expected, boost::test_tools::per_element());
    }
    ++k;
  }
  BOOST_TEST(k == texts.size());
  std::remove(in.c_str());
  std::remove(out.c_str());
}
