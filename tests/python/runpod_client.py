"""Drives a running `sdworker api` with RunPod's Python SDK (the `runpod` package that
worker-a1111's handler is built on), exactly as a RunPod user would, with the SDK's base URL
pointed at the local worker.

    python runpod_client.py <port> <png out>

Exits 0 when every step behaved as against RunPod; writes the run_sync image to <png out>.
"""
import base64
import sys
import time

import runpod


def check(ok, what, got):
    if not ok:
        print(f"FAIL: {what}: {str(got)[:400]}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def main():
    port, png_out = sys.argv[1], sys.argv[2]
    runpod.api_key = "local-key"
    runpod.endpoint_url_base = f"http://127.0.0.1:{port}/v2"
    endpoint = runpod.Endpoint("local")

    small = {"prompt": "a red cube", "steps": 2, "width": 64, "height": 64, "seed": 7, "sampler_name": "Euler"}
    long = {"prompt": "a long job", "steps": 150, "width": 64, "height": 64, "seed": 8, "sampler_name": "Euler"}

    # run_sync: one call, the finished job's output (the SDK unwraps it).
    output = endpoint.run_sync({"input": small}, timeout=60)
    check(isinstance(output, dict) and len(output.get("images", [])) == 1, "run_sync returns one image", output)
    check(isinstance(output.get("info"), str) and isinstance(output.get("parameters"), dict),
          "run_sync output is A1111's txt2img answer", list(output))
    with open(png_out, "wb") as f:
        f.write(base64.b64decode(output["images"][0]))

    # run, then status until the job is final, then its output.
    job = endpoint.run(small)  # the SDK wraps a bare input in {"input": ...}
    check(isinstance(job.job_id, str) and job.job_id, "run gives a job id", job.job_id)
    deadline = time.time() + 60
    status = job.status()
    while status not in ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT") and time.time() < deadline:
        time.sleep(0.1)
        status = job.status()
    check(status == "COMPLETED", "status reaches COMPLETED", status)
    out = job.output()
    check(len(out.get("images", [])) == 1, "output carries the image", out)

    # stream: a worker that streams nothing yields no chunks, and the loop ends when the job is final.
    streamed = endpoint.run({"input": small})
    chunks = list(streamed.stream())
    check(chunks == [], "stream yields no chunks", chunks)
    check(streamed.status() == "COMPLETED", "the streamed job completed", streamed.status())

    # cancel a long job while it runs or waits.
    doomed = endpoint.run({"input": long})
    answer = doomed.cancel()
    check(answer.get("id") == doomed.job_id and answer.get("status") == "CANCELLED", "cancel answers CANCELLED", answer)
    check(doomed.status() == "CANCELLED", "status shows CANCELLED", doomed.status())

    # health: RunPod's shape, counting the jobs above.
    health = endpoint.health()
    check(isinstance(health.get("jobs", {}).get("completed"), int) and health["jobs"]["completed"] >= 3,
          "health counts completed jobs", health)
    workers = health.get("workers", {})
    check(isinstance(workers.get("idle"), int) and isinstance(workers.get("running"), int), "health shows workers", health)

    # purge_queue: nothing waits now.
    purged = endpoint.purge_queue()
    check(purged.get("removed") == 0 and purged.get("status") == "completed", "purge_queue answers", purged)

    print("all steps passed")


if __name__ == "__main__":
    main()
