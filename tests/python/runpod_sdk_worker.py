"""RunPod's own serverless worker loop (the `runpod` SDK's `serverless.start`) with a handler that
answers like an A1111 txt2img call. The tests point it and `sdworker serve` at the same fake
control plane and compare what each sends: the SDK is the reference for the worker side of the
protocol.

    RUNPOD_WEBHOOK_GET_JOB=... RUNPOD_WEBHOOK_POST_OUTPUT=... python runpod_sdk_worker.py
"""
import json

import runpod


def handler(job):
    runpod.serverless.progress_update(job, {"step": 1, "steps": 2, "progress": 0.5})
    if job["input"].get("fail"):
        raise ValueError("asked to fail")
    return {"images": ["iVBORw0KGgo="], "parameters": job["input"], "info": json.dumps({"seed": 1})}


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler})
