// The pickles of a torch.save file (.ckpt, .pt, .pth) → keyed scalars, tensor descriptions and numpy
// arrays, as the restricted reader builds them without executing anything. The input is read both as
// a zip archive's data.pkl and as a whole legacy stream. Only sdw::error(bad_request) naming the file
// may refuse it; what is accepted is consistent: every tensor has as many strides as sizes, every
// numpy array as many bytes as its shape and type need, every legacy storage lies inside the input.
#include "fuzz/fuzz_check.hpp"

#include "runtime/base/errors.hpp"
#include "runtime/catalog/torch_pickle.hpp"

using namespace sdw;

namespace {

void check(const unpickled& u) {
  for (const pickled_tensor& t : u.tensors) {
    SDW_FUZZ_CHECK(t.sizes.size() == t.strides.size());
  }
  for (const auto& [key, a] : u.arrays) {
    unsigned __int128 bytes = pickle_dtype_size(a.dtype);
    for (std::int64_t n : a.sizes) {
      SDW_FUZZ_CHECK(n >= 0);
      bytes *= static_cast<std::uint64_t>(n);
    }
    SDW_FUZZ_CHECK(bytes == a.bytes.size());
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input = fuzz::text_of(data, size);
  try {
    check(unpickle_zip_pickle("f", input));
  } catch (const error& e) {
    SDW_FUZZ_CHECK(e.code() == errc::bad_request && e.where() == "f");
  }
  try {
    const legacy_pickles legacy = unpickle_legacy("f", input);
    check(legacy.contents);
    for (const auto& [key, span] : legacy.spans) {
      SDW_FUZZ_CHECK(span.numel >= 0 && span.offset <= size);
    }
  } catch (const error& e) {
    SDW_FUZZ_CHECK(e.code() == errc::bad_request && e.where() == "f");
  }
  return 0;
}
