"""Reference runs for sde_samplers_test: k-diffusion's own SDE samplers (PyPI k-diffusion 0.0.16 =
the commit A1111 1.9.4 pins) with the noise sampler A1111 1.9.4 builds for them and its torchsde
hijack, driven by samplers_test's analytic model (sampler_reference.py).

usage: sde_sampler_reference.py OUTDIR
writes OUTDIR/x0.bin (the unit noise of the largest batch), OUTDIR/manifest.txt
(case|sampler|scheduler|steps|eta|s_noise|source|no_batch_determinism|seeds) and per case
OUTDIR/<case>.sigmas.bin and OUTDIR/<case>.x.bin.
"""
import importlib.util
import os
import sys
import types
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from brownian_reference import use_source  # noqa: E402
from sampler_reference import Counters  # noqa: E402
from schedule_reference import Schedule, make_sigmas, sd1_alphas_cumprod  # noqa: E402


def load_kdiffusion_sampling():
    """k_diffusion.sampling without the package's __init__, which imports its training stack. Of
    k_diffusion.utils the samplers use only tensor helpers; the image libraries utils imports at
    the top (PIL, torchvision) are not installed (requirements-nodeps.txt) and get empty stand-ins."""
    spec = importlib.util.find_spec('k_diffusion')
    if spec is None:
        sys.exit('k-diffusion is not installed (deploy/setup.sh installs deploy/requirements-nodeps.txt)')
    package = types.ModuleType('k_diffusion')
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules['k_diffusion'] = package
    for names in (['PIL', 'PIL.Image'], ['torchvision', 'torchvision.transforms', 'torchvision.transforms.functional']):
        if importlib.util.find_spec(names[0]) is None:
            for name in names:
                sys.modules[name] = types.ModuleType(name)
                parent, _, leaf = name.rpartition('.')
                if parent:
                    setattr(sys.modules[parent], leaf, sys.modules[name])
    import k_diffusion.sampling as sampling
    return sampling


K = load_kdiffusion_sampling()

SAMPLERS = {
    'DPM++ SDE': lambda m, x, s, **kw: K.sample_dpmpp_sde(m, x, s, disable=True, **kw),
    'DPM++ 2M SDE': lambda m, x, s, **kw: K.sample_dpmpp_2m_sde(m, x, s, disable=True, **kw),
    'DPM++ 2M SDE Heun': lambda m, x, s, **kw: K.sample_dpmpp_2m_sde(m, x, s, disable=True, solver_type='heun', **kw),
    'DPM++ 3M SDE': lambda m, x, s, **kw: K.sample_dpmpp_3m_sde(m, x, s, disable=True, **kw),
}
DISCARD = {'DPM++ 3M SDE'}
SHAPE = (4, 8, 8)

CASES = [
    # case, sampler, scheduler, steps, eta, s_noise, source, no_batch_determinism, seeds
    ('sde', 'DPM++ SDE', 'karras', 8, 1.0, 1.0, 'CPU', 0, [1234, 1235]),
    ('sde_nv', 'DPM++ SDE', 'karras', 6, 1.0, 1.0, 'NV', 0, [77]),
    ('sde_eta', 'DPM++ SDE', 'exponential', 7, 0.6, 1.1, 'CPU', 0, [4294967295]),
    ('sde_eta0', 'DPM++ SDE', 'karras', 5, 0.0, 1.0, 'CPU', 0, [5]),
    ('2m_sde', 'DPM++ 2M SDE', 'exponential', 10, 1.0, 1.0, 'CPU', 0, [1234, 1235]),
    ('2m_sde_karras_nv', 'DPM++ 2M SDE', 'karras', 9, 1.0, 1.0, 'NV', 0, [31337, 31338]),
    ('2m_sde_uniform', 'DPM++ 2M SDE', 'uniform', 8, 0.5, 0.9, 'GPU', 0, [0]),
    ('2m_sde_heun', 'DPM++ 2M SDE Heun', 'exponential', 8, 1.0, 1.0, 'CPU', 0, [1234, 1235]),
    ('2m_sde_heun_nv', 'DPM++ 2M SDE Heun', 'karras', 12, 1.0, 1.0, 'NV', 0, [2 ** 32 + 3]),
    ('3m_sde', 'DPM++ 3M SDE', 'exponential', 10, 1.0, 1.0, 'CPU', 0, [1234, 1235]),
    ('3m_sde_nv', 'DPM++ 3M SDE', 'karras', 9, 0.7, 1.0, 'NV', 0, [99]),
    # Option no_dpmpp_sde_batch_determinism: k-diffusion's own tree over the whole batch, seeded
    # from the global generator that ImageRNG.first() last seeded with the batch's last seed (with
    # NV A1111 leaves that generator unseeded; sdworker, and so this reference, seeds it the same way).
    ('sde_no_determinism', 'DPM++ SDE', 'karras', 6, 1.0, 1.0, 'CPU', 1, [1234, 1235]),
    ('2m_sde_no_determinism_nv', 'DPM++ 2M SDE', 'exponential', 8, 1.0, 1.0, 'NV', 1, [40, 41]),
    ('3m_sde_no_determinism', 'DPM++ 3M SDE', 'exponential', 8, 1.0, 1.0, 'GPU', 1, [7]),
]


def unit_noise(batch):
    g = torch.Generator().manual_seed(2024)
    return torch.randn((batch,) + SHAPE, generator=g)


def main():
    out = sys.argv[1]
    warnings.simplefilter('ignore')  # torchsde warns about queries it clamps to its rounded ends
    os.makedirs(out, exist_ok=True)
    sch = Schedule(sd1_alphas_cumprod())
    x0 = unit_noise(2)
    x0.numpy().astype('<f4').tofile(os.path.join(out, 'x0.bin'))
    with open(os.path.join(out, 'manifest.txt'), 'w') as f:
        for case, name, kind, steps, eta, s_noise, source, no_det, seeds in CASES:
            use_source(source)  # A1111's _randn hijack: randn_local with the option's source
            sigmas = make_sigmas(sch, kind, steps, discard=name in DISCARD)
            x = x0[:len(seeds)] * sigmas[0]
            kw = dict(eta=eta, s_noise=s_noise)
            if no_det:
                torch.manual_seed(seeds[-1])
            else:
                # A1111's create_noise_sampler
                sigma_min, sigma_max = sigmas[sigmas > 0].min(), sigmas.max()
                kw['noise_sampler'] = K.BrownianTreeNoiseSampler(x, sigma_min, sigma_max, seed=seeds)
            m = Counters()
            x = SAMPLERS[name](lambda xx, s: m.denoise(xx, s), x, sigmas, **kw)
            sigmas.numpy().astype('<f4').tofile(os.path.join(out, case + '.sigmas.bin'))
            x.numpy().astype('<f4').tofile(os.path.join(out, case + '.x.bin'))
            f.write(f"{case}|{name}|{kind}|{steps}|{eta!r}|{s_noise!r}|{source}|{no_det}|"
                    f"{','.join(map(str, seeds))}\n")


if __name__ == '__main__':
    main()
