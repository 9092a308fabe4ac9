#include "runtime/catalog/safetensors_header.hpp"

#include "runtime/base/errors.hpp"

#include <simdjson.h>

#include <algorithm>
#include <set>

namespace sdw {

namespace {

constexpr uint64_t max_header_bytes = 100ull << 20;

[[noreturn]] void fail(const std::string& path, const std::string& message) {
  throw error(errc::bad_checkpoint, path, message);
}

[[noreturn]] void fail_tensor(const std::string& path, std::string_view name, const std::string& message) {
  fail(path, "tensor '" + std::string(name) + "': " + message);
}

bool is_pickle_checkpoint(std::string_view head) {
  // torch.save writes a zip archive since 1.6 and a bare pickle (protocol 2..5) before.
  if (head.size() >= 4 && head.compare(0, 4, "PK\x03\x04", 4) == 0) return true;
  return head.size() >= 2 && static_cast<uint8_t>(head[0]) == 0x80 && head[1] >= 2 && head[1] <= 5;
}

std::string pickle_message() {
  return "is a PyTorch pickle checkpoint (.ckpt/.pt/.bin); pickles are not loaded because they can run "
         "code; convert it to .safetensors (in Python: safetensors.torch.save_file(state_dict, "
         "\"model.safetensors\")) and use that file";
}

std::vector<int64_t> read_shape(const std::string& path, std::string_view name, simdjson::dom::element value) {
  simdjson::dom::array arr;
  if (value.get_array().get(arr)) fail_tensor(path, name, "'shape' is not an array");
  std::vector<int64_t> shape;
  for (auto dim : arr) {
    int64_t d = 0;
    if (dim.get_int64().get(d)) fail_tensor(path, name, "'shape' holds something that is not an integer");
    if (d < 0) fail_tensor(path, name, "'shape' has a negative dimension " + std::to_string(d));
    shape.push_back(d);
  }
  return shape;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

} // namespace

size_t dtype_size(st_dtype dtype) {
  switch (dtype) {
    case st_dtype::f64: case st_dtype::i64: return 8;
    case st_dtype::f32: case st_dtype::i32: return 4;
    case st_dtype::f16: case st_dtype::bf16: case st_dtype::i16: return 2;
    case st_dtype::i8: case st_dtype::u8: case st_dtype::boolean: return 1;
  }
  return 1;
}

const char* to_string(st_dtype dtype) {
  switch (dtype) {
    case st_dtype::f64: return "F64";
    case st_dtype::f32: return "F32";
    case st_dtype::f16: return "F16";
    case st_dtype::bf16: return "BF16";
    case st_dtype::i64: return "I64";
    case st_dtype::i32: return "I32";
    case st_dtype::i16: return "I16";
    case st_dtype::i8: return "I8";
    case st_dtype::u8: return "U8";
    case st_dtype::boolean: return "BOOL";
  }
  return "?";
}

std::optional<st_dtype> parse_st_dtype(std::string_view name) {
  static const st_dtype all[] = {st_dtype::f64, st_dtype::f32, st_dtype::f16, st_dtype::bf16, st_dtype::i64,
                                 st_dtype::i32, st_dtype::i16, st_dtype::i8,  st_dtype::u8,   st_dtype::boolean};
  for (auto d : all)
    if (name == to_string(d)) return d;
  return std::nullopt;
}

std::optional<uint64_t> st_byte_count(const std::vector<int64_t>& shape, st_dtype dtype) {
  uint64_t n = dtype_size(dtype);
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) return std::nullopt;
  }
  return n;
}

uint64_t safetensors_header_length(std::string_view head, uint64_t file_size, const std::string& path) {
  if (is_pickle_checkpoint(head)) fail(path, pickle_message());
  if (file_size < 8 || head.size() < 8)
    fail(path, "file is " + std::to_string(file_size) +
                   " bytes, shorter than the 8-byte safetensors header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(head[i]);
  if (header_len > max_header_bytes)
    fail(path, "header length " + std::to_string(header_len) + " is absurd (over 100 MiB); not a safetensors file?");
  if (header_len > file_size - 8)
    fail(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                   std::to_string(file_size) + " bytes)");
  return header_len;
}

safetensors_header parse_safetensors_header(std::string_view json, uint64_t file_size, const std::string& path) {
  if (file_size < 8 || json.size() > file_size - 8)
    fail(path, "header of " + std::to_string(json.size()) + " bytes does not fit in the file (" +
                   std::to_string(file_size) + " bytes)");
  simdjson::padded_string text(json.data(), json.size());
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(text).get(root))
    fail(path, std::string("header is not valid JSON (") + simdjson::error_message(err) + ")");
  simdjson::dom::object top;
  if (root.get_object().get(top)) fail(path, "header is not a JSON object");

  safetensors_header header;
  header.data_start = 8 + json.size();
  const uint64_t data_size = file_size - header.data_start;
  std::set<std::string_view> seen;
  for (auto field : top) {
    std::string_view key = field.key;
    if (!seen.insert(key).second) fail_tensor(path, key, "appears twice in the header");
    if (key == "__metadata__") {
      simdjson::dom::object meta;
      if (field.value.get_object().get(meta)) fail(path, "__metadata__ is not a JSON object");
      for (auto m : meta) {
        std::string_view v;
        if (m.value.get_string().get(v))
          fail(path, "__metadata__ value '" + std::string(m.key) + "' is not a string");
        header.metadata[std::string(m.key)] = std::string(v);
      }
      continue;
    }
    simdjson::dom::object entry;
    if (field.value.get_object().get(entry)) fail_tensor(path, key, "header entry is not a JSON object");

    simdjson::dom::element dtype_v, shape_v, offsets_v;
    if (entry["dtype"].get(dtype_v)) fail_tensor(path, key, "header entry has no 'dtype'");
    if (entry["shape"].get(shape_v)) fail_tensor(path, key, "header entry has no 'shape'");
    if (entry["data_offsets"].get(offsets_v)) fail_tensor(path, key, "header entry has no 'data_offsets'");

    std::string_view dtype_name;
    if (dtype_v.get_string().get(dtype_name)) fail_tensor(path, key, "'dtype' is not a string");
    auto dtype = parse_st_dtype(dtype_name);
    if (!dtype) fail_tensor(path, key, "unknown dtype '" + std::string(dtype_name) + "'");

    st_header_entry t;
    t.name = std::string(key);
    t.dtype = *dtype;
    t.shape = read_shape(path, key, shape_v);

    simdjson::dom::array offs;
    if (offsets_v.get_array().get(offs) || offs.size() != 2)
      fail_tensor(path, key, "'data_offsets' is not an array of two integers");
    uint64_t begin = 0, end = 0;
    if (offs.at(0).get_uint64().get(begin) || offs.at(1).get_uint64().get(end))
      fail_tensor(path, key, "'data_offsets' holds something that is not a non-negative integer");
    if (end < begin)
      fail_tensor(path, key, "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] are reversed");
    if (end > data_size)
      fail_tensor(path, key, "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                                 "] run past the end of the data section (" + std::to_string(data_size) + " bytes)");
    auto expected = st_byte_count(t.shape, t.dtype);
    if (!expected) fail_tensor(path, key, "shape " + shape_string(t.shape) + " is too large");
    if (*expected != end - begin)
      fail_tensor(path, key, "holds " + std::to_string(end - begin) + " bytes but shape " + shape_string(t.shape) +
                                 " of " + to_string(t.dtype) + " needs " + std::to_string(*expected));
    t.begin = begin;
    t.end = end;
    header.tensors.push_back(std::move(t));
  }

  auto& ts = header.tensors;
  std::stable_sort(ts.begin(), ts.end(),
                   [](const st_header_entry& a, const st_header_entry& b) { return a.begin < b.begin; });
  const st_header_entry* prev = nullptr;  // the non-empty tensor that ends last so far
  for (const auto& t : ts) {
    if (t.end == t.begin) continue;
    if (prev && t.begin < prev->end) fail_tensor(path, t.name, "data overlaps tensor '" + prev->name + "'");
    if (!prev || t.end > prev->end) prev = &t;
  }
  return header;
}

} // namespace sdw
