#!/usr/bin/env bash
# Set-up for a fresh Debian 12 machine: system packages, the Python environment with the pinned
# torch (whose libtorch sdworker links), the CLIP tokenizer files, and the build.
#   deploy/setup.sh            install (if missing), fetch the tokenizer, configure and build into build/
#   SDW_SKIP_APT=1 ...         skip the package step (images that already have them)
#   SDW_BUILD_DIR=dir ...      build somewhere else
#   SDW_VENV=dir ...           the Python environment (default .venv/ in the checkout)
#   SDW_IMAGE=1 ...            the Docker image's build: torch only, and only the sdworker binary
#   SDW_SKIP_BUILD=1 ...       packages and the Python environment only
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${SDW_BUILD_DIR:-$root/build}"
venv="${SDW_VENV:-$root/.venv}"

# libtorch comes from the torch wheel (deploy/requirements.txt), not from Debian.
packages=(
  build-essential cmake ninja-build ccache pkg-config
  libcaf-dev libsimdjson-dev libcpprest-dev libssl-dev libpng-dev zlib1g-dev
  libjpeg-dev libwebp-dev libexif-dev
  libboost-test-dev libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev libicu-dev
  python3 python3-venv curl ca-certificates
)

# shellcheck source=deploy/apt-packages.sh
. "$root/deploy/apt-packages.sh"
install_missing_packages setup "${packages[@]}"

# The Python environment: torch (its libtorch, with CUDA, is what sdworker builds against), the
# test references and RunPod's SDK; then the packages whose declared dependencies must not come
# along (requirements-nodeps.txt). Reinstalled only when the pins of either file change.
stamp="$venv/.sdw-requirements"
if [ -n "${SDW_IMAGE:-}" ]; then
  pins="$(grep '^torch==' "$root/deploy/requirements.txt")"
else
  pins="$(cat "$root/deploy/requirements.txt" "$root/deploy/requirements-nodeps.txt")"
fi
if [ ! -x "$venv/bin/python" ] || [ "$pins" != "$(cat "$stamp" 2>/dev/null)" ]; then
  echo "setup: Python environment in $venv (torch and the test references; a few GB the first time)"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  if [ -n "${SDW_IMAGE:-}" ]; then
    "$venv/bin/pip" install -q --disable-pip-version-check --no-cache-dir "$pins"
  else
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/deploy/requirements.txt"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$root/deploy/requirements-nodeps.txt"
  fi
  printf '%s' "$pins" > "$stamp"
fi

[ -n "${SDW_SKIP_BUILD:-}" ] && exit 0

# The CLIP BPE merges. A checkout beside ../shared (development, CI) uses that copy; a deployment
# downloads the file once into models/clip/.
"$root/deploy/fetch-tokenizer.sh"

# ccache shares objects between checkouts in different folders (CI builds a fresh clone).
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSDW_PYTHON="$venv/bin/python"
targets=()
[ -n "${SDW_IMAGE:-}" ] && targets=(sdworker)
ninja -C "$build_dir" -j"$(nproc)" "${targets[@]}"
echo "setup: built $build_dir/app/sdworker"
