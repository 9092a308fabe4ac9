#!/usr/bin/env bash
# Every GPU check in one call, for the device tool's machine (one call of at most 8 minutes, so
# that it can be rerun once): the CUDA results against the CPU ones, then the speed figures.
#   here, first:      bench/gpu-pack.sh          (stages .gpu/: the program and its libraries)
#   on the GPU:       bash bench/gpu-check.sh    (carry .gpu and models/clip; figures under $OUT)
#   here, on the CPU: bash bench/gpu-check.sh --dry-run   (the same steps, small, on the CPU)
# Writes $OUT/report.md, accuracy.json, bench-*.json and the logs.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
dry=0
[ "${1:-}" = "--dry-run" ] && dry=1
out="${OUT:-$root/out/gpu-check}"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$out/report.md"; }

# The program: the staged one (GPU machine) or the local build.
binary="$root/.gpu/sdworker"
[ -x "$binary" ] || binary="$root/build/app/sdworker"
# The Python with torch: set-up's here, /opt/torch/.venv on the GPU machine.
python="${SDW_PYTHON:-}"
for p in "$root/.venv/bin/python" /opt/torch/.venv/bin/python; do
  [ -z "$python" ] && [ -x "$p" ] && python="$p"
done
torch_lib="$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__) + "/lib")')"
cuda_lib="$(dirname "$(dirname "$torch_lib")")/nvidia/cu13/lib"
export LD_LIBRARY_PATH="$root/.gpu/lib:$torch_lib:$cuda_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
vocab="$root/models/clip/bpe_simple_vocab_16e6.txt.gz"

device=cuda dtype=f16 sizes="512 1024" repeats=3 batches="1 2 4 8" steps=20 image=512
if [ $dry = 1 ]; then
  device=cpu dtype=f32 sizes="64" repeats=1 batches="1 2" steps=2 image=64
fi
echo "# GPU check $(date -u +%FT%TZ)$([ $dry = 1 ] && echo ' (CPU dry run)')" > "$out/report.md"
"$binary" --version | tee "$out/version.txt" >> "$out/report.md"
failures=0

# 1. Accuracy: the same requests on the device and on the CPU in fp32, per RNG source.
log "## accuracy: $device against cpu/f32 (tiny model)"
"$binary" make-model --preset tiny --dtype f32 --seed 7 "$work/tiny.safetensors" > /dev/null
for source in CPU NV GPU; do
  body="{\"prompt\":\"a red cube, (detailed:1.2)\",\"negative_prompt\":\"blurry\",\"steps\":8,\"width\":64,\"height\":64,\"seed\":123,\"sampler_name\":\"DPM++ 2M\",\"override_settings\":{\"randn_source\":\"$source\"}}"
  echo "$body" > "$work/req-$source.json"
  for run in "cpu f32" "$device f32" "$device $dtype"; do
    set -- $run
    "$binary" --threads 2 generate --model "$work/tiny.safetensors" --clip-vocab "$vocab" --device "$1" --dtype "$2" \
      --input "$work/req-$source.json" --out "$work/out-$source-$1-$2" --dump-latent "$work/lat-$source-$1-$2.npy" \
      > "$out/generate-$source-$1-$2.log" 2>&1 || { log "generate $source $1 $2 failed"; failures=$((failures + 1)); }
  done
done
"$python" - "$work" "$device" "$dtype" "$out/accuracy.json" <<'PY' | tee -a "$out/report.md"
import json, sys
import numpy as np
work, device, dtype, dest = sys.argv[1:]
# GPU noise on CUDA is torch's CUDA generator (as in A1111), not the CPU's: compare it with itself.
tolerance = {"f32": 1e-3, "f16": 5e-2, "bf16": 1e-1}
rows, ok = [], True
for source in ("CPU", "NV", "GPU"):
    ref = np.load(f"{work}/lat-{source}-cpu-f32.npy")
    for dt in sorted({"f32", dtype}):
        try:
            got = np.load(f"{work}/lat-{source}-{device}-{dt}.npy")
        except OSError:
            rows.append({"source": source, "dtype": dt, "error": "no result"}); ok = False; continue
        if source == "GPU" and device == "cuda":
            rows.append({"source": source, "dtype": dt, "note": "CUDA generator: not compared with the CPU"}); continue
        rel = float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-12))
        passed = rel <= tolerance[dt]
        ok = ok and passed
        rows.append({"source": source, "dtype": dt, "max_rel_diff": rel, "tolerance": tolerance[dt], "passed": passed})
json.dump({"device": device, "rows": rows, "passed": ok}, open(dest, "w"), indent=1)
for r in rows:
    print("-", json.dumps(r))
print("accuracy:", "PASSED" if ok else "FAILED")
sys.exit(0 if ok else 1)
PY
[ $? = 0 ] || failures=$((failures + 1))

# 2. Speed: an sd15-size fp16 checkpoint (random weights, the real layout).
log "## speed on $device ($dtype)"
if [ $dry = 1 ]; then model="$work/tiny.safetensors"; else
  model="$work/sd15.safetensors"
  "$binary" make-model --preset sd15 --dtype f16 --seed 1 "$model" > /dev/null
fi
# Model load, text encode, UNet step (CFG batch 2) per size, VAE decode, PNG encode.
timeout 240 "$binary" bench --model "$model" --clip-vocab "$vocab" --device "$device" --dtype "$dtype" \
  --sizes $sizes --repeats $repeats --json "$out/bench-steps.json" > "$out/bench-steps.log" 2>&1 ||
  { log "bench failed"; failures=$((failures + 1)); }
grep -E "ready|encode|step|decode" "$out/bench-steps.log" | sed 's/^.*\] //' | tee -a "$out/report.md"
# Whole requests: N at once as one batch against N alone, images per second.
for n in $batches; do
  [ "$n" = 1 ] && continue
  timeout 120 "$binary" bench --model "$model" --clip-vocab "$vocab" --device "$device" --dtype "$dtype" --batch "$n" \
    --batch-steps $steps --batch-image $image --json "$out/bench-batch-$n.json" > "$out/bench-batch-$n.log" 2>&1 ||
    { log "bench --batch $n failed"; failures=$((failures + 1)); }
  grep -v "^\s*$" "$out/bench-batch-$n.log" | tail -3 | sed 's/^.*\] //' | tee -a "$out/report.md"
done
if [ $dry = 0 ] && command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv >> "$out/report.md"
fi
log "failures: $failures"
exit $((failures > 0))
