#define BOOST_TEST_MODULE errors
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"

BOOST_AUTO_TEST_CASE(error_message_names_the_field) {
  sdw::error e(sdw::errc::bad_request, "steps", "must be between 1 and 150");
  BOOST_TEST(std::string(e.what()) == "steps: must be between 1 and 150");
  BOOST_TEST(e.where() == "steps");
  BOOST_TEST(std::string(sdw::to_string(e.code())) == "bad_request");
}

BOOST_AUTO_TEST_CASE(error_ids_are_distinct) {
  const std::string a = sdw::new_error_id(), b = sdw::new_error_id();
  BOOST_TEST(a.rfind("err-", 0) == 0u);
  BOOST_TEST(a.size() == 16u);
  BOOST_TEST(a != b);
}

// The shape of libtorch's c10::Error::what(): a message, then the C++ stack.
BOOST_AUTO_TEST_CASE(public_error_text_keeps_the_first_line_only) {
  const std::string c10_what =
    "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you tried to allocate "
    "32000000000 bytes.\n"
    "Exception raised from alloc_cpu at ../c10/core/impl/alloc_cpu.cpp:117 (most recent call first):\n"
    "frame #0: c10::Error::Error(c10::SourceLocation, std::string) + 0x57 (0x7f3e2c1b6617 in libc10.so)\n"
    "frame #1: <unknown function> + 0x1a2b (0x7f3e2c1a2b00 in libc10.so)\n";
  const std::string text = sdw::public_error_text(c10_what, "err-000000000001");
  BOOST_TEST(text ==
             "data. DefaultCPUAllocator: not enough memory: you tried to allocate 32000000000 bytes. (error "
             "err-000000000001)");
  BOOST_TEST(text.find("c10::") == std::string::npos);
  BOOST_TEST(text.find("frame #") == std::string::npos);
  BOOST_TEST(sdw::public_error_text("", "err-1") == "internal error (error err-1)");
  BOOST_TEST(sdw::public_error_text("\nframe #0: x", "err-1") == "internal error (error err-1)");
  // Long first lines are cut at 300 bytes, never inside a UTF-8 sequence.
  std::string accents;
  for (int i = 0; i < 400; ++i) accents += "\xc3\xa9";
  const std::string cut = sdw::public_error_text(accents, "err-1");
  BOOST_TEST(cut == accents.substr(0, 300) + " (error err-1)");
  const std::string odd = sdw::public_error_text("x" + accents, "err-1");
  BOOST_TEST(odd == ("x" + accents).substr(0, 299) + " (error err-1)");
}
