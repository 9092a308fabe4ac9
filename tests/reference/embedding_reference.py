"""Textual-inversion embeddings in the CLIP conditioning, written independently of sdworker from
A1111 1.9.4: tokenize_line (an embedding's name found by its token ids, longest name first; its
vectors placed whole in a 75-token chunk, which is closed early when they do not fit; the comma
backtrack), EmbeddingsWithFixes (the vectors replace the token embeddings at chunk offset + 1), the
CLIP text model over the checkpoint's weights, and emphasis "Original".

Usage: embedding_reference.py SPEC.json
SPEC: {"checkpoint", "heads", "vocab", "embeddings": {name: file}, "comma_padding_backtrack",
       "prompts": [[[text, weight], ...], ...], "out": prefix}
The prompts come already split into emphasis segments (text "BREAK" with weight -1 is BREAK).
Writes the conditioning [77 * chunks, width] of prompt i as raw float32 to "<prefix>.<i>".
"""
import json
import os
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sd1_reference as R  # noqa: E402

BPE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime", "clip_bpe_reference.py")
START, END, CHUNK = 49406, 49407, 75


def tokenize(vocab, texts):
    """Token ids of each text, by the standalone BPE reference."""
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.txt"), os.path.join(d, "out.txt")
        with open(src, "w") as f:
            for t in texts:
                f.write(t.encode("utf-8").hex() + "\n")
        subprocess.run([sys.executable, BPE, vocab, src, dst], check=True)
        with open(dst) as f:
            return [[int(x) for x in line.split()] for line in f.read().split("\n")[: len(texts)]]


def load_embedding(path):
    if path.endswith(".safetensors"):
        data = R.load_safetensors(path)
    else:
        data = torch.load(path, map_location="cpu", weights_only=True)
    if "string_to_param" in data:
        (vec,) = data["string_to_param"].values()
    else:
        (vec,) = data.values()
        if vec.dim() == 1:
            vec = vec.unsqueeze(0)
    return vec.float()


def chunks_of(segments, lookup, tokens_of, backtrack):
    """A1111's tokenize_line: [(tokens, multipliers, fixes)] with fixes [(offset, vectors)]."""
    chunks = []
    cur = {"t": [], "m": [], "f": []}
    state = {"comma": -1}

    def close():
        pad = CHUNK - len(cur["t"])
        if pad > 0:
            cur["t"] += [END] * pad
            cur["m"] += [1.0] * pad
        chunks.append(([START] + cur["t"] + [END], [1.0] + cur["m"] + [1.0], cur["f"]))
        state["comma"] = -1
        return {"t": [], "m": [], "f": []}

    for (text, weight), tokens in zip(segments, tokens_of):
        if text == "BREAK" and weight == -1:
            cur = close()
            continue
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok == 267:
                state["comma"] = len(cur["t"])
            elif backtrack != 0 and len(cur["t"]) == CHUNK and state["comma"] != -1 and len(cur["t"]) - state["comma"] <= backtrack:
                cut = state["comma"] + 1
                moved_t, moved_m = cur["t"][cut:], cur["m"][cut:]
                cur["t"], cur["m"] = cur["t"][:cut], cur["m"][:cut]
                cur = close()
                cur["t"], cur["m"] = moved_t, moved_m
            if len(cur["t"]) == CHUNK:
                cur = close()
            match = next(((ids, vec) for ids, vec in lookup.get(tok, []) if tokens[i:i + len(ids)] == ids), None)
            if match is None:
                cur["t"].append(tok)
                cur["m"].append(weight)
                i += 1
                continue
            ids, vec = match
            n = vec.shape[0]
            if len(cur["t"]) + n > CHUNK:
                cur = close()
            cur["f"].append((len(cur["t"]), vec))
            cur["t"] += [0] * n
            cur["m"] += [weight] * n
            i += len(ids)
    if cur["t"] or not chunks:
        close()
    return chunks


def encode_chunk(tokens, fixes, heads):
    p = "cond_stage_model.transformer.text_model."
    ids = torch.tensor([tokens])
    x = R.SD[p + "embeddings.token_embedding.weight"][ids].clone()
    for offset, vec in fixes:
        n = min(x.shape[1] - offset - 1, vec.shape[0])
        x[0, offset + 1:offset + 1 + n] = vec[:n]
    x = x + R.SD[p + "embeddings.position_embedding.weight"][: x.shape[1]]
    mask = torch.full((x.shape[1], x.shape[1]), float("-inf")).triu(1)
    i = 0
    while f"{p}encoder.layers.{i}.layer_norm1.weight" in R.SD:
        q = f"{p}encoder.layers.{i}."
        h = R.ln(x, q + "layer_norm1")
        x = x + R.lin(R.mha(R.lin(h, q + "self_attn.q_proj"), R.lin(h, q + "self_attn.k_proj"),
                            R.lin(h, q + "self_attn.v_proj"), heads, mask), q + "self_attn.out_proj")
        h = R.lin(R.ln(x, q + "layer_norm2"), q + "mlp.fc1")
        x = x + R.lin(h * torch.sigmoid(1.702 * h), q + "mlp.fc2")
        i += 1
    return R.ln(x, p + "final_layer_norm")[0]


def main():
    spec = json.load(open(sys.argv[1]))
    R.SD.update(R.load_safetensors(spec["checkpoint"]))
    names = list(spec["embeddings"])
    name_ids = tokenize(spec["vocab"], names)
    lookup = {}
    for name, ids in zip(names, name_ids):
        lookup.setdefault(ids[0], []).append((ids, load_embedding(spec["embeddings"][name])))
    for first in lookup:
        lookup[first].sort(key=lambda x: len(x[0]), reverse=True)
    torch.set_num_threads(2)
    with torch.no_grad():
        for k, segments in enumerate(spec["prompts"]):
            tokens_of = tokenize(spec["vocab"], [t for t, _ in segments])
            zs = []
            for tokens, mults, fixes in chunks_of(segments, lookup, tokens_of, spec["comma_padding_backtrack"]):
                z = encode_chunk(tokens, fixes, spec["heads"])
                mean = z.mean()
                z = z * torch.tensor(mults)[:, None]
                z = z * (mean / z.mean())
                zs.append(z)
            torch.cat(zs).numpy().astype("<f4").tofile(f"{spec['out']}.{k}")


if __name__ == "__main__":
    main()
