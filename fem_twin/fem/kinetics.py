"""Butler-Volmer kinetics of the discharge model, written once: the UFL expression (forms) and the
numpy function (node-by-node assembly, output fields) side by side.

NCM | LPSCl interface (``x = clip(theta_s)``, ``x_e = clip(theta_e)``, or 1 when c_e is frozen)::

    j   = i0 [exp(alpha_a f eta) - exp(-alpha_c f eta)]      (A/m2, > 0 anodic: out of the NCM)
    i0  = k c_max sqrt(c_e0) sqrt(x (1 - x) x_e)
    eta = psi_s + V - phi_e - U(x),   f = F / RT

With alpha_a = alpha_c = 1/2 this is the seed's j = 2k sqrt(c_s c_e (c_max - c_s)) sinh(F eta / 2RT).
The concentrations are clipped to [CLIP, 1 - CLIP] (c_e: [CLIP, CE_MAX]) so Newton iterates beyond
the physical range keep the kinetics finite; outside, the derivatives with respect to the clipped
unknown are zero (as UFL differentiates ``min_value``/``max_value``).

With ``saturation_smoothing`` delta > 0 the lithiation's upper end is smooth instead: x in i0 and U is
x~ = 1 - r, r = delta ln(1 + exp((1 - x)/delta)) (> 0 for every x; dx~/dx = 1/(1 + exp(-(1 - x)/delta))),
and i0 = k c_max sqrt(c_e0) sqrt(x~ r x_e); the lower end keeps its clip, and r is floored at
``R_MIN`` (reached past x = 1 + 690 delta, where the derivative is then 0), so a Newton iterate
far past c_max keeps the Jacobian finite.

Li | LPSCl plane: j_Li = i0_Li [exp(alpha_a f eta_Li) - exp(-alpha_c f eta_Li)], eta_Li = -phi_e.

``tests/test_kinetics.py`` checks that both sides give the same numbers (values and derivatives).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ufl

from ..parameters.cell import ParameterSet

CLIP = 1e-10  #: lower (and 1 - upper) clip of the lithiation, lower clip of c_e / c_e0
CE_MAX = 1e6  #: upper clip of c_e / c_e0
#: floor of r = 1 - x~ with saturation_smoothing: r underflows to 0 past x = 1 + 745 delta, and
#: sqrt(x~ r) then has an infinite derivative (NaN in the Jacobian of a Newton iterate that far out)
R_MIN = 1e-300


def _clip_ufl(x, lo=CLIP, hi=1.0 - CLIP):
    return ufl.min_value(ufl.max_value(x, lo), hi)


def _rate_constant(p: ParameterSet) -> float:
    """k c_max sqrt(c_e0): i0 = this * sqrt(x (1 - x) x_e) (A/m2)."""
    return p.k_ncm * p.c_ncm_max_mol_m3 * np.sqrt(p.c_lpscl_mol_m3)


# -- UFL -------------------------------------------------------------------------------------------
def interface_current_ufl(p: ParameterSet, theta_s, psi_s, phi_e, theta_e, V):
    """(j, eta) of the NCM | LPSCl interface as UFL expressions of the (restricted) fields;
    ``theta_e`` None: c_e frozen (x_e = 1)."""
    f = 1.0 / p.thermal_voltage
    xe = _clip_ufl(theta_e, hi=CE_MAX) if theta_e is not None else 1.0
    delta = p.saturation_smoothing
    if delta > 0:
        z = (1.0 - ufl.max_value(theta_s, CLIP)) / delta  # (the lower end keeps its clip)
        r = ufl.max_value(delta * (ufl.max_value(z, 0.0) + ufl.ln(1.0 + ufl.exp(-abs(z)))), R_MIN)  # (softplus
        # without overflow, floored)
        xs = 1.0 - r
        i0 = _rate_constant(p) * ufl.sqrt(xs * r * xe)
    else:
        xs = _clip_ufl(theta_s)
        i0 = _rate_constant(p) * ufl.sqrt(xs * (1.0 - xs) * xe)
    # U of the clipped lithiation: finite for Newton iterates beyond (0, 1)
    eta = psi_s + V - phi_e - p.ocp.ufl(xs)
    j = i0 * (ufl.exp(p.alpha_a * f * eta) - ufl.exp(-p.alpha_c * f * eta))
    return j, eta


def li_current_ufl(p: ParameterSet, phi_e):
    """Stripping current density j_Li (A/m2, > 0 into the electrolyte) at the Li plane (phi_Li = 0)."""
    f = 1.0 / p.thermal_voltage
    eta_li = -phi_e
    return p.li_exchange_current_A_m2 * (ufl.exp(p.alpha_a * f * eta_li) - ufl.exp(-p.alpha_c * f * eta_li))


# -- numpy -----------------------------------------------------------------------------------------
@dataclass
class Kinetics:
    """j (A/m2) at each interface vertex, its derivatives (per unit of each unknown) and eta (V)."""

    j: np.ndarray
    dj_dtheta_s: np.ndarray
    dj_dphi_s: np.ndarray  #: = dj/dV = dj/d eta
    dj_dphi_e: np.ndarray
    dj_dtheta_e: np.ndarray
    eta: np.ndarray | None = None


def butler_volmer(p: ParameterSet, theta_s, psi_s, phi_e, theta_e, V: float) -> Kinetics:
    """The interface kinetics of :func:`interface_current_ufl` in numpy, with their derivatives
    (``theta_e`` None: c_e frozen, x_e = 1)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # (a far too large Newton step overflows exp: inf/NaN fail the step, which is cut back)
        return _butler_volmer(p, theta_s, psi_s, phi_e, theta_e, V)


def _lithiation(p, theta_s):
    """(x, 1 - x, d(x (1 - x))/dx, dx/dtheta_s) of the kinetics: x clipped to [CLIP, 1 - CLIP]
    (the derivative 0 outside), or with ``saturation_smoothing`` delta > 0 x~ of the module docstring
    (the lower end clipped)."""
    delta = p.saturation_smoothing
    if delta > 0:
        x = np.asarray(theta_s, float)
        z = (1.0 - np.maximum(x, CLIP)) / delta
        r = delta * np.logaddexp(0.0, z)  # 1 - x~ (> 0 until it underflows)
        live = (x > CLIP) & (r > R_MIN)
        r = np.maximum(r, R_MIN)
        xs = 1.0 - r
        with np.errstate(over="ignore"):  # (exp(-z) = inf past x = 1 + 709 delta: the sigmoid is 0)
            return xs, r, r - xs, live / (1.0 + np.exp(-z))
    xs = np.clip(theta_s, CLIP, 1.0 - CLIP)
    ins = ((theta_s > CLIP) & (theta_s < 1.0 - CLIP)).astype(float)
    return xs, 1.0 - xs, 1.0 - 2.0 * xs, ins


def _butler_volmer(p, theta_s, psi_s, phi_e, theta_e, V) -> Kinetics:
    f = 1.0 / p.thermal_voltage
    xs, one_minus, dsq, dxs = _lithiation(p, theta_s)
    if theta_e is None:
        xe, ine = np.ones_like(xs), np.zeros_like(xs)
    else:
        xe = np.clip(theta_e, CLIP, CE_MAX)
        ine = ((theta_e > CLIP) & (theta_e < CE_MAX)).astype(float)
    k = _rate_constant(p)
    s = xs * one_minus * xe
    i0 = k * np.sqrt(s)
    eta = psi_s + V - phi_e - p.ocp.numpy(xs)
    ea, ec = np.exp(p.alpha_a * f * eta), np.exp(-p.alpha_c * f * eta)
    e = ea - ec
    de = f * (p.alpha_a * ea + p.alpha_c * ec)
    j = i0 * e
    dj_deta = i0 * de
    di0_dxs = 0.5 * k * dsq * xe / np.sqrt(s)
    di0_dxe = 0.5 * k * xs * one_minus / np.sqrt(s)
    dj_dxs = dxs * (di0_dxs * e - dj_deta * p.ocp.derivative_numpy(xs))
    return Kinetics(j, dj_dxs, dj_deta, -dj_deta, ine * di0_dxe * e, eta)


def li_current(p: ParameterSet, phi_e):
    """:func:`li_current_ufl` in numpy."""
    f = 1.0 / p.thermal_voltage
    eta_li = -np.asarray(phi_e, float)
    return p.li_exchange_current_A_m2 * (np.exp(p.alpha_a * f * eta_li) - np.exp(-p.alpha_c * f * eta_li))
