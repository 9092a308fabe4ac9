#define BOOST_TEST_MODULE safetensors
#include <boost/test/unit_test.hpp>

#include "tests/support/temp_dir.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/safetensors.hpp"

#include <c10/util/Half.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace fs = std::filesystem;
using namespace sdw;

namespace {

using sdw::test::temp_dir;

template <class T>
std::string bytes_of(std::initializer_list<T> values) {
  std::string s(values.size() * sizeof(T), '\0');
  std::memcpy(s.data(), values.begin(), s.size());
  return s;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A file with the given 8-byte length field, header text and data section.
void write_raw(const std::string& path, uint64_t header_len, const std::string& header, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(header_len >> (8 * i)));
  out << header << data;
}

void write_raw(const std::string& path, const std::string& header, const std::string& data) {
  write_raw(path, header.size(), header, data);
}

// Opening must fail with bad_checkpoint, naming the file, the tensor (when given) and the fault.
void expect_bad(const std::string& path, const std::string& tensor, const std::string& fault) {
  try {
    safetensors_file::open(path);
    BOOST_ERROR("opening " << path << " should have failed (" << fault << ")");
  } catch (const error& e) {
    std::string what = e.what();
    BOOST_TEST_INFO("message: " << what);
    BOOST_TEST((e.code() == errc::bad_checkpoint));
    BOOST_TEST(e.where() == path);
    BOOST_TEST(what.find(path) != std::string::npos);
    if (!tensor.empty()) BOOST_TEST(what.find("tensor '" + tensor + "'") != std::string::npos);
    BOOST_TEST(what.find(fault) != std::string::npos);
  }
}

const std::string f32_6 = std::string(24, '\0');

} // namespace

BOOST_AUTO_TEST_CASE(round_trip_keeps_names_shapes_values_and_metadata) {
  temp_dir tmp;
  const std::string path = tmp.file("model.safetensors");
  c10::Half h[3] = {c10::Half(1.5f), c10::Half(-2.0f), c10::Half(65504.0f)};
  std::string half_bytes(reinterpret_cast<const char*>(h), sizeof h);
  std::vector<st_write_entry> entries = {
      {"b.weight", st_dtype::f32, {2, 3}, bytes_of<float>({1, 2, 3, 4, 5, 6.25f})},
      {"a.half", st_dtype::f16, {3}, half_bytes},
      {"ids", st_dtype::i64, {1, 3}, bytes_of<int64_t>({0, 1, 76})},
      {"scalar", st_dtype::f64, {}, bytes_of<double>({0.5})},
      {"flag", st_dtype::boolean, {2}, std::string("\x01\x00", 2)},
      {"empty", st_dtype::f32, {0, 4}, std::string()},
  };
  write_safetensors(path, entries, {{"format", "pt"}, {"note", "quote \" and \\ and\nnewline"}});

  auto f = safetensors_file::open(path);
  BOOST_TEST(f->tensors().size() == entries.size());
  BOOST_TEST(f->metadata().at("format") == "pt");
  BOOST_TEST(f->metadata().at("note") == "quote \" and \\ and\nnewline");
  BOOST_TEST(f->file_size() == fs::file_size(path));
  for (const auto& e : entries) {
    const st_tensor* t = f->find(e.name);
    BOOST_TEST_REQUIRE(t != nullptr, e.name);
    BOOST_TEST((t->dtype == e.dtype));
    BOOST_TEST(t->shape == e.shape);
    BOOST_TEST(std::string(reinterpret_cast<const char*>(t->data), t->nbytes) == e.bytes);
  }
  BOOST_TEST(f->find("missing") == nullptr);
  BOOST_TEST(f->find("scalar")->numel() == 1);
  BOOST_TEST(f->find("empty")->numel() == 0);

  float vals[3];
  copy_as_float(*f->find("a.half"), vals);
  BOOST_TEST(vals[0] == 1.5f);
  BOOST_TEST(vals[1] == -2.0f);
  BOOST_TEST(vals[2] == 65504.0f);
  BOOST_CHECK_THROW(copy_as_float(*f->find("ids"), vals), error);

  // Layout of the reference library: metadata first, tensors by dtype (widest first) then name,
  // data 8-byte aligned, offsets contiguous.
  std::string raw = read_all(path);
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  BOOST_TEST(n % 8 == 0);
  std::string header = raw.substr(8, n);
  BOOST_TEST(header.rfind("{\"__metadata__\":{\"format\":\"pt\",", 0) == 0);
  BOOST_TEST(header.find("\"ids\":{\"dtype\":\"I64\",\"shape\":[1,3],\"data_offsets\":[0,24]}") != std::string::npos);
  std::vector<std::string> order;
  for (const auto& t : f->tensors()) order.push_back(t.name);
  std::vector<std::string> expected_order = {"ids", "scalar", "b.weight", "empty", "a.half", "flag"};
  BOOST_TEST(order == expected_order, boost::test_tools::per_element());
  BOOST_TEST(raw.size() == 8 + n + 24 + 8 + 24 + 0 + 6 + 2);
  BOOST_TEST(reinterpret_cast<uintptr_t>(f->find("b.weight")->data) % 4 == 0);
}

BOOST_AUTO_TEST_CASE(streamed_writer_matches_buffered_writer) {
  temp_dir tmp;
  std::vector<st_write_entry> entries = {{"x", st_dtype::f32, {2}, bytes_of<float>({1, 2})},
                                         {"y", st_dtype::i32, {1}, bytes_of<int32_t>({7})}};
  std::vector<st_stream_entry> streamed;
  for (const auto& e : entries)
    streamed.push_back({e.name, e.dtype, e.shape, [&e](uint8_t* out, size_t n) {
                          BOOST_TEST(n == e.bytes.size());
                          std::memcpy(out, e.bytes.data(), n);
                        }});
  write_safetensors(tmp.file("a.safetensors"), entries, {});
  write_safetensors_streamed(tmp.file("b.safetensors"), streamed, {});
  BOOST_TEST(read_all(tmp.file("a.safetensors")) == read_all(tmp.file("b.safetensors")));
  BOOST_TEST(safetensors_file::open(tmp.file("a.safetensors"))->metadata().empty());
}

BOOST_AUTO_TEST_CASE(writer_refuses_inconsistent_entries) {
  temp_dir tmp;
  const std::string path = tmp.file("w.safetensors");
  BOOST_CHECK_THROW(write_safetensors(path, {{"x", st_dtype::f32, {3}, std::string(8, '\0')}}, {}), error);
  BOOST_CHECK_THROW(write_safetensors(path,
                                      {{"x", st_dtype::u8, {1}, std::string(1, '\0')},
                                       {"x", st_dtype::u8, {1}, std::string(1, '\0')}},
                                      {}),
                    error);
  BOOST_TEST(!fs::exists(path));
}

BOOST_AUTO_TEST_CASE(missing_file_is_not_found) {
  try {
    safetensors_file::open("/nonexistent/dir/model.safetensors");
    BOOST_ERROR("should fail");
  } catch (const error& e) {
    BOOST_TEST((e.code() == errc::not_found));
    BOOST_TEST(std::string(e.what()).find("/nonexistent/dir/model.safetensors") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(malformed_files_are_refused_with_file_and_tensor_named) {
  temp_dir tmp;
  auto p = [&](const char* name) { return tmp.file(name); };

  { std::ofstream(p("short.safetensors"), std::ios::binary) << "abc"; }
  expect_bad(p("short.safetensors"), "", "shorter than the 8-byte");

  write_raw(p("past_eof.safetensors"), 1000, "{}", "");
  expect_bad(p("past_eof.safetensors"), "", "runs past the end of the file");

  write_raw(p("absurd.safetensors"), 200ull << 20, "{}", "");
  expect_bad(p("absurd.safetensors"), "", "absurd");

  write_raw(p("badjson.safetensors"), "{\"x\": {\"dtype\": \"F32\",", "");
  expect_bad(p("badjson.safetensors"), "", "not valid JSON");

  write_raw(p("array.safetensors"), "[1, 2]  ", "");
  expect_bad(p("array.safetensors"), "", "not a JSON object");

  write_raw(p("no_dtype.safetensors"), R"({"w":{"shape":[6],"data_offsets":[0,24]}})", f32_6);
  expect_bad(p("no_dtype.safetensors"), "w", "no 'dtype'");

  write_raw(p("no_shape.safetensors"), R"({"w":{"dtype":"F32","data_offsets":[0,24]}})", f32_6);
  expect_bad(p("no_shape.safetensors"), "w", "no 'shape'");

  write_raw(p("no_offsets.safetensors"), R"({"w":{"dtype":"F32","shape":[6]}})", f32_6);
  expect_bad(p("no_offsets.safetensors"), "w", "no 'data_offsets'");

  write_raw(p("dtype.safetensors"), R"({"w":{"dtype":"F8_E4M3","shape":[24],"data_offsets":[0,24]}})", f32_6);
  expect_bad(p("dtype.safetensors"), "w", "unknown dtype 'F8_E4M3'");

  write_raw(p("negative.safetensors"), R"({"w":{"dtype":"F32","shape":[-2,-3],"data_offsets":[0,24]}})", f32_6);
  expect_bad(p("negative.safetensors"), "w", "negative dimension");

  write_raw(p("huge.safetensors"),
            R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,24]}})", f32_6);
  expect_bad(p("huge.safetensors"), "w", "too large");

  write_raw(p("reversed.safetensors"), R"({"w":{"dtype":"F32","shape":[6],"data_offsets":[24,0]}})", f32_6);
  expect_bad(p("reversed.safetensors"), "w", "reversed");

  write_raw(p("range.safetensors"), R"({"w":{"dtype":"F32","shape":[6],"data_offsets":[8,32]}})", f32_6);
  expect_bad(p("range.safetensors"), "w", "past the end of the data section");

  write_raw(p("size.safetensors"), R"({"w":{"dtype":"F16","shape":[6],"data_offsets":[0,24]}})", f32_6);
  expect_bad(p("size.safetensors"), "w", "needs 12");

  write_raw(p("overlap.safetensors"),
            R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
            f32_6);
  expect_bad(p("overlap.safetensors"), "b", "overlaps tensor 'a'");

  write_raw(p("dup.safetensors"),
            R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"a":{"dtype":"F32","shape":[3],"data_offsets":[12,24]}})",
            f32_6);
  expect_bad(p("dup.safetensors"), "a", "appears twice");

  write_raw(p("meta.safetensors"), R"({"__metadata__":{"format":3}})", "");
  expect_bad(p("meta.safetensors"), "", "__metadata__ value 'format' is not a string");
}

BOOST_AUTO_TEST_CASE(pickle_checkpoints_are_refused_with_a_conversion_hint) {
  temp_dir tmp;
  { std::ofstream(tmp.file("model.ckpt"), std::ios::binary) << std::string("PK\x03\x04", 4) << std::string(100, 'x'); }
  expect_bad(tmp.file("model.ckpt"), "", "convert it to .safetensors");
  { std::ofstream(tmp.file("old.pt"), std::ios::binary) << std::string("\x80\x02}q\x00", 5) << std::string(100, 'x'); }
  expect_bad(tmp.file("old.pt"), "", "convert it to .safetensors");
  { std::ofstream(tmp.file("odd.ckpt"), std::ios::binary) << std::string(100, 'x'); }
  expect_bad(tmp.file("odd.ckpt"), "", "convert it to .safetensors");
}
