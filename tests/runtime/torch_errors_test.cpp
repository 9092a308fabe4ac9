#define BOOST_TEST_MODULE torch_errors
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"

#include <ATen/ATen.h>

// What clients see of a real libtorch error: its message, not the C++ stack trace that
// c10::Error::what() carries.
BOOST_AUTO_TEST_CASE(a_libtorch_error_is_shown_by_its_message_alone) {
  std::string what;
  try {
    (void)(at::ones({2}) + at::ones({3}));
  } catch (const c10::Error& e) {
    what = e.what();
  }
  BOOST_TEST_REQUIRE(!what.empty());
  BOOST_TEST(what.find("Exception raised from") != std::string::npos, what);
  const std::string shown = sdw::public_error_text(what, "err-0123456789ab");
  BOOST_TEST(shown.rfind("The size of tensor a (2) must match the size of tensor b (3)", 0) == 0u, shown);
  BOOST_TEST(shown.size() < 200u);
  BOOST_TEST(shown.find("(error err-0123456789ab)") != std::string::npos);
  BOOST_TEST(shown.find("Exception raised from") == std::string::npos);
  BOOST_TEST(shown.find("frame #") == std::string::npos);
  BOOST_TEST(shown.find("c10::") == std::string::npos);
}
