"""A1111 1.9.4's DDIM, PLMS and UniPC loops re-implemented with torch for samplers_test.
`m` supplies eps(x, t) and randn_like(x)."""
import numpy as np
import torch


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
    # the keypoints as the sorted row holds them: torch.cat promotes fp16 ones to x's dtype
    xp = xp.to(all_x.dtype)
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
