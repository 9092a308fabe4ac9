#define BOOST_TEST_MODULE torch_file
#include <boost/test/unit_test.hpp>

#include "tests/runtime/python_reference.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/engine/safetensors.hpp"
#include "runtime/engine/torch_file.hpp"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace fs = std::filesystem;
using namespace sdw;

namespace {

/// The files tests/runtime/torch_file_reference.py writes with the real torch.save, made once.
const std::string& files() {
  static test::temp_dir dir("torch_file");
  static const bool made = (test::run_python("torch_file_reference.py", "'" + dir.path + "'"), true);
  (void)made;
  return dir.path;
}

std::string file(const std::string& name) { return files() + "/" + name; }

at::ScalarType scalar_type(st_dtype d) {
  switch (d) {
    case st_dtype::f64: return at::kDouble;
    case st_dtype::f32: return at::kFloat;
    case st_dtype::f16: return at::kHalf;
    case st_dtype::bf16: return at::kBFloat16;
    case st_dtype::i64: return at::kLong;
    case st_dtype::i32: return at::kInt;
    case st_dtype::i16: return at::kShort;
    case st_dtype::i8: return at::kChar;
    case st_dtype::u8: return at::kByte;
    case st_dtype::boolean: return at::kBool;
  }
  return at::kFloat;
}

std::string describe(const torch_scalar& s) {
  if (std::holds_alternative<std::monostate>(s)) return "none";
  if (auto* b = std::get_if<bool>(&s)) return std::string("bool:") + (*b ? "1" : "0");
  if (auto* i = std::get_if<std::int64_t>(&s)) return "int:" + std::to_string(*i);
  if (auto* d = std::get_if<double>(&s)) return "float:" + std::to_string(*d);
  return "str:" + std::get<std::string>(s);
}

/// Reads `name` and checks every tensor (dtype, shape, bytes) and every plain value against what Python wrote.
torch_file expect_same_as_python(const std::string& name) {
  BOOST_TEST_CONTEXT("file " << name) {
    const torch_file got = read_torch_file(file(name));
    const auto expected = safetensors_file::open(file(name + ".expected.safetensors"));
    BOOST_TEST(got.tensors.size() == expected->tensors().size());
    for (const st_tensor& want : expected->tensors()) {
      BOOST_TEST_CONTEXT("tensor '" << want.name << "'") {
        auto it = got.tensors.find(want.name);
        BOOST_TEST_REQUIRE((it != got.tensors.end()));
        const at::Tensor& t = it->second;
        BOOST_TEST((t.scalar_type() == scalar_type(want.dtype)));
        BOOST_TEST(t.sizes().vec() == want.shape, boost::test_tools::per_element());
        BOOST_TEST(t.is_contiguous());
        BOOST_TEST(t.device().is_cpu());
        BOOST_TEST_REQUIRE(t.nbytes() == want.nbytes);
        BOOST_TEST(std::memcmp(t.data_ptr(), want.data, want.nbytes) == 0);
      }
    }
    BOOST_TEST(got.scalars.size() == expected->metadata().size());
    for (const auto& [key, want] : expected->metadata()) {
      BOOST_TEST_CONTEXT("value '" << key << "'") {
        auto it = got.scalars.find(key);
        BOOST_TEST_REQUIRE((it != got.scalars.end()));
        if (want.rfind("float:", 0) == 0 && std::holds_alternative<double>(it->second))
          BOOST_TEST(std::get<double>(it->second) == std::strtod(want.c_str() + 6, nullptr));  // hex, exact
        else
          BOOST_TEST(describe(it->second) == want);
      }
    }
    return got;
  }
  return {};
}

/// Reading must fail with bad_request naming the file and saying `fault`.
void expect_refused(const std::string& path, const std::string& fault) {
  BOOST_TEST_CONTEXT("file " << path) {
    try {
      read_torch_file(path);
      BOOST_ERROR("reading should have failed with '" << fault << "'");
    } catch (const error& e) {
      BOOST_TEST_INFO("message: " << e.what());
      BOOST_TEST((e.code() == errc::bad_request));
      BOOST_TEST(e.where() == path);
      BOOST_TEST(std::string(e.what()).find(fault) != std::string::npos);
    }
  }
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

std::string write_prefix(const std::string& from, size_t n, const std::string& to) {
  const std::string bytes = slurp(from);
  std::ofstream(to, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(std::min(n, bytes.size())));
  return to;
}

} // namespace

BOOST_AUTO_TEST_CASE(a1111_embedding_reads_as_written) {
  const torch_file f = expect_same_as_python("embedding.pt");
  BOOST_TEST(f.tensors.at("string_to_param.*").sizes().vec() == std::vector<int64_t>({2, 768}),
             boost::test_tools::per_element());
  BOOST_TEST(std::get<std::int64_t>(f.scalars.at("string_to_token.*")) == 265);
  BOOST_TEST(std::get<std::string>(f.scalars.at("name")) == "x");
  BOOST_TEST(std::holds_alternative<std::monostate>(f.scalars.at("sd_checkpoint")));
}

BOOST_AUTO_TEST_CASE(state_dicts_parameters_and_params_ema_read_as_written) {
  const torch_file f = expect_same_as_python("state_dict.pth");
  // OrderedDict's `_metadata` state is not part of the contents.
  BOOST_TEST(f.scalars.empty());
  BOOST_TEST(f.tensors.count("0.weight") == 1);
  BOOST_TEST(f.tensors.at("2.num_batches_tracked").dim() == 0);
  expect_same_as_python("parameters.pth");
  const torch_file ema = expect_same_as_python("params_ema.pth");
  BOOST_TEST(ema.tensors.count("params_ema.1.weight") == 1);
}

BOOST_AUTO_TEST_CASE(every_element_type_reads_exactly) {
  const torch_file f = expect_same_as_python("dtypes.pt");
  BOOST_TEST((f.tensors.at("f16").scalar_type() == at::kHalf));
  BOOST_TEST((f.tensors.at("bf16").scalar_type() == at::kBFloat16));
}

BOOST_AUTO_TEST_CASE(views_come_out_with_their_offsets_and_strides) {
  const torch_file f = expect_same_as_python("views.pt");
  // The checks below restate two of the compared values plainly: grid = arange(60).reshape(6, 10).
  BOOST_TEST(f.tensors.at("slice")[0][0].item<float>() == 23.0f);
  BOOST_TEST(f.tensors.at("transposed")[3][1].item<float>() == 13.0f);
  // Each view has its own memory, not the shared storage's.
  BOOST_TEST(f.tensors.at("slice").data_ptr() != f.tensors.at("base").data_ptr());
  BOOST_TEST(f.tensors.at("slice").numel() == 15);
  BOOST_TEST(std::get<std::int64_t>(f.scalars.at("shape.1")) == 10);  // torch.Size
  expect_same_as_python("tensor.pt");
}

BOOST_AUTO_TEST_CASE(legacy_format_reads_as_written) {
  expect_same_as_python("legacy.pth");
  expect_same_as_python("legacy_embedding.pt");
  expect_same_as_python("legacy_state_dict.pth");
  expect_same_as_python("legacy_views.pt");
  // A storage view (view_metadata) and torch._utils._rebuild_tensor, as torch < 1.0 wrote them.
  const torch_file old = expect_same_as_python("legacy_storage_view.pt");
  BOOST_TEST(old.tensors.at("v2")[1][1].item<float>() == 6.0f);
}

BOOST_AUTO_TEST_CASE(hand_made_archives_and_protocol_5_framing_read) {
  const torch_file f = read_torch_file(file("crafted_ok.pt"));
  const at::Tensor t = f.tensors.at("");
  BOOST_TEST(t.sizes().vec() == std::vector<int64_t>({2, 2}), boost::test_tools::per_element());
  BOOST_TEST(t[0][1].item<float>() == 3.0f);  // stride (1, 2) over [1, 2, 3, 4]
  const torch_file p5 = read_torch_file(file("crafted_protocol5.pt"));
  BOOST_TEST(std::get<std::int64_t>(p5.scalars.at("a")) == 3);
}

BOOST_AUTO_TEST_CASE(code_and_modules_are_refused_without_running_anything) {
  expect_refused(file("evil.pt"), "refuses the global 'posix.system'");
  expect_refused(file("evil_legacy.pt"), "refuses the global 'posix.system'");
  expect_refused(file("evil_eval.pt"), "refuses the global 'builtins.eval'");
  BOOST_TEST(!fs::exists(file("MARKER")));
  expect_refused(file("parameter_dict.pt"), "refuses the global 'torch.nn.modules.container.ParameterDict'");
  expect_refused(file("module.pt"), "refuses the global 'torch.nn.modules.linear.Linear'");
  expect_refused(file("module_legacy.pt"), "refuses the global 'torch.nn.modules.linear.Linear'");
}

BOOST_AUTO_TEST_CASE(damaged_pickles_and_storages_are_clear_errors) {
  expect_refused(file("crafted_short_storage.pt"), "the storage is too short");
  expect_refused(file("crafted_offset_past_end.pt"), "the storage is too short");
  expect_refused(file("crafted_absurd_size.pt"), "larger than the file could hold");
  expect_refused(file("crafted_record_mismatch.pt"), "record data/0 holds 16 bytes, its storage needs 4000");
  expect_refused(file("crafted_negative_stride.pt"), "negative size or stride");
  expect_refused(file("crafted_empty_stack.pt"), "data.pkl at byte 2: pops an empty stack");
  expect_refused(file("crafted_memo.pt"), "reads memo entry 5, which was never stored");
  expect_refused(file("crafted_no_stop.pt"), "ends before its STOP opcode");
  expect_refused(file("crafted_unknown_opcode.pt"), "pickle opcode 0x96");
  expect_refused(file("crafted_setitems_on_list.pt"), "sets items on a list");
  expect_refused(file("crafted_deep.pt"), "deeper than 64 levels");
  expect_refused(file("crafted_cycle.pt"), "deeper than 64 levels");
  expect_refused(file("crafted_big_endian.pt"), "big-endian");
  expect_refused(file("crafted_odd_byteorder.pt"), "unknown byteorder 'middle'");
  expect_refused(file("not_torch.pt"), "not a torch.save file");
  expect_refused(file("fake.tar"), "tar archive");
}

BOOST_AUTO_TEST_CASE(truncated_files_are_clear_errors_at_every_cut) {
  for (const std::string name : {"state_dict.pth", "legacy_views.pt", "legacy_state_dict.pth"}) {
    const auto size = fs::file_size(file(name));
    for (size_t cut = 0; cut < size; cut += std::max<size_t>(1, size / 97)) {
      const std::string path = write_prefix(file(name), cut, file("cut_" + name));
      BOOST_TEST_CONTEXT(name << " cut at " << cut << " of " << size) {
        try {
          read_torch_file(path);
          BOOST_ERROR("a truncated file was read");
        } catch (const error& e) {
          BOOST_TEST((e.code() == errc::bad_request));
          BOOST_TEST(e.where() == path);
        }
      }
    }
  }
  expect_refused(write_prefix(file("legacy_views.pt"), fs::file_size(file("legacy_views.pt")) - 5,
                              file("cut_storage.pt")),
                 "the file is truncated");
}

BOOST_AUTO_TEST_CASE(corrupted_bytes_give_errors_or_values_never_a_crash) {
  // Every byte of a legacy file's pickles overwritten in turn: the reader answers or refuses.
  const std::string original = slurp(file("legacy_views.pt"));
  const std::string path = file("corrupt.pt");
  int refused = 0;
  for (size_t at = 0; at < original.size(); ++at) {
    for (const char c : {'\xff', '\x00', 'h'}) {
      std::string bytes = original;
      bytes[at] = c;
      std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      try {
        read_torch_file(path);
      } catch (const error& e) {
        ++refused;
        BOOST_TEST(e.where() == path);
      }
    }
  }
  BOOST_TEST(refused > 0);
}

BOOST_AUTO_TEST_CASE(a_missing_file_is_not_found) {
  try {
    read_torch_file(file("absent.pt"));
    BOOST_ERROR("a missing file was read");
  } catch (const error& e) {
    BOOST_TEST((e.code() == errc::not_found));
  }
}
