#!/usr/bin/env bash
# Cold start of `sdworker api`: process start → HTTP answering → /health "ready" → first image
# done, then the same job again: ready means ready when the first job takes no longer than the
# second (no weights read or kernels set up on first use). Runs each measure with the checkpoint
# evicted from the page cache (dd iflag=nocache) and again with it cached.
#
#   bench/cold_start.sh [--model CKPT] [--binary build/app/sdworker] [--size 256] [--steps 1]
#
# Without --model it makes (once) an sd15-size random-weight fp16 checkpoint in models/.
set -euo pipefail

binary=build/app/sdworker
model=""
vocab=""
size=256
steps=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --clip-vocab) vocab="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if [[ -z "$model" ]]; then
  model=models/bench-sd15.safetensors
  [[ -f "$model" ]] || "$binary" make-model --preset sd15 --dtype f16 "$model"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }

measure() {
  local label="$1"
  local log
  log=$(mktemp)
  local t0 t_http="" t_ready="" t_job=""
  t0=$(now)
  "$binary" api --port "$port" --model "$model" ${vocab:+--clip-vocab "$vocab"} >"$log" 2>&1 &
  local pid=$!
  alive() { kill -0 "$pid" 2>/dev/null || { echo "sdworker api exited:" >&2; tail -5 "$log" >&2; exit 1; }; }
  until curl -s -o /dev/null "http://127.0.0.1:$port/health"; do alive; sleep 0.005; done
  t_http=$(now)
  until curl -s "http://127.0.0.1:$port/health" | grep -q '"state":"ready"'; do alive; sleep 0.005; done
  t_ready=$(now)
  local body="{\"prompt\":\"a red cube\",\"steps\":$steps,\"width\":$size,\"height\":$size,\"seed\":1}"
  local status
  status=$(curl -s -o "$log.job" -w "%{http_code}" -H "Content-Type: application/json" -X POST "http://127.0.0.1:$port/sdapi/v1/txt2img" -d "$body")
  t_job=$(now)
  if [[ "$status" != 200 ]]; then
    echo "the first job answered $status: $(head -c 300 "$log.job")" >&2
  fi
  curl -s -o /dev/null -H "Content-Type: application/json" -X POST "http://127.0.0.1:$port/sdapi/v1/txt2img" -d "$body"
  local t_second
  t_second=$(now)
  kill -TERM "$pid"
  wait "$pid" || true
  printf '%-12s answering %6s s  ready %6s s  first image (%sx%s, %s step) done %6s s  first job %6s s  second %6s s  ratio %s\n' \
    "$label" "$(elapsed "$t0" "$t_http")" "$(elapsed "$t0" "$t_ready")" "$size" "$size" "$steps" \
    "$(elapsed "$t0" "$t_job")" "$(elapsed "$t_ready" "$t_job")" "$(elapsed "$t_job" "$t_second")" \
    "$(python3 -c "print(f'{($t_job - $t_ready) / ($t_second - $t_job):.2f}')")"
  rm -f "$log" "$log.job"
}

echo "checkpoint: $model ($(du -h "$model" | cut -f1))"
dd if="$model" iflag=nocache count=0 status=none
measure "not cached"
measure "page cache"
