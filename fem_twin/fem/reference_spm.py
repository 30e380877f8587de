"""A 1D spherical-diffusion reference for one NCM particle (single-particle model), numpy/scipy only.

Used to verify the 3D discharge model (:mod:`fem_twin.fem.discharge`) on one particle in an ideal
electrolyte: the electrolyte and the solid conduct perfectly, c_e stays at ``c_lpscl_mol_m3``, and
the cell voltage is

    V(t) = U(x_surf) + eta,   j = i0 [exp(alpha_a F eta / RT) - exp(-alpha_c F eta / RT)],
    i0 = k c_max sqrt(c_e) sqrt(x_surf (1 - x_surf)),  j = -I / A   (I > 0 on discharge)

with the sign convention of :mod:`fem_twin.fem.discharge` (j > 0 anodic, out of the NCM; the
lithium flux into the NCM is -j/F). With alpha_a = alpha_c = alpha, eta = asinh(j / (2 i0)) /
(alpha F / RT); otherwise a vectorised Newton solve on the monotone BV curve.

Inside the particle, x = c_s / c_max obeys dx/dt = D (1/r^2) d/dr (r^2 dx/dr) on 0 < r < R with
D dx/dr|_R = N / c_max, N = I / (F A_diff) the molar flux into the particle per unit area of the
diffusion sphere(s). Discretisation: P1 finite elements in r with the weight r^2 (consistent mass
matrix, exact for the P1 products), backward Euler. Lithium is conserved exactly: the stiffness
rows sum to zero, so 1^T M x changes by exactly dt N R^2 per step.

Geometry of the equivalent particle (:class:`SphereGeometry`): the model needs three numbers,

- ``volume_m3`` V of the NCM (capacity, mean lithiation);
- ``area_m2`` A of the reacting surface (the current density j = -I/A of the kinetics);
- ``radius_m`` R, the diffusion length. The particle is represented by V / (4/3 pi R^3) spheres of
  radius R, so the diffusion flux is N = I R / (3 V F).

For a voxelised sphere the mesh's surface is a staircase with about 1.5x the area of the true
sphere: ``radius="volume"`` takes the volume-equivalent sphere R = (3V/(4 pi))^(1/3) for diffusion
(the staircase is a roughness on the scale of a voxel, the diffusion length is the particle's)
while the kinetics see the staircase area A; ``radius="ratio"`` takes R = 3V/A (same V/A ratio,
one consistent sphere set, a diffusion length ~1/1.5 too short for a voxelised ball).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_banded

from ..parameters.cell import FARADAY, ParameterSet


@dataclass(frozen=True)
class SphereGeometry:
    """Equivalent particle: NCM volume, reacting area and diffusion radius (SI units)."""

    volume_m3: float
    area_m2: float
    radius_m: float

    @classmethod
    def from_volume_area(cls, volume_m3: float, area_m2: float, radius: str = "volume") -> "SphereGeometry":
        """``radius``: ``'volume'`` (R = (3V/4pi)^(1/3)) or ``'ratio'`` (R = 3V/A); see the module doc."""
        if radius == "volume":
            r = (3.0 * volume_m3 / (4.0 * math.pi)) ** (1.0 / 3.0)
        elif radius == "ratio":
            r = 3.0 * volume_m3 / area_m2
        else:
            raise ValueError(f"radius must be 'volume' or 'ratio', not {radius!r}")
        return cls(float(volume_m3), float(area_m2), float(r))

    @classmethod
    def sphere(cls, radius_m: float) -> "SphereGeometry":
        """A true sphere of radius R."""
        return cls(4.0 / 3.0 * math.pi * radius_m ** 3, 4.0 * math.pi * radius_m ** 2, float(radius_m))


@dataclass
class SPMResult:
    time_s: np.ndarray
    voltage_V: np.ndarray
    x_surface: np.ndarray  #: c_s / c_max at r = R
    x_mean: np.ndarray  #: volume average of c_s / c_max
    eta_V: np.ndarray  #: surface overpotential
    li_mol: np.ndarray  #: lithium in the NCM (mol)
    charge_C: np.ndarray  #: integral of I dt (C), > 0 on discharge
    r_m: np.ndarray  #: radial nodes
    x_profile: np.ndarray  #: c_s / c_max at r_m at the last time
    ended_by: str = "times"


def butler_volmer_eta(params: ParameterSet, j_A_m2, x_surf, ce_ratio: float = 1.0) -> np.ndarray:
    """Surface overpotential (V) for a current density ``j`` (A/m2, > 0 anodic) at lithiation x_surf."""
    p = params
    f = 1.0 / p.thermal_voltage
    j = np.asarray(j_A_m2, float)
    x = np.clip(np.asarray(x_surf, float), 1e-10, 1.0 - 1e-10)
    i0 = p.k_ncm * p.c_ncm_max_mol_m3 * math.sqrt(p.c_lpscl_mol_m3 * ce_ratio) * np.sqrt(x * (1.0 - x))
    aa, ac = p.alpha_a, p.alpha_c
    if abs(aa - ac) < 1e-14:
        return np.arcsinh(j / (2.0 * i0)) / (aa * f)
    # monotone increasing g(eta) = exp(aa f eta) - exp(-ac f eta) - j/i0: Newton from the
    # symmetric guess, safeguarded by the bracket [lo, hi]
    r = j / i0
    a = 0.5 * (aa + ac)
    eta = np.arcsinh(r / 2.0) / (a * f)
    lo = np.where(r > 0, 0.0, np.log(np.abs(r) + 1.0) / (-ac * f) * 1.0001 - 1e-12)
    hi = np.where(r > 0, np.log(np.abs(r) + 1.0) / (aa * f) * 1.0001 + 1e-12, 0.0)
    for _ in range(100):
        ea, ec = np.exp(aa * f * eta), np.exp(-ac * f * eta)
        g = ea - ec - r
        lo = np.where(g < 0, eta, lo)
        hi = np.where(g > 0, eta, hi)
        new = eta - g / (aa * f * ea + ac * f * ec)
        new = np.where((new <= lo) | (new >= hi), 0.5 * (lo + hi), new)
        if np.all(np.abs(new - eta) <= 1e-15 + 1e-13 * np.abs(eta)):
            eta = new
            break
        eta = new
    return eta


class RadialDiffusion:
    """P1 FE in r (weight r^2, consistent mass), backward Euler; unknown x = c / c_max.

    ``n_cells`` uniform cells on [0, R], or ``stretch`` > 1 for cells shrinking geometrically
    towards the surface (ratio of the first to the last cell size).
    """

    def __init__(self, radius_m: float, d_m2_s: float, n_cells: int = 200, stretch: float = 1.0):
        self.R, self.D, self.n = float(radius_m), float(d_m2_s), int(n_cells)
        if stretch == 1.0:
            r = np.linspace(0.0, self.R, self.n + 1)
        else:
            q = stretch ** (-1.0 / max(self.n - 1, 1))
            h = q ** np.arange(self.n)
            r = np.concatenate([[0.0], np.cumsum(h)]) * self.R / h.sum()
            r[-1] = self.R
        self.r = r
        a, b = r[:-1], r[1:]
        h = b - a
        # exact element integrals of phi_i phi_j r^2 and phi_i' phi_j' r^2 on [a, b]
        # (phi_a = (b - r)/h, phi_b = (r - a)/h)
        m_aa = _mom(a, b, 2, 0) / h ** 2
        m_bb = _mom(a, b, 0, 2) / h ** 2
        m_ab = _mom(a, b, 1, 1) / h ** 2
        k_e = (b ** 3 - a ** 3) / 3.0 / h ** 2  # int r^2 dr / h^2
        n1 = self.n + 1
        self.M = np.zeros((3, n1))  # banded (upper, diag, lower)
        self.K = np.zeros((3, n1))
        self.M[1, :-1] += m_aa
        self.M[1, 1:] += m_bb
        self.M[0, 1:] = m_ab
        self.M[2, :-1] = m_ab
        self.K[1, :-1] += k_e
        self.K[1, 1:] += k_e
        self.K[0, 1:] = -k_e
        self.K[2, :-1] = -k_e
        self.K *= self.D
        self.weights = self.M.sum(axis=0)  # row sums of M = int phi_i r^2 dr (1^T M, M symmetric)
        self.volume_weight = self.R ** 3 / 3.0  # int_0^R r^2 dr = sum of weights

    def matvec_M(self, x: np.ndarray) -> np.ndarray:
        y = self.M[1] * x
        y[:-1] += self.M[0, 1:] * x[1:]
        y[1:] += self.M[2, :-1] * x[:-1]
        return y

    def mean(self, x: np.ndarray) -> float:
        """Volume average of x over the sphere."""
        return float(self.weights @ x / self.volume_weight)

    def step(self, x: np.ndarray, dt: float, flux: float) -> np.ndarray:
        """One backward-Euler step; ``flux`` = D dx/dr at R (1/m: molar flux into the particle / c_max)."""
        A = self.M / dt + self.K
        rhs = self.matvec_M(x) / dt
        rhs[-1] += flux * self.R ** 2
        return solve_banded((1, 1), A, rhs)


def _mom(a, b, p, q):
    """int_a^b (b - r)^p (r - a)^q r^2 dr for p + q = 2 (exact, vectorised)."""
    h = b - a
    if (p, q) == (2, 0):
        # int (b-r)^2 r^2 dr with r = a + s h: h * int_0^1 h^2 (1-s)^2 (a + s h)^2 ds
        return h ** 3 * (a ** 2 / 3 + a * h / 6 + h ** 2 / 30)
    if (p, q) == (0, 2):
        return h ** 3 * (a ** 2 / 3 + a * h / 2 + h ** 2 / 5)
    if (p, q) == (1, 1):
        return h ** 3 * (a ** 2 / 6 + a * h / 6 + h ** 2 / 20)
    raise ValueError((p, q))


def simulate(params: ParameterSet, geometry: SphereGeometry, current_A, times_s,
             n_cells: int = 200, stretch: float = 1.0, x0: float | None = None,
             cutoff_V: float | None = None) -> SPMResult:
    """Voltage of the equivalent particle at ``times_s`` (increasing, starting at 0).

    ``current_A``: a number (> 0 discharge) or one value per interval (len(times) - 1). Each
    interval is one backward-Euler step (pass the 3D model's accepted times to share its time
    discretisation). Stops early (``ended_by``) at ``cutoff_V`` or when x_surf reaches 1.
    """
    p = params
    t = np.asarray(times_s, float)
    if t.ndim != 1 or t.size < 1 or np.any(np.diff(t) <= 0):
        raise ValueError("times_s must be strictly increasing")
    cur = np.broadcast_to(np.asarray(current_A, float), (max(t.size - 1, 1),)) if np.ndim(current_A) == 0 \
        else np.asarray(current_A, float)
    if cur.size != max(t.size - 1, 1):
        raise ValueError("one current per interval")
    g = geometry
    rad = RadialDiffusion(g.radius_m, p.d_ncm_m2_s, n_cells, stretch)
    x = np.full(rad.n + 1, p.initial_lithiation if x0 is None else float(x0))
    cmax = p.c_ncm_max_mol_m3
    # flux per unit diffusion area: N = I R / (3 V F); D dx/dr = N / c_max
    flux_per_A = g.radius_m / (3.0 * g.volume_m3 * FARADAY * cmax)
    scale_mol = g.volume_m3 * cmax / rad.volume_weight  # mol per unit of sum(weights * x)

    def volt(xs, i):
        eta = butler_volmer_eta(p, -i / g.area_m2, xs)
        return float(p.ocp.numpy(xs) + eta), float(eta)

    out = {k: [] for k in ("t", "v", "xs", "xm", "eta", "li", "q")}

    def record(tt, i, q):
        v, eta = volt(x[-1], i)
        out["t"].append(tt)
        out["v"].append(v)
        out["xs"].append(float(x[-1]))
        out["xm"].append(rad.mean(x))
        out["eta"].append(eta)
        out["li"].append(float(rad.weights @ x) * scale_mol)
        out["q"].append(q)
        return v

    q = 0.0
    record(t[0], cur[0], q)
    ended = "times"
    for k in range(t.size - 1):
        dt = t[k + 1] - t[k]
        xn = rad.step(x, dt, cur[k] * flux_per_A)
        if xn[-1] >= 1.0:
            ended = "surface saturated"
            break
        x = xn
        q += cur[k] * dt
        v = record(t[k + 1], cur[k], q)
        if cutoff_V is not None and v < cutoff_V:
            ended = "cut-off"
            break
    a = {k: np.asarray(v) for k, v in out.items()}
    return SPMResult(a["t"], a["v"], a["xs"], a["xm"], a["eta"], a["li"], a["q"], rad.r, x.copy(), ended)


def discharge(params: ParameterSet, geometry: SphereGeometry, current_A: float, cutoff_V: float = 3.0,
              dt_s: float = 1.0, t_max_s: float | None = None, n_cells: int = 200,
              stretch: float = 1.0) -> SPMResult:
    """Constant-current discharge on uniform steps ``dt_s`` to the cut-off (or x_surf = 1)."""
    if t_max_s is None:
        q_max = (1.0 - params.initial_lithiation) * geometry.volume_m3 * params.c_ncm_max_mol_m3 * FARADAY
        t_max_s = 1.05 * q_max / current_A
    t = np.arange(0.0, t_max_s + 0.5 * dt_s, dt_s)
    return simulate(params, geometry, current_A, t, n_cells, stretch, cutoff_V=cutoff_V)


def surface_excess_steady(params: ParameterSet, geometry: SphereGeometry, current_A: float) -> float:
    """Long-time x_surf - x_mean = N R / (5 D c_max) of constant-flux diffusion in a sphere."""
    n = current_A * geometry.radius_m / (3.0 * geometry.volume_m3 * FARADAY)
    return n * geometry.radius_m / (5.0 * params.d_ncm_m2_s * params.c_ncm_max_mol_m3)
