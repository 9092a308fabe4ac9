#!/usr/bin/env bash
# The sanitizer and fuzzing part of CI: a clang build of the torch-free libraries (SDW_TORCH=OFF)
# with AddressSanitizer and UndefinedBehaviorSanitizer and the libFuzzer targets of fuzz/; their
# unit tests (label `unit`), every fuzz seed once (label `fuzz`), then each target fuzzed for a
# short while from its seed corpus. New inputs go to a scratch folder, never into fuzz/corpus/;
# a crash leaves its input in <build>/fuzz-crashes/ and fails the script.
#   .ci/sanitizers.sh                    build into build-asan/, test, fuzz 20 s per target
#   SDW_FUZZ_SECONDS=600 .ci/sanitizers.sh   fuzz each target longer
#   SDW_ASAN_BUILD_DIR=dir ...           build somewhere else
#   SDW_SKIP_APT=1 ...                   skip the package step, as deploy/setup.sh
#   SDW_VENV=dir ...                     the Python environment the tests' references use (.venv/)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SDW_ASAN_BUILD_DIR:-$root/build-asan}"
venv="${SDW_VENV:-$root/.venv}"
seconds="${SDW_FUZZ_SECONDS:-20}"
jobs="$(nproc)"

# clang, its runtime libraries (sanitizers, libFuzzer) and lld: only this script needs them.
packages=(clang libclang-rt-dev lld)
# shellcheck source=deploy/apt-packages.sh
. "$root/deploy/apt-packages.sh"
install_missing_packages sanitizers "${packages[@]}"

start=$SECONDS
# -O1 with line tables: what libFuzzer's documentation builds with; fast to compile, exact reports.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DSDW_TORCH=OFF -DSDW_FUZZ=ON \
  -DSDW_SANITIZE=address,undefined -DSDW_PYTHON="$venv/bin/python"
ninja -C "$build" -j"$jobs"
built=$SECONDS

export ASAN_OPTIONS="strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1"
export UBSAN_OPTIONS="print_stacktrace=1"
ctest --test-dir "$build" -L unit --output-on-failure -j"$jobs"
ctest --test-dir "$build" -L fuzz --output-on-failure -j"$jobs"
tested=$SECONDS

crashes="$build/fuzz-crashes"
mkdir -p "$crashes"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
status=0
printf '%-26s %12s %8s %8s %s\n' target executions cov ft result
while read -r target; do
  name="${target%_fuzz}"
  # A request image may declare up to PIL's 89.5-megapixel limit: decoding one (a 16-bit PNG, a
  # progressive JPEG's coefficient buffers) takes about a gigabyte for a moment, which with ASan's
  # quarantine passed 2 GB of peak RSS once. Each allocation stays bounded at 2 GB.
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -malloc_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$crashes/$target-")
  if [ -f "$root/fuzz/dict/$name.dict" ]; then args+=(-dict="$root/fuzz/dict/$name.dict"); fi
  mkdir -p "$scratch/$name"
  log="$build/fuzz-$name.log"
  result=ok
  "$build/fuzz/$target" "${args[@]}" "$scratch/$name" "$root/fuzz/corpus/$name" < /dev/null > "$log" 2>&1 \
    || result=FAILED
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  cov="$( (grep -o 'cov: [0-9]*' "$log" || true) | tail -n 1 | cut -d' ' -f2)"
  ft="$( (grep -o 'ft: [0-9]*' "$log" || true) | tail -n 1 | cut -d' ' -f2)"
  printf '%-26s %12s %8s %8s %s\n' "$target" "${runs:-?}" "${cov:-?}" "${ft:-?}" "$result"
  if [ "$result" != ok ]; then
    status=1
    tail -n 60 "$log"
  fi
done < "$build/fuzz-targets.txt"
echo "sanitizers: build $((built - start)) s, tests $((tested - built)) s, fuzzing $((SECONDS - tested)) s"
exit $status
