"""Reference noise for rng_test: torch CPU generators, A1111's ImageRNG logic (CPU source) and a
numpy Philox4x32-10 port of the NV source.

usage: rng_reference.py OUTDIR   -> OUTDIR/<case>.bin (float32 LE)
"""
import os
import sys

import numpy as np
import torch


def save(out, name, t):
    np.asarray(t, dtype=np.float32).astype('<f4').tofile(os.path.join(out, name + '.bin'))


# --- NV: Philox4x32-10, counter (offset, 0, index, 0), key = seed, Box-Muller first output -------
M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = np.uint32(0x9E3779B9), np.uint32(0xBB67AE85)


def philox_randn(seed, offset, shape):
    n = int(np.prod(shape))
    c0 = np.full(n, offset, dtype=np.uint32)
    c1 = np.zeros(n, dtype=np.uint32)
    c2 = np.arange(n, dtype=np.uint32)
    c3 = np.zeros(n, dtype=np.uint32)
    k0 = np.full(n, seed & 0xFFFFFFFF, dtype=np.uint32)
    k1 = np.full(n, (seed >> 32) & 0xFFFFFFFF, dtype=np.uint32)
    for r in range(10):
        if r:
            k0 = k0 + W0
            k1 = k1 + W1
        p0 = c0.astype(np.uint64) * M0
        p2 = c2.astype(np.uint64) * M1
        hi0, lo0 = (p0 >> np.uint64(32)).astype(np.uint32), (p0 & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        hi2, lo2 = (p2 >> np.uint64(32)).astype(np.uint32), (p2 & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        c0, c1, c2, c3 = hi2 ^ c1 ^ k0, lo2, hi0 ^ c3 ^ k1, lo0
    a = np.array([2.3283064e-10], dtype=np.float32)
    b = np.array([2.3283064e-10 * 6.2831855], dtype=np.float32)
    u = c0 * a + a / 2
    v = c1 * b + b / 2
    return (np.sqrt(-2.0 * np.log(u)) * np.sin(v)).astype(np.float32).reshape(shape)


# --- CPU source, A1111 ImageRNG ---------------------------------------------------------------
def fresh(seed, shape):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def slerp(val, low, high):
    low_n = low / torch.norm(low, dim=1, keepdim=True)
    high_n = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_n * high_n).sum(1)
    if dot.mean() > 0.9995:
        return low * val + high * (1 - val)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - val) * omega) / so).unsqueeze(1) * low + (torch.sin(val * omega) / so).unsqueeze(1) * high


def image_rng_first(shape, seeds, subseeds, strength, from_h, from_w):
    noise_shape = shape if from_h <= 0 or from_w <= 0 else (shape[0], from_h // 8, from_w // 8)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    xs = []
    for i, (seed, gen) in enumerate(zip(seeds, gens)):
        sub = None
        if strength != 0:
            sub = fresh(subseeds[i] if i < len(subseeds) else 0, noise_shape)
        noise = fresh(seed, noise_shape) if noise_shape != shape else torch.randn(shape, generator=gen)
        if sub is not None:
            noise = slerp(strength, noise, sub)
        if noise_shape != shape:
            x = torch.randn(shape, generator=gen)
            dx = (shape[2] - noise_shape[2]) // 2
            dy = (shape[1] - noise_shape[1]) // 2
            w = noise_shape[2] if dx >= 0 else noise_shape[2] + 2 * dx
            h = noise_shape[1] if dy >= 0 else noise_shape[1] + 2 * dy
            tx, ty = max(dx, 0), max(dy, 0)
            dx, dy = max(-dx, 0), max(-dy, 0)
            x[:, ty:ty + h, tx:tx + w] = noise[:, dy:dy + h, dx:dx + w]
            noise = x
        xs.append(noise)
    return torch.stack(xs), gens


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for seed in (12345, 777, 2**32 + 777):
        g = torch.Generator().manual_seed(seed)
        a = torch.randn(4, 8, 8, generator=g)
        b = torch.randn(4, 8, 8, generator=g)
        save(out, f'cpu_{seed}', torch.stack([a, b]))
    save(out, 'nv_0_0_3x4', philox_randn(0, 0, (3, 4)))
    save(out, 'nv_123456789012_1_4x5x6', philox_randn(123456789012, 1, (4, 5, 6)))
    save(out, 'nv_42_0_4x8x8', philox_randn(42, 0, (4, 8, 8)))
    save(out, 'nv_42_1_4x8x8', philox_randn(42, 1, (4, 8, 8)))

    shape = (4, 8, 8)
    x, _ = image_rng_first(shape, [100, 101], [200, 201], 0.3, 0, 0)
    save(out, 'variation_0.3', x)
    x, _ = image_rng_first(shape, [100, 101], [200], 0.6, 0, 0)
    save(out, 'variation_short_subseeds', x)
    x, _ = image_rng_first(shape, [5, 5], [5, 5], 0.25, 0, 0)
    save(out, 'variation_same_seed', x)
    x, gens = image_rng_first(shape, [100, 101], [], 0.0, 48, 80)
    save(out, 'resize_48x80', x)
    save(out, 'resize_48x80_next', torch.stack([torch.randn(shape, generator=g) for g in gens]))
    x, _ = image_rng_first(shape, [9], [19], 0.5, 40, 88)
    save(out, 'resize_40x88_variation', x)
    x, _ = image_rng_first(shape, [3, 4], [], 0.0, 0, 0)
    ensd = [torch.Generator().manual_seed(s + 31337) for s in (3, 4)]
    save(out, 'ensd_next', torch.stack([torch.randn(shape, generator=g) for g in ensd]))


if __name__ == '__main__':
    main()
