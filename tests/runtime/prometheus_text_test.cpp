#define BOOST_TEST_MODULE prometheus_text
#include <boost/test/unit_test.hpp>
// The exposition a scraper parses: escaped label values, exact numbers, cumulative buckets.

#include "runtime/base/prometheus_text.hpp"

#include <limits>

BOOST_AUTO_TEST_CASE(label_values_escape_what_would_end_or_break_them) {
  BOOST_TEST(sdw::escape_label_value(R"(my "model" \ v2)") == R"(my \"model\" \\ v2)");
  BOOST_TEST(sdw::escape_label_value("two\nlines") == "two\\nlines");
  BOOST_TEST(sdw::escape_label_value("plain") == "plain");
}

BOOST_AUTO_TEST_CASE(numbers_are_exact_and_short) {
  BOOST_TEST(sdw::metric_number(3) == "3");
  BOOST_TEST(sdw::metric_number(0.1) == "0.1");
  BOOST_TEST(sdw::metric_number(2.5) == "2.5");
  BOOST_TEST(sdw::metric_number(1.0 / 3.0) == "0.3333333333333333");
  BOOST_TEST(sdw::metric_number(std::numeric_limits<double>::infinity()) == "+Inf");
  BOOST_TEST(sdw::metric_number(-std::numeric_limits<double>::infinity()) == "-Inf");
  BOOST_TEST(sdw::metric_number(std::numeric_limits<double>::quiet_NaN()) == "NaN");
}

BOOST_AUTO_TEST_CASE(a_histogram_is_written_cumulative_with_its_sum_and_count) {
  sdw::prometheus_text out;
  out.family("job_seconds", "histogram", "Seconds per job.\nSecond line \\ here.");
  out.histogram("job_seconds", {0.5, 1}, {2, 0, 3}, 7.25, {{"device", "cuda:0"}});
  BOOST_TEST(out.text() ==
             "# HELP job_seconds Seconds per job.\\nSecond line \\\\ here.\n"
             "# TYPE job_seconds histogram\n"
             "job_seconds_bucket{device=\"cuda:0\",le=\"0.5\"} 2\n"
             "job_seconds_bucket{device=\"cuda:0\",le=\"1\"} 2\n"
             "job_seconds_bucket{device=\"cuda:0\",le=\"+Inf\"} 5\n"
             "job_seconds_sum{device=\"cuda:0\"} 7.25\n"
             "job_seconds_count{device=\"cuda:0\"} 5\n");
}
