#!/usr/bin/env bash
# Builds the GPU image from the checkout's sources (its tracked and unignored files, as a clone has
# them) and runs its test job (worker-a1111's local mode: /test_input.json once), then
# `sdworker --version` in it. Where no Docker engine answers, says so and exits 2.
#   deploy/docker-smoke.sh [--gpus]     --gpus: run the job on the host's GPUs
#
# Where a registry the Dockerfile names cannot be reached, the build uses stand-ins made here from
# what can be, and says so:
# - debian:12 (Docker Hub): Debian 12 made by debootstrap from Debian's archive (apt's sources),
#   trusting the certificate authorities this machine adds;
# - NVIDIA's CUDA repository: that Debian with this machine's CUDA 13.0 toolkit (/usr/local/cuda-13.0)
#   as the build stage's image.
# Where this machine has the CLIP tokenizer file (../shared/clip or $SDW_CLIP_VOCAB), it goes into
# the build context, so the build does not download it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! docker info >/dev/null 2>&1; then
  echo "docker-smoke: no Docker engine answers here; the image was not built" >&2
  exit 2
fi
gpus=()
[ "${1:-}" = "--gpus" ] && gpus=(--gpus all)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
build_args=()

# --- the Debian 12 base -----------------------------------------------------------------------
base=debian:12
if ! docker image inspect "$base" >/dev/null 2>&1 && ! docker pull -q "$base" >/dev/null 2>&1; then
  base=sdworker-smoke/debian:12
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    echo "docker-smoke: debian:12 cannot be pulled; making $base with debootstrap"
    # shellcheck source=deploy/apt-packages.sh
    . "$root/deploy/apt-packages.sh"
    install_missing_packages docker-smoke debootstrap
    debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
      { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    # The sources of Docker Hub's debian:12 (release, updates, security).
    rm -f "$work/rootfs/etc/apt/sources.list"
    cat >"$work/rootfs/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # It trusts the certificate authorities this machine adds (a TLS-inspecting proxy's, say), and
    # pip uses the system's store, which ca-certificates builds from them once installed.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
      mkdir -p "$work/rootfs/usr/local/share/ca-certificates"
      cp /usr/local/share/ca-certificates/*.crt "$work/rootfs/usr/local/share/ca-certificates/"
      printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$work/rootfs/etc/pip.conf"
    fi
    rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/archives/"*.deb
    tar -C "$work/rootfs" -c . | docker import - "$base" >/dev/null
    rm -rf "$work/rootfs"
  fi
  build_args+=(--build-arg "DEBIAN_IMAGE=$base")
fi
build_image="$base"

# --- the CUDA toolkit for the build stage ---------------------------------------------------------
cuda_repo=https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/
if ! curl -fsS -m 15 -o /dev/null "$cuda_repo" 2>/dev/null; then
  toolkit=/usr/local/cuda-13.0
  if [ ! -x "$toolkit/bin/nvcc" ]; then
    echo "docker-smoke: NVIDIA's CUDA repository cannot be reached and $toolkit has no nvcc" >&2
    exit 1
  fi
  build_image=sdworker-smoke/cuda-build:13.0
  if ! docker image inspect "$build_image" >/dev/null 2>&1; then
    echo "docker-smoke: NVIDIA's CUDA repository cannot be reached; $build_image is $base with $toolkit"
    mkdir -p "$work/cuda"
    printf 'FROM %s\nCOPY cuda-13.0 /usr/local/cuda-13.0\nRUN ln -s cuda-13.0 /usr/local/cuda\n' "$base" >"$work/cuda/Dockerfile"
    tar -c -C "$work/cuda" Dockerfile -C "$(dirname "$toolkit")" "$(basename "$toolkit")" |
      docker build -q -t "$build_image" - >/dev/null
  fi
fi
build_args+=(--build-arg "BUILD_IMAGE=$build_image")

# --- the context: the sources as a clone has them -------------------------------------------------
mkdir -p "$work/context"
git -C "$root" ls-files -z --cached --others --exclude-standard |
  (cd "$root" && xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' _) |
  tar -C "$root" --null -T - -c | tar -C "$work/context" -x
for vocab in "${SDW_CLIP_VOCAB:-}" "$root/../shared/clip/bpe_simple_vocab_16e6.txt.gz"; do
  if [ -n "$vocab" ] && [ -s "$vocab" ]; then
    mkdir -p "$work/context/models/clip"
    cp -L "$vocab" "$work/context/models/clip/bpe_simple_vocab_16e6.txt.gz"
    break
  fi
done

echo "docker-smoke: building sdworker:smoke (${build_args[*]})"
docker build "${build_args[@]}" -t sdworker:smoke "$work/context"
out="$(docker run --rm "${gpus[@]}" sdworker:smoke)"
printf '%.400s\n' "$out"
case "$out" in
*'"output"'*) ;;
*) echo "docker-smoke: the test job gave no output" >&2; exit 1 ;;
esac
docker run --rm "${gpus[@]}" sdworker:smoke --version
echo "docker-smoke: image built and its test job answered"
