#!/usr/bin/python3
"""A1111 1.9.4's old emphasis (sd_hijack_clip_old.process_text_old, with enable_emphasis on) over the
independent CLIP BPE of clip_bpe_reference.py: the bracket weights of the vocabulary's tokens
(FrozenCLIPEmbedderWithCustomWords.token_mults), then one 77-token window per prompt.

usage: old_emphasis_reference.py VOCAB.txt.gz INPUT OUTPUT
INPUT has one hex-encoded UTF-8 prompt per line; OUTPUT gets per line the 77 token ids, a "|", and
the 77 multipliers as float32 values (repr of the float).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_bpe_reference import load_tokenizer  # noqa: E402

START, END, MAXLEN = 49406, 49407, 77


def token_mults(vocab):
    out = {}
    for ident, text in enumerate(vocab):
        mult = 1.0
        for c in text:
            if c == '[':
                mult /= 1.1
            if c == ']':
                mult *= 1.1
            if c == '(':
                mult *= 1.1
            if c == ')':
                mult /= 1.1
        if mult != 1.0:
            out[ident] = mult
    return out


def process_text_old(tokens, mults):
    remade, multipliers, mult = [], [], 1.0
    for token in tokens:
        change = mults.get(token)
        if change is not None:
            mult *= change
        else:
            remade.append(token)
            multipliers.append(mult)
    remade = remade + [END] * (MAXLEN - 2 - len(remade))
    remade = [START] + remade[0:MAXLEN - 2] + [END]
    multipliers = multipliers + [1.0] * (MAXLEN - 2 - len(multipliers))
    multipliers = [1.0] + multipliers[0:MAXLEN - 2] + [1.0]
    return remade, np.asarray(multipliers, dtype=np.float32)  # torch.asarray of Python floats


def main():
    vocab_path, in_path, out_path = sys.argv[1:4]
    encode, vocab = load_tokenizer(vocab_path)
    mults = token_mults(vocab)
    with open(in_path) as src, open(out_path, "w") as dst:
        for line in src:
            tokens, multipliers = process_text_old(encode(bytes.fromhex(line.strip()).decode("utf-8")), mults)
            dst.write(" ".join(map(str, tokens)) + "|" + " ".join(repr(float(m)) for m in multipliers) + "\n")


if __name__ == "__main__":
    main()
