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
# SKIP="accuracy batch variants hires switch sdxl coldstart" leaves those parts out (a rerun after one part failed).
skip() { [[ " ${SKIP:-} " == *" $1 "* ]]; }
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
vocab="$root/.gpu/bpe_simple_vocab_16e6.txt.gz"
[ -f "$vocab" ] || vocab="$root/models/clip/bpe_simple_vocab_16e6.txt.gz"

device=cuda dtype=f16 sizes="512 1024" repeats=5 batches="1 2 4 8" steps=20 image=512
if [ $dry = 1 ]; then
  device=cpu dtype=f32 sizes="64" repeats=1 batches="1 2" steps=2 image=64
fi
peak_tflops="${PEAK_TFLOPS:-790}"  # the H200's dense bf16/fp16 rate as measured (issue 9)
echo "# GPU check $(date -u +%FT%TZ)$([ $dry = 1 ] && echo ' (CPU dry run)')" > "$out/report.md"
"$binary" --version | tee "$out/version.txt" >> "$out/report.md"
failures=0

# 1. Accuracy: the same requests on the device and on the CPU in fp32, per RNG source.
"$binary" make-model --preset tiny --dtype f32 --seed 7 "$work/tiny.safetensors" > /dev/null
if ! skip accuracy; then
log "## accuracy: $device against cpu/f32 (tiny model)"
for source in CPU NV GPU; do
  body="{\"prompt\":\"a red cube, (detailed:1.2)\",\"negative_prompt\":\"blurry\",\"steps\":8,\"width\":64,\"height\":64,\"seed\":123,\"sampler_name\":\"DPM++ 2M\",\"override_settings\":{\"randn_source\":\"$source\"}}"
  echo "$body" > "$work/req-$source.json"
  for run in "cpu f32" "$device f32" "$device $dtype" "$device $dtype --no-cuda-graphs"; do
    set -- $run
    tag="$1-$2${3:+-nograph}"
    "$binary" --threads 2 generate --model "$work/tiny.safetensors" --clip-vocab "$vocab" --device "$1" --dtype "$2" ${3:-} \
      --input "$work/req-$source.json" --out "$work/out-$source-$tag" --dump-latent "$work/lat-$source-$tag.npy" \
      > "$out/generate-$source-$tag.log" 2>&1 || { log "generate $source $tag failed"; failures=$((failures + 1)); }
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
    for dt in sorted({"f32", dtype}) + [dtype + "-nograph"]:
        try:
            got = np.load(f"{work}/lat-{source}-{device}-{dt}.npy")
        except OSError:
            rows.append({"source": source, "dtype": dt, "error": "no result"}); ok = False; continue
        if source == "GPU" and device == "cuda":
            rows.append({"source": source, "dtype": dt, "note": "CUDA generator: not compared with the CPU"}); continue
        rel = float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-12))
        passed = rel <= tolerance[dt.split("-")[0]]
        ok = ok and passed
        rows.append({"source": source, "dtype": dt, "max_rel_diff": rel, "tolerance": tolerance[dt.split("-")[0]], "passed": passed})
json.dump({"device": device, "rows": rows, "passed": ok}, open(dest, "w"), indent=1)
for r in rows:
    print("-", json.dumps(r))
print("accuracy:", "PASSED" if ok else "FAILED")
sys.exit(0 if ok else 1)
PY
[ $? = 0 ] || failures=$((failures + 1))
fi

# 2. Speed: an sd15-size fp16 checkpoint (random weights, the real layout).
log "## speed on $device ($dtype)"
if [ $dry = 1 ]; then model="$work/tiny.safetensors"; else
  model="$work/sd15.safetensors"
  "$binary" make-model --preset sd15 --dtype f16 --seed 1 "$model" > /dev/null
fi
# Model load, text encode, UNet steps (CFG) per size and batch with CUDA graphs and without, VAE
# decode, PNG encode, peak memory.
timeout 200 "$binary" bench --model "$model" --clip-vocab "$vocab" --device "$device" --dtype "$dtype" \
  --sizes $sizes --step-batches $batches --repeats $repeats --json "$out/bench-steps.json" > "$out/bench-steps.log" 2>&1 ||
  { log "bench failed"; failures=$((failures + 1)); }
grep -E "ready|encode|step|decode|memory|graphs|LoCon" "$out/bench-steps.log" | sed 's/^.*\] //' | tee -a "$out/report.md"
# Steps per second, images x steps per second, and the share of the chip's peak: one CFG step
# of one 512x512 image is two UNet passes of about 0.8 TFLOP each (issue 9's figure).
"$python" - "$out/bench-steps.json" "$peak_tflops" <<'PY' | tee -a "$out/report.md"
import json, re, sys
figures = json.load(open(sys.argv[1])); peak = float(sys.argv[2]) * 1e12
for name, seconds in figures.items():
    m = re.match(r"unet step (\d+)x\d+ batch (\d+)", name)
    if not m or seconds <= 0 or "first call" in name: continue
    size, batch = int(m.group(1)), int(m.group(2))
    flop = 1.6e12 * batch * (size / 512) ** 2
    print(f"- {name}: {1 / seconds:.1f} it/s, {batch / seconds:.1f} image-steps/s, {flop / seconds / peak:.1%} of peak")
PY
# Whole requests: N at once as one batch against N alone, images per second.
for n in $batches; do
  { [ "$n" = 1 ] || skip batch; } && continue
  timeout 60 "$binary" bench --model "$model" --clip-vocab "$vocab" --device "$device" --dtype "$dtype" --batch "$n" \
    --batch-steps $steps --batch-image $image --json "$out/bench-batch-$n.json" > "$out/bench-batch-$n.log" 2>&1 ||
    { log "bench --batch $n failed"; failures=$((failures + 1)); }
  grep -v "^\s*$" "$out/bench-batch-$n.log" | tail -3 | sed 's/^.*\] //' | tee -a "$out/report.md"
done
# Variants of the step: cuDNN's heuristics against its benchmark (a new shape's first call), the
# layout (contiguous against channels-last), bf16 against fp16, token merging at 0.5 (eager steps).
if ! skip variants; then
  for variant in "--dtype $dtype --no-cudnn-benchmark" "--dtype $dtype --memory-format contiguous" "--dtype bf16" \
                 "--dtype $dtype --token-merging 0.5"; do
    log "## unet step with $variant"
    timeout 90 "$binary" bench --model "$model" --clip-vocab "$vocab" --device "$device" $variant \
      --sizes "${sizes%% *}" --step-batches 1 8 --repeats $repeats > "$out/bench-variant.log" 2>&1 ||
      { log "bench $variant failed"; failures=$((failures + 1)); }
    grep -a -E "unet step" "$out/bench-variant.log" | sed 's/^.*\] //' | tee -a "$out/report.md"
  done
fi
# Hires fix: the first pass at ${image}², the second at twice that (Latent upscaler), time per pass.
if ! skip hires; then
  log "## hires fix ${image}² → $((image * 2))², $steps steps each"
  timeout 90 "$binary" bench --model "$model" --clip-vocab "$vocab" --device "$device" --dtype "$dtype" --hires \
    --batch-image "$image" --batch-steps "$steps" > "$out/bench-hires.log" 2>&1 ||
    { log "bench --hires failed"; failures=$((failures + 1)); }
  grep -a -E "pass|hires|total" "$out/bench-hires.log" | sed 's/^.*\] //' | tee -a "$out/report.md"
fi
# Checkpoint switching: two checkpoints of the speed model's size through a model cache holding
# both (a hit) and one holding one (loaded again from the page cache).
if ! skip switch; then
  log "## checkpoint switch on $device ($dtype)"
  timeout 90 "$binary" bench --model "$model" --model-dir "$work" --clip-vocab "$vocab" --device "$device" \
    --dtype "$dtype" --switch --repeats $repeats --json "$out/bench-switch.json" > "$out/bench-switch.log" 2>&1 ||
    { log "bench --switch failed"; failures=$((failures + 1)); }
  grep -a -E "switch|from disk" "$out/bench-switch.log" | sed 's/^.*\] //' | tee -a "$out/report.md"
fi
# SDXL base at real size (random weights, fp16): load, text encode, the UNet step at 1024² (and
# 512²), VAE decode, and a LoCon's merge; made here (about a minute: 6.9 GB written).
if ! skip sdxl; then
  log "## SDXL base on $device ($dtype)"
  if [ $dry = 1 ]; then xl="$work/sdxl-tiny.safetensors" xl_preset=sdxl-tiny xl_dtype=f32; else
    xl="$work/sdxl.safetensors" xl_preset=sdxl xl_dtype=f16; fi
  timeout 150 "$binary" make-model --preset $xl_preset --dtype $xl_dtype --seed 1 "$xl" > /dev/null ||
    { log "make-model $xl_preset failed"; failures=$((failures + 1)); }
  timeout 150 "$binary" bench --model "$xl" --clip-vocab "$vocab" --device "$device" --dtype "$dtype" \
    --sizes $sizes --step-batches 1 --repeats $repeats --json "$out/bench-sdxl.json" > "$out/bench-sdxl.log" 2>&1 ||
    { log "bench sdxl failed"; failures=$((failures + 1)); }
  grep -a -E "ready|encode|step|decode|memory|LoCon" "$out/bench-sdxl.log" | sed 's/^.*\] //' | tee -a "$out/report.md"
  rm -f "$xl"
fi
# Cold start of the API: process start, ready, first image, and the second one (ready means ready).
if command -v curl >/dev/null && ! skip coldstart; then
  log "## cold start: sdworker api on $device, ${image}x${image}, $steps steps"
  timeout 100 bash bench/cold_start.sh --binary "$binary" --model "$model" --size "$image" --steps "$steps" \
    --clip-vocab "$vocab" 2>&1 |
    tee -a "$out/report.md" | tail -2
fi
if [ $dry = 0 ] && command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv >> "$out/report.md"
fi
log "failures: $failures"
exit $((failures > 0))
