"""Reference runs for samplers_test: the k-diffusion sampler formulas (commit ab527a9) and A1111
1.9.4's DDIM/PLMS/UniPC loops, re-implemented with torch on CPU, driven by an analytic model and a
deterministic noise bank so that the C++ samplers can be compared value for value.

usage: sampler_reference.py OUTDIR
writes OUTDIR/x0.bin, OUTDIR/noise.bin (the bank, one draw after another), OUTDIR/manifest.txt
(case|sampler|scheduler|steps|eta|s_churn|s_tmin|s_noise|denoise calls|noise draws) and per case
OUTDIR/<case>.sigmas.bin and OUTDIR/<case>.x.bin.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from schedule_reference import LcmSchedule, Schedule, make_sigmas, sd1_alphas_cumprod  # noqa: E402
from kdiffusion_reference import (dpm2_a, dpmpp_2m, dpmpp_2m_sde, dpmpp_2s_a, dpmpp_3m_sde,  # noqa: E402
                                  dpmpp_sde, churn_loop, dpm_adaptive, dpm_fast, euler_a, lcm, lms, restart)
from timestep_reference import ddim, plms, timesteps_for, unipc  # noqa: E402

SHAPE = (2, 4, 5, 6)
BANK = 64


def bank_draw(k):
    n = int(np.prod(SHAPE))
    v = torch.sin(torch.arange(n, dtype=torch.float64) * 1.1173 + 0.5 * k + 1.0) * 1.4
    return v.float().reshape(SHAPE)


def initial_noise():
    n = int(np.prod(SHAPE))
    return (torch.sin(torch.arange(n, dtype=torch.float64) * 0.7311 + 0.3) * 1.4).float().reshape(SHAPE)


class Counters:
    def __init__(self):
        self.calls = 0
        self.draws = 0

    def denoise(self, x, sigma):
        self.calls += 1
        s = sigma.view(-1, 1, 1, 1)
        return x / (1 + s * s) * 0.8 + 0.05 * torch.sin(x)

    def eps(self, x, t):
        self.calls += 1
        tt = t.view(-1, 1, 1, 1)
        return x * (0.3 + tt / 2000) + 0.05 * torch.cos(x)

    def randn_like(self, x):
        k = self.draws
        self.draws += 1
        return bank_draw(k)


KDIFF = {
    'Euler': lambda m, x, s, p: churn_loop(m, x, s, p, None),
    'Heun': lambda m, x, s, p: churn_loop(m, x, s, p, 'heun'),
    'DPM2': lambda m, x, s, p: churn_loop(m, x, s, p, 'dpm2'),
    'Euler a': euler_a,
    'DPM2 a': dpm2_a,
    'LMS': lms,
    'DPM++ 2M': dpmpp_2m,
    'DPM++ 2S a': dpmpp_2s_a,
    'DPM++ SDE': dpmpp_sde,
    'DPM++ 2M SDE': dpmpp_2m_sde,
    'DPM++ 2M SDE Heun': lambda m, x, s, p: dpmpp_2m_sde(m, x, s, p, 'heun'),
    'DPM++ 3M SDE': dpmpp_3m_sde,
    'Restart': restart,
    'DPM fast': dpm_fast,
    'DPM adaptive': dpm_adaptive,
    'LCM': lcm,
}

# A1111 passes s_churn/s_tmin/s_tmax/s_noise only to these (sampler_extra_params).
TAKES_CHURN = {'Euler', 'Heun', 'DPM2'}
TAKES_NOISE = TAKES_CHURN | {'DPM fast', 'DPM2 a', 'DPM++ 2S a', 'DPM++ SDE', 'DPM++ 2M SDE', 'DPM++ 2M SDE Heun', 'DPM++ 3M SDE'}

DISCARD = {'DPM2', 'DPM2 a', 'DPM++ 3M SDE'}

CASES = [
    # case, sampler, scheduler, steps, eta, s_churn, s_tmin, s_noise
    ('euler', 'Euler', 'uniform', 8, 1.0, 0.0, 0.0, 1.0),
    ('euler_churn', 'Euler', 'karras', 8, 1.0, 1.5, 0.0, 1.0),
    ('euler_churn_tmin', 'Euler', 'karras', 8, 1.0, 4.0, 1.0, 0.9),
    ('euler_a', 'Euler a', 'uniform', 8, 1.0, 0.0, 0.0, 1.0),
    ('euler_a_eta', 'Euler a', 'karras', 6, 0.6, 0.0, 0.0, 0.95),
    ('heun', 'Heun', 'uniform', 7, 1.0, 0.0, 0.0, 1.0),
    ('heun_churn', 'Heun', 'karras', 7, 1.0, 2.0, 0.0, 1.0),
    ('dpm2', 'DPM2', 'karras', 8, 1.0, 0.0, 0.0, 1.0),
    ('dpm2_churn', 'DPM2', 'karras', 8, 1.0, 1.0, 0.0, 1.0),
    ('dpm2_a', 'DPM2 a', 'karras', 8, 1.0, 0.0, 0.0, 1.0),
    ('dpm2_a_eta0', 'DPM2 a', 'karras', 5, 0.0, 0.0, 0.0, 1.0),
    ('lms', 'LMS', 'uniform', 9, 1.0, 0.0, 0.0, 1.0),
    ('lms_karras', 'LMS', 'karras', 3, 1.0, 0.0, 0.0, 1.0),
    ('dpmpp_2m', 'DPM++ 2M', 'karras', 9, 1.0, 0.0, 0.0, 1.0),
    ('dpmpp_2m_uniform', 'DPM++ 2M', 'uniform', 5, 1.0, 0.0, 0.0, 1.0),
    ('dpmpp_2s_a', 'DPM++ 2S a', 'karras', 7, 1.0, 0.0, 0.0, 1.0),
    ('dpmpp_2s_a_eta', 'DPM++ 2S a', 'karras', 7, 0.4, 0.0, 0.0, 1.0),
    ('dpmpp_sde', 'DPM++ SDE', 'karras', 6, 1.0, 0.0, 0.0, 1.0),
    ('dpmpp_sde_eta0', 'DPM++ SDE', 'karras', 6, 0.0, 0.0, 0.0, 1.0),
    ('dpmpp_2m_sde', 'DPM++ 2M SDE', 'exponential', 8, 1.0, 0.0, 0.0, 1.0),
    ('dpmpp_2m_sde_eta0', 'DPM++ 2M SDE', 'exponential', 8, 0.0, 0.0, 0.0, 1.0),
    ('dpmpp_2m_sde_heun', 'DPM++ 2M SDE Heun', 'exponential', 8, 1.0, 0.0, 0.0, 1.0),
    ('dpmpp_3m_sde', 'DPM++ 3M SDE', 'exponential', 8, 1.0, 0.0, 0.0, 1.0),
    ('dpmpp_3m_sde_eta', 'DPM++ 3M SDE', 'karras', 10, 0.5, 0.0, 0.0, 1.1),
    ('ddim', 'DDIM', 'uniform', 10, 0.0, 0.0, 0.0, 1.0),
    ('ddim_eta', 'DDIM', 'uniform', 7, 0.7, 0.0, 0.0, 1.0),
    ('ddim_30', 'DDIM', 'uniform', 30, 0.0, 0.0, 0.0, 1.0),
    ('restart_10', 'Restart', 'karras', 10, 1.0, 0.0, 0.0, 1.0),
    ('restart_24', 'Restart', 'karras', 24, 1.0, 0.0, 0.0, 1.3),
    ('restart_40', 'Restart', 'uniform', 40, 1.0, 0.0, 0.0, 1.0),
    ('dpm_fast', 'DPM fast', 'uniform', 10, 1.0, 0.0, 0.0, 1.0),
    ('dpm_fast_eta0', 'DPM fast', 'uniform', 9, 0.0, 0.0, 0.0, 1.0),
    ('dpm_fast_2', 'DPM fast', 'karras', 2, 0.7, 0.0, 0.0, 0.8),
    ('dpm_fast_13', 'DPM fast', 'karras', 13, 1.0, 0.0, 0.0, 1.0),
    ('dpm_fast_exponential', 'DPM fast', 'exponential', 7, 1.0, 0.0, 0.0, 1.0),
    ('dpm_adaptive', 'DPM adaptive', 'uniform', 10, 1.0, 0.0, 0.0, 1.0),
    ('dpm_adaptive_eta0', 'DPM adaptive', 'karras', 6, 0.0, 0.0, 0.0, 1.0),
    ('plms', 'PLMS', 'uniform', 10, 0.0, 0.0, 0.0, 1.0),
    ('plms_3', 'PLMS', 'uniform', 3, 0.0, 0.0, 0.0, 1.0),
    # UniPC cases carry variant:skip_type:order:lower_order_final in the s_churn column's place
    ('unipc', 'UniPC', 'uniform', 10, 0.0, 'bh1:time_uniform:3:1', 0.0, 1.0),
    ('unipc_bh2', 'UniPC', 'uniform', 8, 0.0, 'bh2:time_uniform:3:1', 0.0, 1.0),
    ('unipc_30', 'UniPC', 'uniform', 30, 0.0, 'bh1:time_uniform:3:1', 0.0, 1.0),
    ('unipc_quadratic', 'UniPC', 'uniform', 9, 0.0, 'bh2:time_quadratic:2:0', 0.0, 1.0),
    ('unipc_logsnr', 'UniPC', 'uniform', 12, 0.0, 'bh1:logSNR:4:1', 0.0, 1.0),
    ('unipc_order1', 'UniPC', 'uniform', 5, 0.0, 'bh1:time_uniform:1:1', 0.0, 1.0),
    # LCM runs on its denoiser's sigma table (LcmSchedule)
    ('lcm', 'LCM', 'automatic', 6, 1.0, 0.0, 0.0, 1.0),
    ('lcm_karras', 'LCM', 'karras', 4, 1.0, 0.0, 0.0, 1.0),
    # half_*: option use_downcasted_alpha_bar, the model's alphas_cumprod rounded to fp16 first
    ('half_euler_a', 'Euler a', 'karras', 6, 1.0, 0.0, 0.0, 1.0),
    ('half_dpmpp_2m', 'DPM++ 2M', 'uniform', 7, 1.0, 0.0, 0.0, 1.0),
    ('half_euler_sgm', 'Euler', 'sgm_uniform', 6, 1.0, 0.0, 0.0, 1.0),
    ('half_dpm_fast', 'DPM fast', 'uniform', 8, 1.0, 0.0, 0.0, 1.0),
    ('half_ddim_eta', 'DDIM', 'uniform', 9, 0.7, 0.0, 0.0, 1.0),
    ('half_plms', 'PLMS', 'uniform', 8, 0.0, 0.0, 0.0, 1.0),
    ('half_unipc', 'UniPC', 'uniform', 10, 0.0, 'bh1:time_uniform:3:1', 0.0, 1.0),
    ('half_unipc_logsnr', 'UniPC', 'uniform', 12, 0.0, 'bh2:logSNR:3:1', 0.0, 1.0),
    ('half_lcm', 'LCM', 'automatic', 6, 1.0, 0.0, 0.0, 1.0),
]


IMG2IMG_CASES = [
    # case, sampler, scheduler, steps, t_enc
    ('i2i_euler_a', 'Euler a', 'uniform', 10, 6),
    ('i2i_dpmpp_2m', 'DPM++ 2M', 'karras', 12, 5),
    ('i2i_heun', 'Heun', 'karras', 8, 7),
    ('i2i_dpm2', 'DPM2', 'karras', 9, 4),
    ('i2i_dpm_fast', 'DPM fast', 'uniform', 12, 7),
    ('i2i_dpm_adaptive', 'DPM adaptive', 'karras', 10, 6),
    ('i2i_ddim', 'DDIM', 'uniform', 20, 11),
    ('i2i_plms', 'PLMS', 'uniform', 15, 8),
    ('i2i_unipc', 'UniPC', 'uniform', 20, 10),
    ('i2i_lcm', 'LCM', 'automatic', 8, 5),
    ('half_i2i_euler_a', 'Euler a', 'uniform', 10, 6),
    ('half_i2i_ddim', 'DDIM', 'uniform', 20, 11),
    ('half_i2i_unipc', 'UniPC', 'uniform', 20, 10),
]


def img2img(m, name, kind, steps, t_enc, ac, sch, init, noise):
    if name in ('DDIM', 'PLMS', 'UniPC'):
        timesteps = timesteps_for(steps)
        sched = timesteps[:t_enc]
        a = ac[timesteps[t_enc]]
        xi = init * torch.sqrt(a) + noise * torch.sqrt(1 - a)
        if name == 'DDIM':
            return ddim(m, xi, ac, sched, 0.0)
        if name == 'PLMS':
            return plms(m, xi, ac, sched)
        t_start = sched[-1] / 1000 + 1 / 1000
        return unipc(m, xi, ac, len(sched), t_start=t_start)
    sigmas = make_sigmas(LcmSchedule(ac) if name == 'LCM' else sch, kind, steps, discard=name in DISCARD)
    sched = sigmas[steps - t_enc - 1:]
    xi = init + noise * sched[0]
    p = dict(eta=1.0, s_churn=0.0, s_tmin=0.0, s_tmax=float('inf'), s_noise=1.0)
    return KDIFF[name](m, xi, sched, p)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    ac32 = sd1_alphas_cumprod()
    sch32 = Schedule(ac32)
    ac16 = ac32.half()
    sch16 = Schedule(ac16)

    def schedules(case):
        return (ac16, sch16) if case.startswith('half_') else (ac32, sch32)

    x0 = initial_noise()
    x0.numpy().astype('<f4').tofile(os.path.join(out, 'x0.bin'))
    torch.stack([bank_draw(k) for k in range(BANK)]).numpy().astype('<f4').tofile(os.path.join(out, 'noise.bin'))
    with open(os.path.join(out, 'manifest.txt'), 'w') as f:
        for case, name, kind, steps, eta, churn, tmin, snoise in CASES:
            ac, sch = schedules(case)
            sigmas = make_sigmas(LcmSchedule(ac) if name == 'LCM' else sch, kind, steps, discard=name in DISCARD)
            m = Counters()
            p = dict(eta=eta, s_churn=churn, s_tmin=tmin, s_tmax=float('inf'), s_noise=snoise,
                     model_range=(sch.sigmas[0].item(), sch.sigmas[-1].item()))
            if name not in TAKES_CHURN:
                p.update(s_churn=0.0, s_tmin=0.0)
            if name not in TAKES_NOISE:
                p.update(s_noise=1.0)
            if name == 'DDIM':
                x = ddim(m, x0, ac, timesteps_for(steps), eta)
            elif name == 'PLMS':
                x = plms(m, x0, ac, timesteps_for(steps))
            elif name == 'UniPC':
                variant, skip, order, lower = churn.split(':')
                x = unipc(m, x0, ac, len(timesteps_for(steps)), variant, skip, int(order), lower == '1')
            else:
                x = KDIFF[name](m, x0 * sigmas[0], sigmas, p)
            assert m.draws <= BANK
            sigmas.numpy().astype('<f4').tofile(os.path.join(out, case + '.sigmas.bin'))
            x.numpy().astype('<f4').tofile(os.path.join(out, case + '.x.bin'))
            f.write(f'{case}|{name}|{kind}|{steps}|{eta!r}|{churn if isinstance(churn, str) else repr(churn)}|{tmin!r}|{snoise!r}|{m.calls}|{m.draws}\n')


    init = (initial_noise() * 0.5).flip(-1).contiguous()
    noise = bank_draw(BANK - 1)
    with open(os.path.join(out, 'img2img.txt'), 'w') as f:
        for case, name, kind, steps, t_enc in IMG2IMG_CASES:
            ac, sch = schedules(case)
            m = Counters()
            x = img2img(m, name, kind, steps, t_enc, ac, sch, init, noise)
            x.numpy().astype('<f4').tofile(os.path.join(out, case + '.x.bin'))
            f.write(f'{case}|{name}|{kind}|{steps}|{t_enc}|{m.calls}|{m.draws}\n')


if __name__ == '__main__':
    main()
