"""A sphere fed through a polar cap: how long a solid-diffusion path patchy contact makes (rate study).

    python docs/data/rate_study/cap_fed_sphere.py [--coverage 0.2,0.27,0.35,1] [--c-rates 0.1,0.5,1]

The question (docs/rate_study.md, "PyBaMM's P2D against the 50 um cases"): PyBaMM's P2D reaches the 3D
capacities only with its particle radius scaled by R_eff / R = 1.1-1.3 (60 wt%), 1.3-1.8 (70 wt%),
1.9-3.0 (80 wt%), while the NCM's surface on LPSCl falls from 0.33-0.37 to 0.18-0.20. Can lithium
entering each particle through a fraction of its surface explain a factor that large?

The idealised case, independent of fem_twin's code: a sphere of radius R (m) and diffusivity D
(m2/s), lithiation x = c / c_max starting uniform at x0, fed at a constant molar flux through one
polar cap holding the fraction ``f`` of its surface (the rest of the surface closed), at the C-rate's
current (1C = 180 mAh/g NCM, the parameter set's practical capacity; 284.2 mAh/g per unit lithiation
from c_max and the density). Discharge ends when the surface lithiation anywhere reaches
``x_max`` (0.999, as the 3D run's "NCM surface at c_max"). Output: the capacity (mAh/g) at that end,
and R_eff / R, the radius of a uniformly fed sphere (f = 1) that ends at the same capacity. One
contiguous cap is the least favourable arrangement of a given coverage (many small patches feed a
particle more evenly), so R_eff / R here is an upper bound for the 3D particles' coverage, and a
coverage whose cap bound is below the fitted R_eff / R cannot explain it alone.

Numerics: axisymmetric finite volumes in (r, mu = cos theta), uniform in r^3 and in mu (equal
volumes, equal surface areas), implicit Euler with one sparse LU; the problem is linear, so the end
time is found by linear interpolation of the surface maximum between steps. Self-checks (asserted
every run): the lithium added equals the charge passed to 1e-10, and for f = 1 the quasi-steady
surface-minus-mean lithiation matches the analytic j R / (5 D c_max) to 1 %.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import scipy.sparse as sp
from scipy.optimize import brentq
from scipy.sparse.linalg import splu

F = 96485.33212  # C/mol
C_MAX = 47054.0  # mol/m3, fem_twin's parameter set
DENSITY = 4.44e6  # g/m3 NCM
Q_PER_LITHIATION = C_MAX * F / DENSITY / 3.6  # mAh/g per unit lithiation (284.2)
Q_1C = 180.0  # mAh/g defining 1C (practical capacity)
X0 = 0.511749346596  # calibrated initial lithiation (docs/data/rate_study/calibration)
X_MAX = 0.999
D_NCM = 3.0e-15  # m2/s
R_NCM = 4.584263692819659e-6  # m, D[4,3]/2 of the design's PSD (the P2D's radius)


def grid(n_r: int, n_mu: int, radius: float):
    """Cell-face radii (equal volumes: r^3 uniform), face mu values, and cell centres."""
    r_f = radius * np.linspace(0.0, 1.0, n_r + 1) ** (1.0 / 3.0)
    mu_f = np.linspace(-1.0, 1.0, n_mu + 1)
    return r_f, mu_f


def operator(r_f: np.ndarray, mu_f: np.ndarray, diffusivity: float):
    """(volumes (n_r, n_mu) per 2 pi, stiffness K with dc/dt = -K c / V per 2 pi) for the sphere."""
    n_r, n_mu = len(r_f) - 1, len(mu_f) - 1
    r_c = 0.5 * (r_f[1:] + r_f[:-1])
    mu_c = 0.5 * (mu_f[1:] + mu_f[:-1])
    dmu = np.diff(mu_f)
    vol = np.outer(np.diff(r_f ** 3) / 3.0, dmu)
    idx = np.arange(n_r * n_mu).reshape(n_r, n_mu)
    rows, cols, vals = [], [], []

    def couple(a, b, g):
        rows.extend([a, b, a, b])
        cols.extend([a, b, b, a])
        vals.extend([g, g, -g, -g])

    # radial faces between shells i and i+1: area r^2 dmu, distance between centres
    g_r = diffusivity * (r_f[1:-1] ** 2)[:, None] * dmu[None, :] / np.diff(r_c)[:, None]
    couple(idx[:-1, :].ravel(), idx[1:, :].ravel(), g_r.ravel())
    # angular faces between mu cells j and j+1: D (1 - mu^2) dr / dmu (per 2 pi)
    g_m = diffusivity * (1.0 - mu_f[1:-1] ** 2)[None, :] * np.diff(r_f)[:, None] / np.diff(mu_c)[None, :]
    couple(idx[:, :-1].ravel(), idx[:, 1:].ravel(), g_m.ravel())
    k = sp.csr_matrix((np.concatenate([np.atleast_1d(v) for v in vals]),
                       (np.concatenate([np.atleast_1d(v) for v in rows]),
                        np.concatenate([np.atleast_1d(v) for v in cols]))), shape=(idx.size, idx.size))
    return vol, k, idx


def discharge(coverage: float, c_rate: float, radius: float = R_NCM, diffusivity: float = D_NCM,
              n_r: int = 48, n_mu: int = 160, steps_per_hour: int = 2000) -> float:
    """Capacity (mAh/g NCM) when the surface lithiation first reaches X_MAX, for a sphere fed through
    a polar cap of ``coverage`` (fraction of its surface) at ``c_rate``."""
    r_f, mu_f = grid(n_r, n_mu, radius)
    vol, k, idx = operator(r_f, mu_f, diffusivity)
    mu_c = 0.5 * (mu_f[1:] + mu_f[:-1])
    cap = mu_c > 1.0 - 2.0 * coverage
    if not cap.any():
        raise ValueError(f"coverage {coverage}: below one surface cell of {n_mu}")
    area_cap = radius ** 2 * np.diff(mu_f)[cap].sum()  # per 2 pi
    total_vol = vol.sum()
    rate = c_rate * Q_1C / Q_PER_LITHIATION / 3600.0  # d(mean lithiation)/dt, 1/s
    source = np.zeros(idx.shape)
    source[-1, cap] = rate * total_vol * radius ** 2 * np.diff(mu_f)[cap] / area_cap  # per cell, lithiation*m3/s
    dt = 3600.0 / (c_rate * steps_per_hour)
    m = sp.diags(vol.ravel()) + dt * k
    lu = splu(m.tocsc())
    x = np.full(idx.size, X0)
    t, prev_max = 0.0, X0
    b_src = dt * source.ravel()
    surface = idx[-1, :]
    while True:
        x_new = lu.solve(vol.ravel() * x + b_src)
        t += dt
        s_max = x_new[surface].max()
        added = (vol.ravel() * (x_new - X0)).sum()
        if not np.isclose(added, rate * total_vol * t, rtol=1e-10, atol=0.0):
            raise AssertionError(f"lithium balance: {added} against {rate * total_vol * t}")
        if s_max >= X_MAX:
            w = (X_MAX - prev_max) / (s_max - prev_max)
            t_end = t - dt + w * dt
            return rate * t_end * Q_PER_LITHIATION
        if (vol.ravel() * x_new).sum() / total_vol >= X_MAX:
            raise AssertionError("mean lithiation reached x_max before any surface cell did")
        x, prev_max = x_new, s_max


def check_uniform_quasi_steady() -> float:
    """Relative error of surface - mean lithiation against j R / (5 D c_max) for f = 1 at 1C, late."""
    c_rate, radius = 1.0, R_NCM
    r_f, mu_f = grid(48, 8, radius)
    vol, k, idx = operator(r_f, mu_f, D_NCM)
    rate = c_rate * Q_1C / Q_PER_LITHIATION / 3600.0
    total_vol = vol.sum()
    source = np.zeros(idx.shape)
    source[-1, :] = rate * total_vol * np.diff(mu_f) / 2.0
    dt = 2.0
    lu = splu((sp.diags(vol.ravel()) + dt * k).tocsc())
    x = np.zeros(idx.size)
    for _ in range(int(3 * radius ** 2 / D_NCM / dt)):  # 3 diffusion times: the transient is gone
        x = lu.solve(vol.ravel() * x + dt * source.ravel())
    mean = (vol.ravel() * x).sum() / total_vol
    surf = x[idx[-1, :]].mean()
    j_lith = rate * total_vol / (2.0 * radius ** 2)  # lithiation-flux density, per unit area
    expected = j_lith * radius / (5.0 * D_NCM)
    # the outermost cell centre sits below r = R: correct with the quasi-steady profile
    r_out = 0.5 * (r_f[-1] + r_f[-2])
    expected_at_cell = j_lith / (2.0 * D_NCM * radius) * (r_out ** 2 - 0.6 * radius ** 2)
    return abs((surf - mean) - expected_at_cell) / expected


def radius_factor(capacity: float, c_rate: float) -> float:
    """R_eff / R of a uniformly fed sphere (f = 1) ending at ``capacity`` (mAh/g) at ``c_rate``."""
    def gap(log_g):
        return discharge(1.0, c_rate, radius=R_NCM * np.exp(log_g), n_mu=8) - capacity
    lo, hi = np.log(0.5), np.log(10.0)
    if gap(lo) * gap(hi) > 0:
        return float("nan")
    return float(np.exp(brentq(gap, lo, hi, xtol=2e-3)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--coverage", default="0.18,0.2,0.27,0.35,0.5,1")
    ap.add_argument("--c-rates", default="0.1,0.5,1")
    a = ap.parse_args(argv)
    err = check_uniform_quasi_steady()
    if err > 0.01:
        raise AssertionError(f"uniform sphere: surface - mean off the analytic jR/5D by {100 * err:.2f} %")
    print(f"check: uniform sphere, surface - mean lithiation within {100 * err:.3f} % of j R / (5 D); "
          "lithium balance to 1e-10 in every step", file=sys.stderr)
    rates = [float(v) for v in a.c_rates.split(",")]
    print("| NCM surface fed (one cap) | " + " | ".join(f"{r:g}C: mAh/g, R_eff / R" for r in rates) + " |")
    print("|---|" + "---|" * len(rates))
    for f in (float(v) for v in a.coverage.split(",")):
        cells = []
        for r in rates:
            q = discharge(f, r)
            cells.append(f"{q:.2f}, {radius_factor(q, r):.2f}")
        print(f"| {f:g} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
