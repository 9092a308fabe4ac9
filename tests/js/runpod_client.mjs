// Drives a running `sdworker api` with RunPod's own JavaScript client (runpod-sdk), exactly as a
// RunPod user would, with the base URL pointed at the local worker.
//   node runpod_client.mjs <port> <png out>
// Exits 0 when every step behaved as against RunPod; writes the runSync image to <png out>.
import runpodSdk from "runpod-sdk";
import { writeFileSync } from "node:fs";

const [port, pngOut] = process.argv.slice(2);
if (!port || !pngOut) {
  console.error("usage: node runpod_client.mjs <port> <png out>");
  process.exit(2);
}
const endpoint = runpodSdk("local", { baseUrl: `http://127.0.0.1:${port}/v2` }).endpoint("local");

function check(ok, what, got) {
  if (!ok) {
    console.error(`FAIL: ${what}: ${JSON.stringify(got)?.slice(0, 400)}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
}

const small = { input: { prompt: "a red cube", steps: 2, width: 64, height: 64, seed: 7, sampler_name: "Euler" } };
const long = { input: { prompt: "a long job", steps: 150, width: 64, height: 64, seed: 8, sampler_name: "Euler" } };

try {
  // runSync: one call, the finished job with its images.
  const sync = await endpoint.runSync(small, 60000);
  check(sync.status === "COMPLETED" && sync.completed && sync.succeeded, "runSync completes", sync);
  check(typeof sync.id === "string" && sync.id.length > 0, "runSync has an id", sync.id);
  check(Array.isArray(sync.output?.images) && sync.output.images.length === 1, "runSync returns one image", sync.output);
  writeFileSync(pngOut, Buffer.from(sync.output.images[0], "base64"));

  // run, then poll status until the job is final.
  const queued = await endpoint.run(small);
  check(queued.status === "IN_QUEUE" && typeof queued.id === "string", "run answers IN_QUEUE with an id", queued);
  let st = await endpoint.status(queued.id);
  const deadline = Date.now() + 60000;
  while (!st.completed && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    st = await endpoint.status(queued.id);
  }
  check(st.completed && st.succeeded && st.id === queued.id, "status reaches COMPLETED", st);
  check(st.output?.images?.length === 1, "status carries the output", st.output);

  // stream: a worker that streams nothing yields no chunks and ends when the job is final.
  const streamed = await endpoint.run(small);
  let chunks = 0;
  for await (const chunk of endpoint.stream(streamed.id)) {
    chunks += 1;
  }
  check(chunks === 0, "stream yields no chunks", chunks);
  const afterStream = await endpoint.status(streamed.id);
  check(afterStream.succeeded, "the streamed job completed", afterStream);

  // cancel a long job while it runs or waits.
  const doomed = await endpoint.run(long);
  const cancelled = await endpoint.cancel(doomed.id);
  check(cancelled.id === doomed.id && cancelled.status === "CANCELLED", "cancel answers CANCELLED", cancelled);
  const afterCancel = await endpoint.status(doomed.id);
  check(afterCancel.status === "CANCELLED" && afterCancel.completed && !afterCancel.succeeded,
        "status shows CANCELLED", afterCancel);

  // health: RunPod's shape, counting the jobs above.
  const health = await endpoint.health();
  check(typeof health.jobs?.completed === "number" && health.jobs.completed >= 3, "health counts completed jobs", health);
  check(typeof health.workers?.idle === "number" && typeof health.workers?.running === "number",
        "health shows workers", health);

  // purgeQueue: nothing waits now.
  const purged = await endpoint.purgeQueue();
  check(purged.removed === 0 && purged.status === "completed", "purgeQueue answers", purged);
} catch (e) {
  console.error(`FAIL: the client threw: ${e?.message} ${JSON.stringify(e?.response?.data ?? "")}`);
  process.exit(1);
}
console.log("all steps passed");
