#!/usr/bin/python3
"""Independent CLIP BPE (standard library only) for cross-checking the C++ tokenizer.

usage: clip_bpe_reference.py VOCAB.txt.gz INPUT OUTPUT
INPUT has one hex-encoded UTF-8 string per line; OUTPUT gets the space-separated ids per line.
The clean-up is whitespace collapse and lower-casing only (inputs avoid what ftfy would change).
"""
import gzip
import re
import sys
import unicodedata


def byte_encoder():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def category(ch):
    return unicodedata.category(ch)[0]


def words(text):
    out = []
    i = 0
    specials = ("<|startoftext|>", "<|endoftext|>")
    while i < len(text):
        special = next((s for s in specials if text.startswith(s, i)), None)
        if special:
            out.append(special)
            i += len(special)
            continue
        contraction = next((c for c in ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d") if text.startswith(c, i)), None)
        if contraction:
            out.append(contraction)
            i += len(contraction)
            continue
        ch = text[i]
        if category(ch) == "L":
            j = i
            while j < len(text) and category(text[j]) == "L":
                j += 1
            out.append(text[i:j])
            i = j
        elif category(ch) == "N":
            out.append(ch)
            i += 1
        elif ch.isspace():
            i += 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and category(text[j]) not in "LN":
                j += 1
            out.append(text[i:j])
            i = j
    return out


def load_tokenizer(vocab_path):
    """(encode, vocab): text → ids, and the vocabulary's spellings by id."""
    lines = gzip.open(vocab_path).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:48895]]
    enc = byte_encoder()
    vocab = [enc[b] for b in enc] + [enc[b] + "</w>" for b in enc]
    vocab += ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    ids = {tok: i for i, tok in enumerate(vocab)}
    ranks = {m: i for i, m in enumerate(merges)}

    def bpe(token):
        if token in ("<|startoftext|>", "<|endoftext|>"):
            return [token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = [(ranks.get(p, 1 << 30), k) for k, p in enumerate(zip(word, word[1:]))]
            rank, _ = min(pairs)
            if rank == 1 << 30:
                break
            first, second = merges[rank]
            merged, k = [], 0
            while k < len(word):
                if k + 1 < len(word) and word[k] == first and word[k + 1] == second:
                    merged.append(first + second)
                    k += 2
                else:
                    merged.append(word[k])
                    k += 1
            word = merged
        return word

    def encode(raw):
        out = []
        # Special tokens spelled exactly are split off first, as HF's added-token split does.
        for piece in re.split(r"(<\|startoftext\|>|<\|endoftext\|>)", raw):
            if piece in ("<|startoftext|>", "<|endoftext|>"):
                out.append(ids[piece])
                continue
            text = re.sub(r"\s+", " ", piece).strip().lower()
            for w in words(text):
                mapped = "".join(enc[b] for b in w.encode("utf-8"))
                out += [ids.get(t, 49407) for t in bpe(mapped)]
        return out

    return encode, vocab


def main():
    vocab_path, in_path, out_path = sys.argv[1:4]
    encode, _ = load_tokenizer(vocab_path)
    with open(in_path) as src, open(out_path, "w") as dst:
        for line in src:
            raw = bytes.fromhex(line.strip()).decode("utf-8")
            dst.write(" ".join(map(str, encode(raw))) + "\n")


if __name__ == "__main__":
    main()
