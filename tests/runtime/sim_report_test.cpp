#define BOOST_TEST_MODULE sim_report
#include <boost/test/unit_test.hpp>

#include "runtime/base/errors.hpp"
#include "runtime/sim/sim_load.hpp"
#include "runtime/sim/sim_report.hpp"

#include <numeric>

namespace {

sdw::sim_job_record job(const std::string& id, const std::string& status, const std::string& worker, double submitted,
                        double taken, double done, int results = 1) {
  sdw::sim_job_record r;
  r.id = id;
  r.status = status;
  r.worker = worker;
  r.submitted_ms = submitted;
  r.taken_ms = taken;
  r.done_ms = done;
  r.results = results;
  return r;
}

} // namespace

BOOST_AUTO_TEST_CASE(nearest_rank_percentiles) {
  std::vector<double> v(100);
  std::iota(v.begin(), v.end(), 1.0);  // 1..100
  BOOST_TEST(sdw::sim_percentile(v, 50) == 50.0);
  BOOST_TEST(sdw::sim_percentile(v, 95) == 95.0);
  BOOST_TEST(sdw::sim_percentile(v, 99) == 99.0);
  BOOST_TEST(sdw::sim_percentile({7.0}, 99) == 7.0);
  BOOST_TEST(sdw::sim_percentile({}, 50) == 0.0);
}

BOOST_AUTO_TEST_CASE(report_counts_lost_and_duplicated_and_utilisation) {
  const std::vector<sdw::sim_job_record> records = {
    job("a", "COMPLETED", "w1", 0, 100, 600),
    job("b", "COMPLETED", "w2", 0, 200, 1000, 3),
    job("c", "IN_QUEUE", "", 500, -1, -1, 0),
    job("d", "IN_PROGRESS", "w1", 500, 700, -1, 0),
  };
  sdw::sim_counters c;
  c.duplicate_results = 2;
  const auto r = sdw::make_sim_report(records, c, {"w1", "w2", "w3"});
  BOOST_TEST(r.jobs == 4);
  BOOST_TEST(r.completed == 2);
  BOOST_TEST(r.lost == 2);
  BOOST_TEST(r.duplicated == 1);
  BOOST_TEST(r.span_s == 1.0);
  BOOST_TEST(r.throughput_per_s == 2.0);
  BOOST_TEST(r.end_to_end.p50 == 600.0);
  BOOST_TEST(r.end_to_end.p99 == 1000.0);
  BOOST_TEST(r.queue.p99 == 200.0);
  BOOST_TEST_REQUIRE(r.workers.size() == 3u);
  BOOST_TEST(r.workers[0].name == "w1");
  BOOST_TEST(r.workers[0].utilisation == 0.5);
  BOOST_TEST(r.workers[1].utilisation == 0.8);
  BOOST_TEST(r.workers[2].jobs == 0);
  const std::string json = sdw::sim_report_json(r);
  BOOST_TEST(json.find("\"lost\":2,\"duplicated\":1,\"duplicate_results\":2") != std::string::npos);
  BOOST_TEST(json.find("\"end_to_end_ms\":{\"p50\":600.0,") != std::string::npos);
  const std::string html = sdw::sim_report_html(r);
  BOOST_TEST(html.find("<svg") != std::string::npos);
  BOOST_TEST(html.find("class='bad'>2") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(batch_size_histogram_counts_completed_jobs_by_the_run_they_shared) {
  std::vector<sdw::sim_job_record> records;
  auto add = [&](const std::string& id, const std::string& status, int batch_jobs) {
    records.push_back(job(id, status, "w1", 0, 10, 100));
    records.back().batch_jobs = batch_jobs;
  };
  add("a", "COMPLETED", 1);
  add("b", "COMPLETED", 3);
  add("c", "COMPLETED", 3);
  add("d", "COMPLETED", 3);
  add("e", "COMPLETED", 3);  // a second run of 3, of which only this job is here
  add("f", "FAILED", 2);     // not completed: not counted
  add("g", "COMPLETED", 0);  // its worker did not say
  const auto r = sdw::make_sim_report(records, sdw::sim_counters{}, {"w1"});
  BOOST_TEST_REQUIRE(r.batch_sizes.size() == 2u);
  BOOST_TEST(r.batch_sizes[0].size == 1);
  BOOST_TEST(r.batch_sizes[0].jobs == 1);
  BOOST_TEST(r.batch_sizes[0].batches == 1);
  BOOST_TEST(r.batch_sizes[1].size == 3);
  BOOST_TEST(r.batch_sizes[1].jobs == 4);
  BOOST_TEST(r.batch_sizes[1].batches == 2);
  BOOST_TEST(r.batch_unreported == 1);
  BOOST_TEST(r.batch_sizes[0].jobs + r.batch_sizes[1].jobs + r.batch_unreported == r.completed);
  const std::string json = sdw::sim_report_json(r);
  BOOST_TEST(json.find(R"("batch_sizes":[{"size":1,"jobs":1,"batches":1},{"size":3,"jobs":4,"batches":2}],)"
                       R"("batch_unreported":1)") != std::string::npos);
  const std::string html = sdw::sim_report_html(r);
  BOOST_TEST(html.find("<h2>Batch sizes</h2>") != std::string::npos);
  BOOST_TEST(html.find("2 runs of 3 jobs (4 jobs)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(request_mix_parsing_names_the_bad_item) {
  const auto mix = sdw::parse_request_mix(R"([{"prompt":"a"},{"weight":3,"input":{"prompt":"b","steps":4}}])");
  BOOST_TEST_REQUIRE(mix.size() == 2u);
  BOOST_TEST(mix[0].input == R"({"prompt":"a"})");
  BOOST_TEST(mix[1].weight == 3.0);
  try {
    sdw::parse_request_mix(R"([{"prompt":"a"},{"weight":-1,"input":{}}])");
    BOOST_FAIL("no error");
  } catch (const sdw::error& e) {
    BOOST_TEST(e.where() == "mix[1].weight");
  }
  BOOST_CHECK_THROW(sdw::parse_request_mix("[]"), sdw::error);
}

BOOST_AUTO_TEST_CASE(load_is_repeatable_from_its_seed_and_poisson) {
  sdw::sim_load_generator a(sdw::default_request_mix(), 42), b(sdw::default_request_mix(), 42);
  for (int i = 0; i < 20; ++i) {
    BOOST_TEST(a.next_input() == b.next_input());
  }
  double total = 0;
  constexpr int n = 20000;
  for (int i = 0; i < n; ++i) {
    total += a.next_gap_ms(50);
  }
  BOOST_TEST(total / n == 20.0, boost::test_tools::tolerance(0.05));  // mean gap 1/rate
}
