#!/usr/bin/env bash
# Puts the CLIP tokenizer's BPE merges at models/clip/bpe_simple_vocab_16e6.txt.gz (or $SDW_CLIP_VOCAB).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${SDW_CLIP_VOCAB:-$root/models/clip/bpe_simple_vocab_16e6.txt.gz}"
url="https://github.com/openai/CLIP/raw/main/clip/bpe_simple_vocab_16e6.txt.gz"

[ -s "$target" ] && exit 0
mkdir -p "$(dirname "$target")"
for candidate in "$root/../shared/clip/bpe_simple_vocab_16e6.txt.gz" /usr/share/sdworker/bpe_simple_vocab_16e6.txt.gz; do
  if [ -s "$candidate" ]; then
    ln -sf "$(realpath "$candidate")" "$target"
    echo "tokenizer: using $candidate"
    exit 0
  fi
done
echo "tokenizer: downloading $url"
curl -fsSL --retry 3 -o "$target.part" "$url" && mv "$target.part" "$target" || {
  rm -f "$target.part"
  echo "tokenizer: could not download $url; put the file at $target or set SDW_CLIP_VOCAB" >&2
  exit 1
}
