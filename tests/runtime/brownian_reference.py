"""Reference values for brownian_tree_test from numpy and torchsde (PyPI torchsde, pinned in
deploy/requirements.txt): numpy SeedSequence states, Python's round(x, 6), and torchsde
BrownianTree increments for a grid of seeds, shapes, intervals and queries, with torchsde's own
draws (= A1111's CPU source) and with A1111's NV source hijacked in as A1111 does it.

usage: brownian_reference.py OUTDIR
writes OUTDIR/seed_sequence.txt (entropy|spawn key entries|pool size|words...), OUTDIR/round.txt
(x.hex() round(x, 6).hex()), OUTDIR/trees.txt (case|source|seed|shape|t0|t1|queries as a:b float
hex pairs) and per case OUTDIR/<case>.bin (the increments, one query after another, float32).
"""
import os
import random
import sys
import warnings

import numpy as np
import torch
import torchsde
import torchsde._brownian.brownian_interval as brownian_interval

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rng_reference import philox_randn  # noqa: E402

TORCHSDE_RANDN = brownian_interval._randn


def randn_local(source, seed, shape):
    """A1111's devices.randn_local on a CPU machine (the GPU source draws on the CPU there)."""
    if source == 'NV':
        return torch.asarray(philox_randn(int(seed), 0, tuple(shape)))
    return torch.randn(shape, device='cpu', generator=torch.Generator('cpu').manual_seed(int(seed)))


def use_source(source):
    """A1111 replaces torchsde's _randn with randn_local; 'torchsde' keeps torchsde's own."""
    if source == 'torchsde':
        brownian_interval._randn = TORCHSDE_RANDN
    else:
        brownian_interval._randn = lambda size, dtype, device, seed: \
            randn_local(source, seed, size).to(device=device, dtype=dtype)


def f32(x):
    return float(np.float32(x))


def karras(n, smin=0.0291675, smax=14.614642, rho=7.0):
    ramp = torch.linspace(0, 1, n)
    s = (smax ** (1 / rho) + ramp * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
    return torch.cat([s, s.new_zeros([1])])


def sde_queries(sigmas):
    """The (low, high) times k-diffusion's samplers ask for: steps, and DPM++ SDE's half steps."""
    out = []
    for i in range(len(sigmas) - 2):
        s, sn = sigmas[i], sigmas[i + 1]
        out.append((sn.item(), s.item()))
        t, tn = -s.log(), -sn.log()
        half = t + (tn - t) * 0.5
        out.append(((-half).exp().item(), (-t).exp().item()))
        out.append(((-tn).exp().item(), (-t).exp().item()))
    return out


def seed_sequence_cases():
    entropies = [0, 1, 12345, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, 2 ** 40 + 7, 2 ** 63 - 2, 2 ** 64 - 1]
    keys = [(), (0, 0), (1, 1), (5, 2), (2 ** 31, 31), (2 ** 33 + 1, 33), (2 ** 70 + 3, 70)]
    for e in entropies:
        for k in keys:
            for pool in (4, 24):
                yield e, k, pool, 6


def round_values():
    vals = [0.0291675, 14.614642, 14.614642143249512, 0.5078125, 0.0078125, 1.0000005, 2.5e-7, 7.2998046875,
            0.0000015, 123.4567895, 3.999999999]
    sig = karras(40)
    vals += [v.item() for v in sig[:-1]]
    vals += [(a + b) * 0.5 for a, b in zip(vals[:-1], vals[1:])]
    vals += [k / 128 + m for k in range(1, 128, 2) for m in (0, 3)]  # exact ties at the 7th decimal
    rng = random.Random(5)
    vals += [rng.uniform(0, 20) for _ in range(200)]
    return vals


def tree_cases():
    sig = karras(10)
    smin, smax = sig[-2].item(), sig[0].item()
    steps = sde_queries(sig)
    clamped = [(smin, np.nextafter(np.float32(smax), np.float32(100)).item()),
               (np.nextafter(np.float32(smin), np.float32(0)).item(), f32(1.5))]
    spans = [(smin, smax), (f32(0.5), f32(3.0)), (f32(1.0), f32(1.0)), (f32(0.2), f32(0.2000015))]
    exp8 = torch.linspace(np.log(smax), np.log(smin), 8).exp()
    exp_steps = [(exp8[i + 1].item(), exp8[i].item()) for i in range(7)]
    cases = []
    for source in ('torchsde', 'NV'):
        for seed in (0, 1, 12345, 4294967295, 2 ** 32 + 5, 2 ** 63 - 2):
            for shape in ((4, 5, 6), (3,), (2, 4, 8, 8)):
                if shape == (2, 4, 8, 8) and seed not in (1, 2 ** 63 - 2):
                    continue
                cases.append((source, seed, shape, smin, smax, steps + clamped + spans))
        cases.append((source, 77, (4, 5, 6), exp8[-1].item(), exp8[0].item(), exp_steps))
        cases.append((source, 5, (), f32(0.1), f32(10.0), [(f32(0.1), f32(10.0)), (f32(2.0), f32(2.5))]))
    return cases


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    warnings.simplefilter('ignore')  # torchsde warns about the clamped queries

    with open(os.path.join(out, 'seed_sequence.txt'), 'w') as f:
        for e, key, pool, n in seed_sequence_cases():
            words = np.random.SeedSequence(e, spawn_key=key, pool_size=pool).generate_state(n)
            f.write(f"{e}|{','.join(map(str, key))}|{pool}|{' '.join(map(str, words))}\n")

    with open(os.path.join(out, 'round.txt'), 'w') as f:
        for v in round_values():
            f.write(f'{v.hex()} {round(v, 6).hex()}\n')

    with open(os.path.join(out, 'trees.txt'), 'w') as f:
        for n, (source, seed, shape, t0, t1, queries) in enumerate(tree_cases()):
            use_source(source)
            # The same queries in their order and shuffled, each on a fresh tree: equal values.
            for order in ('in_order', 'shuffled'):
                qs = list(queries)
                if order == 'shuffled':
                    random.Random(n).shuffle(qs)
                tree = torchsde.BrownianTree(torch.tensor(t0), torch.zeros(shape), torch.tensor(t1), entropy=seed)
                ws = [tree(torch.tensor(a), torch.tensor(b)) for a, b in qs]
                case = f'tree{n}_{order}'
                torch.stack(ws).numpy().astype('<f4').tofile(os.path.join(out, case + '.bin'))
                q = ','.join(f'{a.hex()}:{b.hex()}' for a, b in qs)
                dims = ','.join(map(str, shape))
                f.write(f'{case}|{source}|{seed}|{dims}|{t0.hex()}|{t1.hex()}|{q}\n')
    use_source('torchsde')


if __name__ == '__main__':
    main()
