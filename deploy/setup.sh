#!/usr/bin/env bash
# Set-up for a fresh Debian 12 machine: system packages, the CLIP tokenizer files, and the build.
#   deploy/setup.sh            install (if missing), fetch the tokenizer, configure and build into build/
#   SDW_SKIP_APT=1 ...         skip the package step (images that already have them)
#   SDW_BUILD_DIR=dir ...      build somewhere else
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${SDW_BUILD_DIR:-$root/build}"

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libcaf-dev libtorch-dev libopenblas0-openmp
  libsimdjson-dev libcpprest-dev libssl-dev libpng-dev zlib1g-dev
  libboost-test-dev libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev libicu-dev
  python3-torch python3-numpy curl ca-certificates
)
# Node and npm run the RunPod JavaScript client test (tests/js); a machine with its own node keeps it.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

sudo_cmd=()
if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi

if [ -z "${SDW_SKIP_APT:-}" ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi

# The CLIP BPE merges. A checkout beside ../shared (development, CI) uses that copy; a deployment
# downloads the file once into models/clip/.
"$root/deploy/fetch-tokenizer.sh"

# RunPod's JavaScript client for the client test, pinned by tests/js/package-lock.json, into the
# ignored tests/js/node_modules/.
(cd "$root/tests/js" && npm ci --no-audit --no-fund)

cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
ninja -C "$build_dir" -j"$(nproc)"
echo "setup: built $build_dir/actors/sdworker"
