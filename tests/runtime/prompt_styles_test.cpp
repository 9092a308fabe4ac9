#define BOOST_TEST_MODULE prompt_styles
#include <boost/test/unit_test.hpp>

#include "runtime/formats/a1111_listings.hpp"
#include "runtime/formats/prompt_styles.hpp"
#include "tests/support/temp_dir.hpp"

#include <fstream>

using namespace sdw;

namespace {

using rows = std::vector<std::vector<std::string>>;

} // namespace

BOOST_AUTO_TEST_CASE(csv_rows_follow_pythons_reader) {
  BOOST_TEST((read_csv_rows("a,b\n1,2\n") == rows{{"a", "b"}, {"1", "2"}}));
  // Quoted commas, doubled quotes and a line break inside quotes; \r\n and \r end lines too.
  BOOST_TEST((read_csv_rows("\"x, y\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",z\rlast") ==
              rows{{"x, y", "say \"hi\""}, {"two\nlines", "z"}, {"last"}}));
  // skipinitialspace: spaces after a comma are dropped, so a quote after them still opens a field;
  // trailing spaces stay.
  BOOST_TEST((read_csv_rows("name, prompt , \"a,b\"\n") == rows{{"name", "prompt ", "a,b"}}));
  // A blank line is an empty row; text after a closing quote joins the field; an open quote at
  // the end keeps what it has.
  BOOST_TEST((read_csv_rows("a\n\n\"b\"c,d\n\"open") == rows{{"a"}, {}, {"bc", "d"}, {"open"}}));
  BOOST_TEST((read_csv_rows(",\n") == rows{{"", ""}}));
  BOOST_TEST(read_csv_rows("").empty());
}

BOOST_AUTO_TEST_CASE(styles_are_read_as_a1111_reads_styles_csv) {
  const std::string csv =
    "\xEF\xBB\xBFname,prompt,negative_prompt\n"
    "Photo,\"photo of {prompt}, 35mm\",\"cartoon, drawing\"\n"
    "\n"
    "# a comment row,ignored,\n"
    "Short,only prompt\n"
    "Photo,replaced,again\n"
    "Plain,\"masterpiece, best quality\",\n";
  const auto styles = parse_prompt_styles(csv);
  BOOST_TEST_REQUIRE(styles.size() == 3u);
  BOOST_TEST(styles[0].name == "Photo");  // the later row replaced it in its place
  BOOST_TEST(*styles[0].prompt == "replaced");
  BOOST_TEST(*styles[0].negative_prompt == "again");
  BOOST_TEST(styles[1].name == "Short");
  BOOST_TEST(*styles[1].prompt == "only prompt");
  BOOST_TEST(!styles[1].negative_prompt.has_value());  // a cell missing from the row is None
  BOOST_TEST(*styles[2].prompt == "masterpiece, best quality");
  BOOST_TEST(*styles[2].negative_prompt == "");
  BOOST_TEST(prompt_styles_json(styles) ==
             R"([{"name":"Photo","prompt":"replaced","negative_prompt":"again"},)"
             R"({"name":"Short","prompt":"only prompt","negative_prompt":null},)"
             R"({"name":"Plain","prompt":"masterpiece, best quality","negative_prompt":""}])");
}

BOOST_AUTO_TEST_CASE(old_and_broken_files) {
  // The old "name,text" format; no negative_prompt column gives "".
  auto styles = parse_prompt_styles("name,text\nOld,old text\n");
  BOOST_TEST_REQUIRE(styles.size() == 1u);
  BOOST_TEST(*styles[0].prompt == "old text");
  BOOST_TEST(*styles[0].negative_prompt == "");
  // Where A1111's loader raises, it keeps what it read before.
  BOOST_TEST(parse_prompt_styles("title,prompt\nA,b\n").empty());
  BOOST_TEST(parse_prompt_styles("name,other\nA,b\n").empty());
  styles = parse_prompt_styles("prompt,name\nfirst,A\nsecond\nthird,C\n");
  BOOST_TEST_REQUIRE(styles.size() == 1u);
  BOOST_TEST(styles[0].name == "A");
  BOOST_TEST(parse_prompt_styles("name,prompt\n\xFF\xFE,x\n").empty());  // not UTF-8
  BOOST_TEST(parse_prompt_styles("").empty());
  BOOST_TEST(prompt_styles_json({}) == "[]");
}

BOOST_AUTO_TEST_CASE(a_missing_file_has_no_styles) {
  test::temp_dir dir;
  BOOST_TEST(load_prompt_styles(dir.file("styles.csv")).empty());
  BOOST_TEST(load_prompt_styles(dir.path).empty());
  std::ofstream(dir.file("styles.csv")) << "name,prompt,negative_prompt\nA,a,b\n";
  BOOST_TEST(load_prompt_styles(dir.file("styles.csv")).size() == 1u);
}

BOOST_AUTO_TEST_CASE(styles_come_back_out_of_a_prompt) {
  const std::vector<prompt_style> styles = {{"Photo", "photo of {prompt}, 35mm", "cartoon"},
                                            {"Quality", "masterpiece", ""},
                                            {"Empty", "", ""},
                                            {"NegOnly", "", "lowres"}};
  // Applied in the order Quality, then Photo: the last applied is found first.
  auto out = extract_styles_from_prompt(styles, "  photo of a cat, masterpiece, 35mm ", "ugly, cartoon");
  BOOST_TEST((out.names == std::vector<std::string>{"Quality", "Photo"}));
  BOOST_TEST(out.prompt == "a cat");
  BOOST_TEST(out.negative_prompt == "ugly");
  // A style matches only when its prompt and its negative prompt both do.
  out = extract_styles_from_prompt(styles, "a dog, masterpiece", "blurry");
  BOOST_TEST((out.names == std::vector<std::string>{"Quality"}));
  BOOST_TEST(out.prompt == "a dog");
  BOOST_TEST(out.negative_prompt == "blurry");
  // An empty style text matches any prompt (a trailing ", " goes); styles with no text never match.
  out = extract_styles_from_prompt(styles, "a dog", "noise, lowres");
  BOOST_TEST((out.names == std::vector<std::string>{"NegOnly"}));
  BOOST_TEST(out.prompt == "a dog");
  BOOST_TEST(out.negative_prompt == "noise");
  out = extract_styles_from_prompt(styles, "nothing here", "");
  BOOST_TEST(out.names.empty());
  BOOST_TEST(out.prompt == "nothing here");
}
