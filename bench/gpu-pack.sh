#!/usr/bin/env bash
# Stages what bench/gpu-check.sh needs on the GPU machine, which has torch 2.11 (cu130) but none of
# sdworker's other libraries: the stripped program and the Debian libraries it links, into the
# ignored folder .gpu/ (to be carried with the working tree: keep it under 64 MiB).
#   bench/gpu-pack.sh [build/app/sdworker]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary="${1:-$root/build/app/sdworker}"
dest="$root/.gpu"
rm -rf "$dest" && mkdir -p "$dest/lib"
strip -o "$dest/sdworker" "$binary"
# Every library the program links except torch's own, CUDA's and the C runtime's.
ldd "$binary" | awk '$3 ~ /^\// {print $3}' | grep -v -E '/(torch|nvidia)/|/(libc|libm|libdl|libpthread|librt|libutil|libgcc_s)\.so' |
  while read -r lib; do cp -L "$lib" "$dest/lib/"; done
strip --strip-unneeded "$dest"/lib/*.so* 2>/dev/null || true
# The CLIP vocabulary as a file (models/clip holds a link, which is not carried).
cp -L "$root/models/clip/bpe_simple_vocab_16e6.txt.gz" "$dest/"
du -sh "$dest"
