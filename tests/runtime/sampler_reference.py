"""Reference runs for samplers_test: the k-diffusion sampler formulas (commit ab527a9) and A1111
1.9.4's DDIM/PLMS/UniPC loops, re-implemented with torch on CPU, driven by an analytic model and a
deterministic noise bank so that the C++ samplers can be compared value for value.

usage: sampler_reference.py OUTDIR
writes OUTDIR/x0.bin, OUTDIR/noise.bin (the bank, one draw after another), OUTDIR/manifest.txt
(case|sampler|scheduler|steps|eta|s_churn|s_tmin|s_noise|denoise calls|noise draws) and per case
OUTDIR/<case>.sigmas.bin and OUTDIR/<case>.x.bin.
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from schedule_reference import Schedule, make_sigmas, sd1_alphas_cumprod  # noqa: E402

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


# --- k-diffusion formulas ---------------------------------------------------------------------
def to_d(x, sigma, denoised):
    return (x - denoised) / sigma


def ancestral(sigma_from, sigma_to, eta):
    if not eta:
        return sigma_to, 0.
    up = min(sigma_to, eta * (sigma_to ** 2 * (sigma_from ** 2 - sigma_to ** 2) / sigma_from ** 2) ** 0.5)
    return (sigma_to ** 2 - up ** 2) ** 0.5, up


def churn_loop(m, x, sigmas, p, second):
    s_in = x.new_ones([x.shape[0]])
    n = len(sigmas) - 1
    for i in range(n):
        gamma = min(p['s_churn'] / n, 2 ** 0.5 - 1) if p['s_tmin'] <= sigmas[i] <= p['s_tmax'] else 0.
        eps = m.randn_like(x) * p['s_noise']
        sigma_hat = sigmas[i] * (gamma + 1)
        if gamma > 0:
            x = x + eps * (sigma_hat ** 2 - sigmas[i] ** 2) ** 0.5
        denoised = m.denoise(x, sigma_hat * s_in)
        d = to_d(x, sigma_hat, denoised)
        dt = sigmas[i + 1] - sigma_hat
        if second is None or sigmas[i + 1] == 0:
            x = x + d * dt
        elif second == 'heun':
            x_2 = x + d * dt
            d_2 = to_d(x_2, sigmas[i + 1], m.denoise(x_2, sigmas[i + 1] * s_in))
            x = x + (d + d_2) / 2 * dt
        else:
            sigma_mid = sigma_hat.log().lerp(sigmas[i + 1].log(), 0.5).exp()
            x_2 = x + d * (sigma_mid - sigma_hat)
            d_2 = to_d(x_2, sigma_mid, m.denoise(x_2, sigma_mid * s_in))
            x = x + d_2 * dt
    return x


def euler_a(m, x, sigmas, p):
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = m.denoise(x, sigmas[i] * s_in)
        down, up = ancestral(sigmas[i], sigmas[i + 1], p['eta'])
        x = x + to_d(x, sigmas[i], denoised) * (down - sigmas[i])
        if sigmas[i + 1] > 0:
            x = x + m.randn_like(x) * p['s_noise'] * up
    return x


def dpm2_a(m, x, sigmas, p):
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = m.denoise(x, sigmas[i] * s_in)
        down, up = ancestral(sigmas[i], sigmas[i + 1], p['eta'])
        d = to_d(x, sigmas[i], denoised)
        if down == 0:
            x = x + d * (down - sigmas[i])
        else:
            mid = sigmas[i].log().lerp(down.log(), 0.5).exp()
            x_2 = x + d * (mid - sigmas[i])
            d_2 = to_d(x_2, mid, m.denoise(x_2, mid * s_in))
            x = x + d_2 * (down - sigmas[i])
            x = x + m.randn_like(x) * p['s_noise'] * up
    return x


def lms(m, x, sigmas, p, order=4):
    s_in = x.new_ones([x.shape[0]])
    t = sigmas.numpy()
    ds = []

    def coeff(o, i, j):
        # exact integral of the Lagrange basis polynomial via its power-series coefficients
        nodes = [float(t[i - k]) for k in range(o) if k != j]
        denom = 1.0
        for k in range(o):
            if k != j:
                denom *= float(np.float32(t[i - j] - t[i - k]))
        poly = np.poly(nodes) if nodes else np.array([1.0])
        integ = np.polyint(poly)
        return (np.polyval(integ, float(t[i + 1])) - np.polyval(integ, float(t[i]))) / denom

    for i in range(len(sigmas) - 1):
        denoised = m.denoise(x, sigmas[i] * s_in)
        ds.append(to_d(x, sigmas[i], denoised))
        if len(ds) > order:
            ds.pop(0)
        o = min(i + 1, order)
        x = x + sum(coeff(o, i, j) * d for j, d in zip(range(o), reversed(ds)))
    return x


def sigma_fn(t):
    return t.neg().exp()


def t_fn(s):
    return s.log().neg()


def dpmpp_2m(m, x, sigmas, p):
    s_in = x.new_ones([x.shape[0]])
    old = None
    for i in range(len(sigmas) - 1):
        denoised = m.denoise(x, sigmas[i] * s_in)
        t, tn = t_fn(sigmas[i]), t_fn(sigmas[i + 1])
        h = tn - t
        if old is None or sigmas[i + 1] == 0:
            x = (sigma_fn(tn) / sigma_fn(t)) * x - (-h).expm1() * denoised
        else:
            r = (t - t_fn(sigmas[i - 1])) / h
            dd = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old
            x = (sigma_fn(tn) / sigma_fn(t)) * x - (-h).expm1() * dd
        old = denoised
    return x


def dpmpp_2s_a(m, x, sigmas, p):
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = m.denoise(x, sigmas[i] * s_in)
        down, up = ancestral(sigmas[i], sigmas[i + 1], p['eta'])
        if down == 0:
            x = x + to_d(x, sigmas[i], denoised) * (down - sigmas[i])
        else:
            t, tn = t_fn(sigmas[i]), t_fn(down)
            h = tn - t
            s = t + 0.5 * h
            x_2 = (sigma_fn(s) / sigma_fn(t)) * x - (-h * 0.5).expm1() * denoised
            d2 = m.denoise(x_2, sigma_fn(s) * s_in)
            x = (sigma_fn(tn) / sigma_fn(t)) * x - (-h).expm1() * d2
        if sigmas[i + 1] > 0:
            x = x + m.randn_like(x) * p['s_noise'] * up
    return x


def dpmpp_sde(m, x, sigmas, p, r=0.5):
    s_in = x.new_ones([x.shape[0]])
    eta, sn = p['eta'], p['s_noise']
    for i in range(len(sigmas) - 1):
        denoised = m.denoise(x, sigmas[i] * s_in)
        if sigmas[i + 1] == 0:
            x = x + to_d(x, sigmas[i], denoised) * (sigmas[i + 1] - sigmas[i])
        else:
            t, tn = t_fn(sigmas[i]), t_fn(sigmas[i + 1])
            h = tn - t
            s = t + h * r
            fac = 1 / (2 * r)
            sd, su = ancestral(sigma_fn(t), sigma_fn(s), eta)
            s_ = t_fn(sd)
            x_2 = (sigma_fn(s_) / sigma_fn(t)) * x - (t - s_).expm1() * denoised
            x_2 = x_2 + m.randn_like(x) * sn * su
            d2 = m.denoise(x_2, sigma_fn(s) * s_in)
            sd, su = ancestral(sigma_fn(t), sigma_fn(tn), eta)
            tn_ = t_fn(sd)
            dd = (1 - fac) * denoised + fac * d2
            x = (sigma_fn(tn_) / sigma_fn(t)) * x - (t - tn_).expm1() * dd
            x = x + m.randn_like(x) * sn * su
    return x


def dpmpp_2m_sde(m, x, sigmas, p, solver='midpoint'):
    s_in = x.new_ones([x.shape[0]])
    eta = p['eta']
    old, h_last, h = None, None, None
    for i in range(len(sigmas) - 1):
        denoised = m.denoise(x, sigmas[i] * s_in)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            t, s = -sigmas[i].log(), -sigmas[i + 1].log()
            h = s - t
            eh = eta * h
            x = sigmas[i + 1] / sigmas[i] * (-eh).exp() * x + (-h - eh).expm1().neg() * denoised
            if old is not None:
                r = h_last / h
                if solver == 'heun':
                    x = x + ((-h - eh).expm1().neg() / (-h - eh) + 1) * (1 / r) * (denoised - old)
                else:
                    x = x + 0.5 * (-h - eh).expm1().neg() * (1 / r) * (denoised - old)
            if eta:
                x = x + m.randn_like(x) * sigmas[i + 1] * (-2 * eh).expm1().neg().sqrt() * p['s_noise']
        old = denoised
        h_last = h
    return x


def dpmpp_3m_sde(m, x, sigmas, p):
    s_in = x.new_ones([x.shape[0]])
    eta = p['eta']
    d_1 = d_2 = None
    h = h_1 = h_2 = None
    for i in range(len(sigmas) - 1):
        denoised = m.denoise(x, sigmas[i] * s_in)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            t, s = -sigmas[i].log(), -sigmas[i + 1].log()
            h = s - t
            he = h * (eta + 1)
            x = torch.exp(-he) * x + (-he).expm1().neg() * denoised
            if h_2 is not None:
                r0, r1 = h_1 / h, h_2 / h
                d1_0 = (denoised - d_1) / r0
                d1_1 = (d_1 - d_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_2 = he.neg().expm1() / he + 1
                phi_3 = phi_2 / he - 0.5
                x = x + phi_2 * d1 - phi_3 * d2
            elif h_1 is not None:
                phi_2 = he.neg().expm1() / he + 1
                x = x + phi_2 * ((denoised - d_1) / (h_1 / h))
            if eta:
                x = x + m.randn_like(x) * sigmas[i + 1] * (-2 * h * eta).expm1().neg().sqrt() * p['s_noise']
        d_1, d_2 = denoised, d_1
        h_1, h_2 = h, h_1
    return x


# --- A1111 timestep samplers ------------------------------------------------------------------
def timesteps_for(steps):
    return torch.clip(torch.asarray(list(range(0, 1000, 1000 // steps))) + 1, 0, 999)


def ddim(m, x, ac, timesteps, eta):
    alphas = ac[timesteps]
    alphas_prev = ac[torch.nn.functional.pad(timesteps[:-1], pad=(1, 0))].to(torch.float64)
    sq = torch.sqrt(1 - alphas)
    sigmas = eta * np.sqrt((1 - alphas_prev.numpy()) / (1 - alphas) * (1 - alphas / alphas_prev.numpy()))
    s_in = x.new_ones((x.shape[0]))
    s_x = x.new_ones((x.shape[0], 1, 1, 1))
    for i in range(len(timesteps) - 1):
        index = len(timesteps) - 1 - i
        e_t = m.eps(x, timesteps[index].item() * s_in)
        a_t = alphas[index].item() * s_x
        a_prev = alphas_prev[index].item() * s_x
        sigma_t = sigmas[index].item() * s_x
        sqt = sq[index].item() * s_x
        pred_x0 = (x - sqt * e_t) / a_t.sqrt()
        dir_xt = (1. - a_prev - sigma_t ** 2).sqrt() * e_t
        noise = sigma_t * m.randn_like(x)
        x = a_prev.sqrt() * pred_x0 + dir_xt + noise
    return x


def plms(m, x, ac, timesteps):
    alphas = ac[timesteps]
    alphas_prev = ac[torch.nn.functional.pad(timesteps[:-1], pad=(1, 0))].to(torch.float64)
    sq = torch.sqrt(1 - alphas)
    s_in = x.new_ones((x.shape[0]))
    s_x = x.new_ones((x.shape[0], 1, 1, 1))
    old = []

    def step(xx, e_t, index):
        a_t = alphas[index].item() * s_x
        a_prev = alphas_prev[index].item() * s_x
        sqt = sq[index].item() * s_x
        pred_x0 = (xx - sqt * e_t) / a_t.sqrt()
        return a_prev.sqrt() * pred_x0 + (1. - a_prev).sqrt() * e_t

    for i in range(len(timesteps) - 1):
        index = len(timesteps) - 1 - i
        ts = timesteps[index].item() * s_in
        t_next = timesteps[max(index - 1, 0)].item() * s_in
        e_t = m.eps(x, ts)
        if not old:
            e_next = m.eps(step(x, e_t, index), t_next)
            ep = (e_t + e_next) / 2
        elif len(old) == 1:
            ep = (3 * e_t - old[-1]) / 2
        elif len(old) == 2:
            ep = (23 * e_t - 16 * old[-1] + 5 * old[-2]) / 12
        else:
            ep = (55 * e_t - 59 * old[-1] + 37 * old[-2] - 9 * old[-3]) / 24
        x_prev = step(x, ep, index)
        old.append(e_t)
        if len(old) >= 4:
            old.pop(0)
        x = x_prev
    return x


# --- UniPC (multistep, data prediction, B(h)) on the discrete VP schedule ---------------------
def interp_sorted(x, xp, yp):
    """Piecewise-linear y(x) with linear extrapolation, the segment found by sorting x among xp."""
    x = x.reshape(-1, 1)
    n, k = x.shape[0], xp.shape[0]
    all_x = torch.cat([x, xp.unsqueeze(0).repeat(n, 1)], dim=1)
    sorted_x, order = torch.sort(all_x, dim=1, stable=True)
    pos = torch.argmin(order, dim=1)
    seg = torch.clamp(pos - 1, 0, k - 2)
    # the neighbours of x in the sorted row are keypoints seg and seg+1 of xp
    sx, ex = xp[seg], xp[seg + 1]
    sy, ey = yp[seg], yp[seg + 1]
    return sy + (x.reshape(-1) - sx) * (ey - sy) / (ex - sx)


class VP:
    def __init__(self, ac):
        self.log_alpha = 0.5 * torch.log(ac)
        self.N = len(self.log_alpha)
        self.t_array = torch.linspace(0., 1., self.N + 1)[1:]

    def lmc(self, t):
        return interp_sorted(t, self.t_array, self.log_alpha)

    def alpha(self, t):
        return torch.exp(self.lmc(t))

    def std(self, t):
        return torch.sqrt(1. - torch.exp(2. * self.lmc(t)))

    def lam(self, t):
        l = self.lmc(t)
        return l - 0.5 * torch.log(1. - torch.exp(2. * l))

    def inv_lam(self, lamb):
        la = -0.5 * torch.logaddexp(torch.zeros((1,)), -2. * lamb)
        return interp_sorted(la, torch.flip(self.log_alpha, [0]), torch.flip(self.t_array, [0]))


def unipc(m, x, ac, steps, variant='bh1', skip='time_uniform', order=3, lower_final=True, t_start=None):
    ns = VP(ac)
    e4 = lambda v: v[:, None, None, None]

    def data_pred(xx, t):
        noise = m.eps(xx, (t - 1. / ns.N) * 1000.)
        return (xx - e4(ns.std(t)) * noise) / e4(ns.alpha(t))

    def update(xx, mp, tp, t, o, corrector):
        lp0, lt = ns.lam(tp[-1]), ns.lam(t)
        m0 = mp[-1]
        sp0, st = ns.std(tp[-1]), ns.std(t)
        at = torch.exp(ns.lmc(t))
        h = lt - lp0
        rks, d1s = [], []
        for i in range(1, o):
            rk = ((ns.lam(tp[-(i + 1)]) - lp0) / h)[0]
            rks.append(rk)
            d1s.append((mp[-(i + 1)] - m0) / rk)
        rks.append(1.)
        rks = torch.tensor(rks)
        hh = -h[0]
        hp1 = torch.expm1(hh)
        hpk = hp1 / hh - 1
        bh = hh if variant == 'bh1' else torch.expm1(hh)
        R, b, fac = [], [], 1
        for i in range(1, o + 1):
            R.append(torch.pow(rks, i - 1))
            b.append(hpk * fac / bh)
            fac *= i + 1
            hpk = hpk / hh - 1 / fac
        R = torch.stack(R)
        b = torch.tensor(b)
        D = torch.stack(d1s, dim=1) if d1s else None
        if D is not None:
            rp = torch.tensor([0.5]) if o == 2 else torch.linalg.solve(R[:-1, :-1], b[:-1])
        if corrector:
            rc = torch.tensor([0.5]) if o == 1 else torch.linalg.solve(R, b)
        base = e4(st / sp0) * xx - e4(at * hp1) * m0
        pred = torch.einsum('k,bkchw->bchw', rp, D) if D is not None else 0
        xt = base - e4(at * bh) * pred
        mt = None
        if corrector:
            mt = data_pred(xt, t)
            corr = torch.einsum('k,bkchw->bchw', rc[:-1], D) if D is not None else 0
            xt = base - e4(at * bh) * (corr + rc[-1] * (mt - m0))
        return xt, mt

    t0, tT = 1. / ns.N, (1. if t_start is None else t_start)
    if skip == 'time_uniform':
        ts = torch.linspace(tT, t0, steps + 1)
    elif skip == 'time_quadratic':
        ts = torch.linspace(tT ** 0.5, t0 ** 0.5, steps + 1).pow(2)
    else:
        lT = ns.lam(torch.as_tensor(tT, dtype=torch.float32)).item()
        l0 = ns.lam(torch.tensor(t0)).item()
        ts = ns.inv_lam(torch.linspace(lT, l0, steps + 1))
    B = x.shape[0]
    vt = ts[0].expand(B)
    mp, tp = [data_pred(x, vt)], [vt]
    for io in range(1, order):
        vt = ts[io].expand(B)
        x, mx = update(x, mp, tp, vt, io, True)
        mp.append(mx)
        tp.append(vt)
    for step in range(order, steps + 1):
        vt = ts[step].expand(B)
        so = min(order, steps + 1 - step) if lower_final else order
        x, mx = update(x, mp, tp, vt, so, step != steps)
        for i in range(order - 1):
            tp[i], mp[i] = tp[i + 1], mp[i + 1]
        tp[-1] = vt
        if step < steps:
            mp[-1] = mx
    return x


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
}

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
    ('plms', 'PLMS', 'uniform', 10, 0.0, 0.0, 0.0, 1.0),
    ('plms_3', 'PLMS', 'uniform', 3, 0.0, 0.0, 0.0, 1.0),
    # UniPC cases carry variant:skip_type:order:lower_order_final in the s_churn column's place
    ('unipc', 'UniPC', 'uniform', 10, 0.0, 'bh1:time_uniform:3:1', 0.0, 1.0),
    ('unipc_bh2', 'UniPC', 'uniform', 8, 0.0, 'bh2:time_uniform:3:1', 0.0, 1.0),
    ('unipc_30', 'UniPC', 'uniform', 30, 0.0, 'bh1:time_uniform:3:1', 0.0, 1.0),
    ('unipc_quadratic', 'UniPC', 'uniform', 9, 0.0, 'bh2:time_quadratic:2:0', 0.0, 1.0),
    ('unipc_logsnr', 'UniPC', 'uniform', 12, 0.0, 'bh1:logSNR:4:1', 0.0, 1.0),
    ('unipc_order1', 'UniPC', 'uniform', 5, 0.0, 'bh1:time_uniform:1:1', 0.0, 1.0),
]


IMG2IMG_CASES = [
    # case, sampler, scheduler, steps, t_enc
    ('i2i_euler_a', 'Euler a', 'uniform', 10, 6),
    ('i2i_dpmpp_2m', 'DPM++ 2M', 'karras', 12, 5),
    ('i2i_heun', 'Heun', 'karras', 8, 7),
    ('i2i_dpm2', 'DPM2', 'karras', 9, 4),
    ('i2i_ddim', 'DDIM', 'uniform', 20, 11),
    ('i2i_plms', 'PLMS', 'uniform', 15, 8),
    ('i2i_unipc', 'UniPC', 'uniform', 20, 10),
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
    sigmas = make_sigmas(sch, kind, steps, discard=name in DISCARD)
    sched = sigmas[steps - t_enc - 1:]
    xi = init + noise * sched[0]
    p = dict(eta=1.0, s_churn=0.0, s_tmin=0.0, s_tmax=float('inf'), s_noise=1.0)
    return KDIFF[name](m, xi, sched, p)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    ac = sd1_alphas_cumprod()
    sch = Schedule(ac)
    x0 = initial_noise()
    x0.numpy().astype('<f4').tofile(os.path.join(out, 'x0.bin'))
    torch.stack([bank_draw(k) for k in range(BANK)]).numpy().astype('<f4').tofile(os.path.join(out, 'noise.bin'))
    extra = sys.modules.get('unipc_reference')
    with open(os.path.join(out, 'manifest.txt'), 'w') as f:
        for case, name, kind, steps, eta, churn, tmin, snoise in CASES:
            sigmas = make_sigmas(sch, kind, steps, discard=name in DISCARD)
            m = Counters()
            p = dict(eta=eta, s_churn=churn, s_tmin=tmin, s_tmax=float('inf'), s_noise=snoise)
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
            m = Counters()
            x = img2img(m, name, kind, steps, t_enc, ac, sch, init, noise)
            x.numpy().astype('<f4').tofile(os.path.join(out, case + '.x.bin'))
            f.write(f'{case}|{name}|{kind}|{steps}|{t_enc}|{m.calls}|{m.draws}\n')


if __name__ == '__main__':
    main()
