#!/usr/bin/env bash
# Builds the GPU image and runs its test job (worker-a1111's local mode: /test_input.json once).
# Where no Docker engine answers, says so and exits 2 without building anything.
#   deploy/docker-smoke.sh [--gpus]     --gpus: run the job on the host's GPUs
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! docker info >/dev/null 2>&1; then
  echo "docker-smoke: no Docker engine answers here; the image was not built" >&2
  exit 2
fi
gpus=()
[ "${1:-}" = "--gpus" ] && gpus=(--gpus all)
docker build -t sdworker:smoke "$root"
out="$(docker run --rm "${gpus[@]}" sdworker:smoke)"
echo "$out" | head -c 400; echo
echo "$out" | grep -q '"output"' || { echo "docker-smoke: the test job gave no output" >&2; exit 1; }
docker run --rm "${gpus[@]}" sdworker:smoke --version
echo "docker-smoke: image built and its test job answered"
