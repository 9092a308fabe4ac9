#define BOOST_TEST_MODULE errors
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"

BOOST_AUTO_TEST_CASE(error_message_names_the_field) {
  sdw::error e(sdw::errc::bad_request, "steps", "must be between 1 and 150");
  BOOST_TEST(std::string(e.what()) == "steps: must be between 1 and 150");
  BOOST_TEST(e.where() == "steps");
  BOOST_TEST(std::string(sdw::to_string(e.code())) == "bad_request");
}
