"""The k-diffusion sampler formulas (crowsonkb/k-diffusion ab527a9, with A1111's to_d) re-implemented
with torch for samplers_test. `m` supplies denoise(x, sigma) and randn_like(x)."""
import math

import numpy as np
import torch


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


def lcm(m, x, sigmas, p):
    # A1111 1.9.4's sample_lcm: jump to the denoised prediction, noise it to the next sigma.
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        x = m.denoise(x, sigmas[i] * s_in)
        if sigmas[i + 1] > 0:
            x = x + sigmas[i + 1] * m.randn_like(x)
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


def karras7(n, smin, smax):
    ramp = torch.linspace(0, 1, n)
    lo, hi = smin ** (1 / 7.), smax ** (1 / 7.)
    s = (hi + ramp * (lo - hi)) ** 7.
    return torch.cat([s, s.new_zeros([1])])


def restart(m, x, sigmas, p):
    """A1111's restart sampler with its automatic restart plan."""
    s_in = x.new_ones([x.shape[0]])
    steps = sigmas.shape[0] - 1
    plan = {}
    if steps >= 20:
        rs, rt = (steps // 4, 2) if steps >= 36 else (9, 1)
        sigmas = karras7(steps - rs * rt, sigmas[-2].item(), sigmas[0].item())
        plan = {0.1: [rs + 1, rt, 2]}
    plan = {int(torch.argmin(abs(sigmas - k), dim=0)): v for k, v in plan.items()}
    pairs = []
    for i in range(len(sigmas) - 1):
        pairs.append((sigmas[i], sigmas[i + 1]))
        if i + 1 in plan:
            rs, rt, rmax = plan[i + 1]
            lo = i + 1
            hi = int(torch.argmin(abs(sigmas - rmax), dim=0))
            if hi < lo:
                seg = karras7(rs, sigmas[lo].item(), sigmas[hi].item())[:-1]
                for _ in range(rt):
                    pairs.extend(zip(seg[:-1], seg[1:]))
    last = None
    for old, new in pairs:
        if last is None:
            last = old
        elif last < old:
            x = x + m.randn_like(x) * p['s_noise'] * (old ** 2 - last ** 2) ** 0.5
        denoised = m.denoise(x, old * s_in)
        d = to_d(x, old, denoised)
        dt = new - old
        if new == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            d_2 = to_d(x_2, new, m.denoise(x_2, new * s_in))
            x = x + (d + d_2) / 2 * dt
        last = new
    return x


def dpm_range(sigmas, p):
    """txt2img: the model's σ range as Python floats; img2img: sigmas[-2] and sigmas[0]."""
    if p.get('model_range'):
        lo, hi = p['model_range']
        return torch.tensor(lo), torch.tensor(hi)
    return sigmas[-2].clone(), sigmas[0].clone()


def dpm_fast(m, x, sigmas, p):
    """DPM-Solver-Fast as A1111 calls it, with n = len(sigmas) - 1."""
    (s_min, s_max), nfe = dpm_range(sigmas, p), len(sigmas) - 1
    eta, sn = p['eta'], p['s_noise']
    tf = lambda s: -s.log()  # noqa: E731
    sf = lambda t: t.neg().exp()  # noqa: E731

    def eps(xx, t):
        s = sf(t)
        return (xx - m.denoise(xx, s * xx.new_ones([xx.shape[0]]))) / s

    def solve(xx, t, tn, e, order):
        h = tn - t
        if order == 1:
            return xx - sf(tn) * h.expm1() * e
        if order == 2:
            r1 = 1 / 2
            s1 = t + r1 * h
            e1 = eps(xx - sf(s1) * (r1 * h).expm1() * e, s1)
            return xx - sf(tn) * h.expm1() * e - sf(tn) / (2 * r1) * h.expm1() * (e1 - e)
        r1, r2 = 1 / 3, 2 / 3
        s1, s2 = t + r1 * h, t + r2 * h
        e1 = eps(xx - sf(s1) * (r1 * h).expm1() * e, s1)
        u2 = xx - sf(s2) * (r2 * h).expm1() * e - sf(s2) * (r2 / r1) * ((r2 * h).expm1() / (r2 * h) - 1) * (e1 - e)
        e2 = eps(u2, s2)
        return xx - sf(tn) * h.expm1() * e - sf(tn) / r2 * (h.expm1() / h - 1) * (e2 - e)

    t_start, t_end = tf(s_max), tf(s_min)
    k = nfe // 3 + 1
    ts = torch.linspace(t_start, t_end, k + 1)
    orders = [3] * (k - 2) + [2, 1] if nfe % 3 == 0 else [3] * (k - 1) + [nfe % 3]
    for i, order in enumerate(orders):
        t, tn = ts[i], ts[i + 1]
        if eta:
            sd, _ = ancestral(sf(t), sf(tn), eta)
            tn_ = torch.minimum(t_end, tf(sd))
            su = (sf(tn) ** 2 - sf(tn_) ** 2) ** 0.5
        else:
            tn_, su = tn, 0.
        x = solve(x, t, tn_, eps(x, t), order)
        x = x + su * sn * m.randn_like(x)
    return x


def dpm_adaptive(m, x, sigmas, p):
    """DPM-Solver-23 with k-diffusion's default PID settings, as A1111 calls it."""
    eta, sn = p['eta'], 1.0
    tf = lambda s: -s.log()  # noqa: E731
    sf = lambda t: t.neg().exp()  # noqa: E731
    cache = {}

    def eps(key, xx, t):
        if key not in cache:
            s = sf(t)
            cache[key] = (xx - m.denoise(xx, s * xx.new_ones([xx.shape[0]]))) / s
        return cache[key]

    def step2(xx, t, tn, r1):
        h = tn - t
        e = eps('eps', xx, t)
        s1 = t + r1 * h
        e1 = eps('eps_r1', xx - sf(s1) * (r1 * h).expm1() * e, s1)
        return xx - sf(tn) * h.expm1() * e - sf(tn) / (2 * r1) * h.expm1() * (e1 - e)

    def step3(xx, t, tn):
        r1, r2 = 1 / 3, 2 / 3
        h = tn - t
        e = eps('eps', xx, t)
        s1, s2 = t + r1 * h, t + r2 * h
        e1 = eps('eps_r1', xx - sf(s1) * (r1 * h).expm1() * e, s1)
        u2 = xx - sf(s2) * (r2 * h).expm1() * e - sf(s2) * (r2 / r1) * ((r2 * h).expm1() / (r2 * h) - 1) * (e1 - e)
        e2 = eps('eps_r2', u2, s2)
        return xx - sf(tn) * h.expm1() * e - sf(tn) / r2 * (h.expm1() / h - 1) * (e2 - e)

    s_min, s_max = dpm_range(sigmas, p)
    t_start, t_end = tf(s_max), tf(s_min)
    atol, rtol = torch.tensor(0.0078), torch.tensor(0.05)
    h = 0.05
    b1 = 1 / (1.5 if eta else 3)
    s, x_prev = t_start, x
    while s < t_end - 1e-5:
        cache.clear()
        t = torch.minimum(t_end, s + h)
        if eta:
            sd, _ = ancestral(sf(s), sf(t), eta)
            t_ = torch.minimum(t_end, tf(sd))
            su = (sf(t) ** 2 - sf(t_) ** 2) ** 0.5
        else:
            t_, su = t, 0.
        lo = step2(x, s, t_, 1 / 3)
        hi = step3(x, s, t_)
        delta = torch.maximum(atol, rtol * torch.maximum(lo.abs(), x_prev.abs()))
        err = torch.linalg.norm((lo - hi) / delta) / x.numel() ** 0.5
        factor = 1 + math.atan((1 / (float(err) + 1e-8)) ** b1 - 1)
        h *= factor
        if factor >= 0.81:
            x_prev = lo
            x = hi + su * sn * m.randn_like(x)
            s = t
    return x
