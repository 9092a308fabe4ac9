"""Reference sigma schedules for noise_schedule_test: the ldm SD1 schedule and the k-diffusion /
A1111 1.9.4 scheduler formulas, recomputed with torch (CPU, float32 as k-diffusion does).

usage: schedule_reference.py OUTDIR   -> OUTDIR/manifest.txt and OUTDIR/<case>.bin (float32 LE)
"""
import math
import os
import sys

import numpy as np
import torch


def sd1_alphas_cumprod():
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    alphas = 1.0 - betas.numpy()
    return torch.tensor(np.cumprod(alphas, axis=0), dtype=torch.float32)


class Schedule:
    def __init__(self, alphas_cumprod):
        self.sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        self.log_sigmas = self.sigmas.log()

    def sigma_to_t(self, sigma):
        log_sigma = sigma.log()
        dists = log_sigma - self.log_sigmas[:, None]
        low_idx = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=self.log_sigmas.shape[0] - 2)
        high_idx = low_idx + 1
        low, high = self.log_sigmas[low_idx], self.log_sigmas[high_idx]
        w = ((low - log_sigma) / (low - high)).clamp(0, 1)
        return ((1 - w) * low_idx + w * high_idx).view(sigma.shape)

    def t_to_sigma(self, t):
        t = t.float()
        lo, hi, w = t.floor().long(), t.ceil().long(), t.frac()
        return ((1 - w) * self.log_sigmas[lo] + w * self.log_sigmas[hi]).exp()

    def get_sigmas(self, n):
        t = torch.linspace(len(self.sigmas) - 1, 0, n)
        return append_zero(self.t_to_sigma(t))


def zero_terminal_snr(alphas_cumprod):
    """A1111 1.9.4's rescale_zero_terminal_snr_abar (option sd_noise_schedule = "Zero Terminal SNR")."""
    root = alphas_cumprod.sqrt()
    first, last = root[0].clone(), root[-1].clone()
    root -= last
    root *= first / (first - last)
    out = root ** 2
    out[-1] = 4.8973451890853435e-08
    return out


class LcmSchedule(Schedule):
    """A1111 1.9.4's LCMCompVisDenoiser (sd_samplers_lcm.py): the timesteps 19, 39, ..., 999 of LCM's
    50-step original schedule as the sigma table; sigmas map to the nearest entry's model timestep."""
    SKIP = 20

    def __init__(self, alphas_cumprod):
        table = torch.zeros(50, dtype=torch.float32)
        for k in range(50):
            table[49 - k] = alphas_cumprod[999 - k * self.SKIP]
        super().__init__(table)

    def sigma_to_t(self, sigma):
        dists = sigma.log() - self.log_sigmas[:, None]
        return dists.abs().argmin(dim=0).view(sigma.shape) * self.SKIP + (self.SKIP - 1)

    def t_to_sigma(self, t):
        return super().t_to_sigma(torch.clamp(((t - (self.SKIP - 1)) / self.SKIP).float(), min=0, max=49))

    def get_sigmas(self, n):
        start, end = self.sigma_to_t(self.sigmas[-1]), self.sigma_to_t(self.sigmas[0])
        return append_zero(self.t_to_sigma(torch.linspace(start, end, n)))


def append_zero(x):
    return torch.cat([x, x.new_zeros([1])])


def karras(n, smin, smax, rho):
    ramp = torch.linspace(0, 1, n)
    lo, hi = smin ** (1 / rho), smax ** (1 / rho)
    return append_zero((hi + ramp * (lo - hi)) ** rho)


def exponential(n, smin, smax):
    return append_zero(torch.linspace(math.log(smax), math.log(smin), n).exp())


def polyexponential(n, smin, smax, rho):
    ramp = torch.linspace(1, 0, n) ** rho
    return append_zero(torch.exp(ramp * (math.log(smax) - math.log(smin)) + math.log(smin)))


def sgm_uniform(sch, n, smin, smax):
    start = sch.sigma_to_t(torch.tensor(smax))
    end = sch.sigma_to_t(torch.tensor(smin))
    sigs = [sch.t_to_sigma(ts) for ts in torch.linspace(start, end, n + 1)[:-1]]
    sigs += [0.0]
    return torch.FloatTensor(sigs)


DEFAULT_RHO = {'karras': 7.0, 'polyexponential': 1.0}


def make_sigmas(sch, kind, steps, opt_min=0.0, opt_max=0.0, opt_rho=0.0, discard=False, old_karras=False):
    n = steps + (1 if discard else 0)
    m_min, m_max = sch.sigmas[0].item(), sch.sigmas[-1].item()
    smin, smax = (0.1, 10) if old_karras else (m_min, m_max)
    if opt_min != 0 and opt_min != m_min:
        smin = opt_min
    if opt_max != 0 and opt_max != m_max:
        smax = opt_max
    rho = DEFAULT_RHO.get(kind)
    if rho is not None and opt_rho != 0:
        rho = opt_rho
    if kind in ('automatic', 'uniform'):
        s = sch.get_sigmas(n)
    elif kind == 'karras':
        s = karras(n, smin, smax, rho)
    elif kind == 'exponential':
        s = exponential(n, smin, smax)
    elif kind == 'polyexponential':
        s = polyexponential(n, smin, smax, rho)
    elif kind == 'sgm_uniform':
        s = sgm_uniform(sch, n, smin, smax)
    else:
        raise ValueError(kind)
    if discard:
        s = torch.cat([s[:-2], s[-1:]])
    return s


CASES = [
    # name, scheduler, steps, sigma_min, sigma_max, rho, discard, old_karras
    ('uniform20', 'uniform', 20, 0, 0, 0, 0, 0),
    ('karras20', 'karras', 20, 0, 0, 0, 0, 0),
    ('exponential20', 'exponential', 20, 0, 0, 0, 0, 0),
    ('polyexponential20', 'polyexponential', 20, 0, 0, 0, 0, 0),
    ('sgm_uniform20', 'sgm_uniform', 20, 0, 0, 0, 0, 0),
    ('automatic7', 'automatic', 7, 0, 0, 0, 0, 0),
    ('uniform1', 'uniform', 1, 0, 0, 0, 0, 0),
    ('karras7_discard', 'karras', 7, 0, 0, 0, 1, 0),
    ('sgm_uniform9_discard', 'sgm_uniform', 9, 0, 0, 0, 1, 0),
    ('karras13_rho3', 'karras', 13, 0, 0, 3.0, 0, 0),
    ('karras10_old', 'karras', 10, 0, 0, 0, 0, 1),
    ('exponential11_range', 'exponential', 11, 0.05, 9.5, 0, 0, 0),
    ('exponential11_rho_ignored', 'exponential', 11, 0, 0, 4.0, 0, 0),
    ('polyexponential15_rho2', 'polyexponential', 15, 0, 0, 2.0, 0, 0),
    ('sgm_uniform30_range', 'sgm_uniform', 30, 0.3, 12.0, 0, 0, 0),
    ('uniform33_discard', 'uniform', 33, 0, 0, 0, 1, 0),
]

# The LCM sampler's schedules (its denoiser's table): Automatic, and other schedulers on its range.
LCM_CASES = [
    ('lcm_automatic4', 'automatic', 4, 0, 0, 0, 0, 0),
    ('lcm_uniform8', 'uniform', 8, 0, 0, 0, 0, 0),
    ('lcm_uniform1', 'uniform', 1, 0, 0, 0, 0, 0),
    ('lcm_karras6', 'karras', 6, 0, 0, 0, 0, 0),
    ('lcm_exponential5', 'exponential', 5, 0, 0, 0, 0, 0),
    ('lcm_sgm_uniform7', 'sgm_uniform', 7, 0, 0, 0, 0, 0),
    ('lcm_uniform60', 'uniform', 60, 0, 0, 0, 0, 0),
]


def write_cases(out, manifest, sched, cases):
    # Each case's sigmas to OUTDIR/<case>.bin, its parameters to the manifest.
    with open(os.path.join(out, manifest), 'w') as f:
        for name, kind, steps, smin, smax, rho, discard, old in cases:
            s = make_sigmas(sched, kind, steps, smin, smax, rho, bool(discard), bool(old))
            s.numpy().astype('<f4').tofile(os.path.join(out, name + '.bin'))
            f.write(f'{name} {kind} {steps} {smin!r} {smax!r} {rho!r} {discard} {old}\n')


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    ac = sd1_alphas_cumprod()
    sch = Schedule(ac)
    ac.numpy().astype('<f4').tofile(os.path.join(out, 'alphas_cumprod.bin'))
    sch.sigmas.numpy().astype('<f4').tofile(os.path.join(out, 'model_sigmas.bin'))
    probe = torch.tensor([0.0291675, 0.03, 0.1, 0.5, 1.0, 2.5, 7.0, 14.0, 14.6146, 20.0, 0.01])
    sch.sigma_to_t(probe).numpy().astype('<f4').tofile(os.path.join(out, 'sigma_to_t.bin'))
    ts = torch.tensor([0.0, 0.25, 1.5, 10.0, 499.5, 998.75, 999.0])
    sch.t_to_sigma(ts).numpy().astype('<f4').tofile(os.path.join(out, 't_to_sigma.bin'))
    write_cases(out, 'manifest.txt', sch, CASES)
    ztsnr = zero_terminal_snr(ac)
    ztsnr.numpy().astype('<f4').tofile(os.path.join(out, 'ztsnr_alphas_cumprod.bin'))
    for kind, steps in (('uniform', 9), ('karras', 7)):
        make_sigmas(Schedule(ztsnr), kind, steps).numpy().astype('<f4').tofile(
            os.path.join(out, f'ztsnr_{kind}{steps}.bin'))
    make_sigmas(LcmSchedule(ztsnr), 'automatic', 4).numpy().astype('<f4').tofile(os.path.join(out, 'ztsnr_lcm4.bin'))
    lcm = LcmSchedule(ac)
    lcm.sigmas.numpy().astype('<f4').tofile(os.path.join(out, 'lcm_sigmas.bin'))
    lcm.sigma_to_t(probe).float().numpy().astype('<f4').tofile(os.path.join(out, 'lcm_sigma_to_t.bin'))
    ts = torch.tensor([0.0, 19.0, 25.0, 39.0, 500.0, 998.0, 999.0, 1200.0])
    lcm.t_to_sigma(ts).numpy().astype('<f4').tofile(os.path.join(out, 'lcm_t_to_sigma.bin'))
    write_cases(out, 'lcm_manifest.txt', lcm, LCM_CASES)


if __name__ == '__main__':
    main()
