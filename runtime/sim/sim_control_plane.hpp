#pragma once
/// The RunPod control plane of the simulation harness, without any networking: the endpoint's
/// job store and queue, the client API (run, runsync, status, status-sync, stream, cancel, retry,
/// purge-queue, health) and the worker side (job-take long poll, job-done with isStream, job-stream,
/// ping, job-stop), per the RunPod protocol. It requeues a job whose worker stopped pinging or
/// stopped listing it, keeps the first result of a job and counts every later one as a duplicate,
/// and decides per request which injected fault (5xx, slow, dropped, reset, duplicate delivery)
/// the server should play. Thread-safe: one call per HTTP request, from any thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace sdw {

/// Faults to inject; each rate is a probability per request of that kind.
struct sim_faults {
  double take_5xx = 0;    ///< job-take answers 503 (nothing is taken)
  double done_5xx = 0;    ///< job-done answers 500 (the result is not recorded)
  double done_4xx = 0;    ///< a final job-done answers 400 (the result is not recorded; the worker may not retry it)
  double slow = 0;        ///< any worker-side request is answered `slow_ms` late
  int slow_ms = 300;
  double drop = 0;        ///< job-take/job-done: the connection closes without an answer, nothing done
  double reset = 0;       ///< job-take/job-done: TCP reset (SO_LINGER 0) without an answer, nothing done
  double duplicate = 0;   ///< job-take: the job also stays queued, so a second take gets it too
  uint64_t seed = 1;
};

/// How the control plane behaves.
struct sim_plane_config {
  int take_wait_ms = 1000;  ///< job-take long poll before 204
  int lost_after_ms = 3000; ///< a job whose worker has not listed it in a ping for this long is requeued
  int job_timeout_ms = 600000;  ///< a job held longer than this without a result is requeued too
  sim_faults faults;
};

/// What the server does with one request.
struct sim_answer {
  enum class how { reply, drop, reset };
  int status = 200;
  std::string body;  ///< JSON, or empty (204)
  how action = how::reply;
  int delay_ms = 0;  ///< answer this late
};

/// An answer with `status` and JSON `body`.
sim_answer sim_json_answer(int status, std::string body);

/// An answer `{"error": message}` with `status`.
sim_answer sim_error_answer(int status, const std::string& message);

/// One job as the report sees it; times in ms since the plane started, -1 = never.
struct sim_job_record {
  std::string id;
  std::string status;  ///< IN_QUEUE, IN_PROGRESS, COMPLETED, FAILED, CANCELLED
  std::string worker;  ///< who delivered the kept result (or holds it now)
  std::string input;   ///< the job's input JSON
  std::string raw_job; ///< when set, the job object job-take hands out as it is (a malformed job)
  std::string output;  ///< the kept result's output or error JSON
  double submitted_ms = -1;
  double taken_ms = -1;  ///< the take whose result was kept (or the latest)
  double done_ms = -1;
  int takes = 0;       ///< times handed to a worker
  int requeues = 0;    ///< times put back after its worker went silent
  int results = 0;     ///< final job-done posts received (more than 1 = duplicates)
  std::string device;  ///< the kept result's executor, as its worker reported it ("" = not said)
  int batch_jobs = 0;  ///< jobs that shared the kept result's run, as its worker reported it (0 = not said)
  std::vector<std::string> stream;  ///< stream chunks not yet read by the client
};

/// Totals over the run.
struct sim_counters {
  int submitted = 0, completed = 0, failed = 0, cancelled = 0, retried = 0;
  int duplicate_results = 0;     ///< final results after the first, over all jobs
  int injected_duplicates = 0;   ///< takes that left the job queued for a second take
  int injected_faults = 0;       ///< 5xx, drops and resets played
  int requeued = 0;
  int batch_takes = 0;           ///< job-take-batch calls (a worker asking for several jobs)
};

/// The emulated control plane.
class sim_control_plane {
public:
  explicit sim_control_plane(sim_plane_config config);

  /// Answers one HTTP request: `path` from /v2/ on, `query` without '?'. Blocks for long polls.
  sim_answer handle(const std::string& method, const std::string& path, const std::string& query,
                    const std::string& body);

  /// Queues a job with this input JSON (as /run does); its id.
  std::string submit(const std::string& input_json);
  /// Queues a job under a chosen id (which must be new).
  void submit_as(const std::string& id, const std::string& input_json);
  /// Queues a job that job-take hands out exactly as `job_json` (e.g. one without `input`).
  void submit_raw(const std::string& id, const std::string& job_json);

  /// Scripted faults, played before any drawn one: the next `n` job-takes answer `status` (429,
  /// 400, ...) with no job; the next `n` final job-done posts (of job `job`, or of any job when it
  /// is empty) fail, answered `status` (500, 400, 413, ...) or, with status 0, reset without an
  /// answer, and the result is not recorded. Progress posts pass.
  void script_takes(int status, int n);
  void script_result_failures(int status, int n, const std::string& job = {});
  /// Waits until job `id` is terminal or `wait_ms` passes; its status then.
  std::string wait_terminal(const std::string& id, int wait_ms);
  /// Requeues jobs whose worker went silent; handle() calls it too.
  void sweep();
  /// Wakes every long poll and makes new ones return at once.
  void stop();

  std::vector<sim_job_record> records() const;
  sim_counters counters() const;
  /// Jobs submitted and not yet COMPLETED, FAILED or CANCELLED.
  int unfinished() const;
  /// Workers that pinged within lost_after_ms.
  int live_workers() const;
  /// Milliseconds since the plane started.
  double now_ms() const;

private:
  struct worker_info {
    double last_ping_ms = -1;
    std::vector<std::string> stop;  ///< cancelled jobs this worker should stop
  };

  sim_answer client(const std::string& method, const std::vector<std::string>& parts, const std::string& query,
                    const std::string& body, std::unique_lock<std::mutex>& lock);
  /// Hands out up to `max_jobs` jobs: one job object, or with `as_array` (job-take-batch) an array.
  sim_answer take(const std::string& worker, std::unique_lock<std::mutex>& lock, int max_jobs, bool as_array);
  sim_answer done(const std::string& worker, const std::string& job_id, const std::string& query,
                  const std::string& body);
  std::string new_id(const std::string& prefix);
  /// Records a new IN_QUEUE job `r` (its id and input set) and queues it. Lock held.
  void enqueue_locked(sim_job_record r);
  /// A scripted fault for this request, if one is due. Lock held.
  bool scripted_fault(const std::vector<std::string>& parts, const std::string& body, sim_answer& fault);
  std::string status_json(const sim_job_record& r) const;
  void sweep_locked();
  bool roll(double rate);

  sim_plane_config config_;
  std::chrono::steady_clock::time_point start_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::mt19937_64 rng_;  ///< fault decisions
  std::mt19937_64 ids_;  ///< job ids
  std::map<std::string, sim_job_record> jobs_;
  std::vector<std::string> order_;  ///< job ids in submission order
  std::deque<std::string> queue_;
  std::map<std::string, worker_info> workers_;
  std::map<std::string, double> last_listed_ms_;  ///< job id → when its worker last showed it in progress
  std::map<std::string, std::map<std::string, double>> holders_;  ///< job id → worker → when it took the job
  sim_counters counters_;
  bool stopping_ = false;
  int take_script_status_ = 204, take_script_left_ = 0;
  int result_script_status_ = 500;
  int result_script_left_ = 0;
  std::string result_script_job_;
};

/// A query parameter's raw value, or "" when absent.
std::string sim_query_param(const std::string& query, const std::string& name);

} // namespace sdw
