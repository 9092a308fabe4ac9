// The start of a .safetensors file → its header (length field, then the JSON that names each
// tensor's dtype, shape and byte range), as the checkpoint reader checks it before it points into
// the mapped file. The input is the whole file. Only sdw::error(bad_checkpoint) may refuse it; an
// accepted header has every range inside the data section, sized by its shape, and no overlaps.
#include "fuzz/fuzz_check.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/catalog/safetensors_header.hpp"

using namespace sdw;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string file = fuzz::text_of(data, size);
  safetensors_header header;
  try {
    const std::uint64_t length = safetensors_header_length(std::string_view(file).substr(0, 8), size, "f");
    SDW_FUZZ_CHECK(8 + length <= size);
    header = parse_safetensors_header(std::string_view(file).substr(8, length), size, "f");
  } catch (const error& e) {
    SDW_FUZZ_CHECK(e.code() == errc::bad_checkpoint && e.where() == "f");
    return 0;
  }
  const std::uint64_t data_size = size - header.data_start;
  std::uint64_t end_so_far = 0;
  for (const st_header_entry& t : header.tensors) {
    SDW_FUZZ_CHECK(t.begin <= t.end && t.end <= data_size);
    const auto bytes = st_byte_count(t.shape, t.dtype);
    SDW_FUZZ_CHECK(bytes && *bytes == t.end - t.begin);
    if (t.end == t.begin) continue;
    SDW_FUZZ_CHECK(t.begin >= end_so_far);
    end_so_far = t.end;
  }
  return 0;
}
