"""fem_twin.fem.kinetics: the UFL expression and the numpy function of Butler-Volmer are the same
kinetics (values and derivatives), on a grid of lithiations, concentrations and overpotentials that
includes the clipped ranges."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fem_twin._dolfinx import MPI, dolfinx
from fem_twin.fem.kinetics import (butler_volmer, interface_current_ufl, li_current, li_current_ufl)
from fem_twin.parameters.cell import ParameterSet

THETA_S = [-0.05, 1e-12, 0.01, 0.2, 0.5, 0.83, 0.99, 1.0 - 1e-12, 1.02]
THETA_E = [-0.1, 0.05, 0.7, 1.0, 1.6]
PHI_S = [-0.3, 0.0, 0.012]
PHI_E = [-0.05, 0.0, 0.08]
V = 3.7


def _grid(frozen: bool):
    te = [None] if frozen else THETA_E
    rows = list(itertools.product(THETA_S, PHI_S, PHI_E, te))
    cols = list(zip(*rows))
    return [np.array(c, float) for c in cols[:3]], (None if frozen else np.array(cols[3], float))


def _p1(msh, values):
    u = dolfinx.fem.Function(dolfinx.fem.functionspace(msh, ("Lagrange", 1)))
    # P1 on an interval with n + 1 vertices: dofs follow the vertices, set them through coordinates
    x = u.function_space.tabulate_dof_coordinates()[:, 0]
    u.x.array[:] = values[np.rint(x).astype(int)]
    return u


def _at_nodes(msh, expr):
    """A UFL scalar expression interpolated at the P1 nodes (= evaluated there), in node order."""
    W = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    out = dolfinx.fem.Function(W)
    out.interpolate(dolfinx.fem.Expression(expr, W.element.interpolation_points))
    x = W.tabulate_dof_coordinates()[:, 0]
    vals = np.empty(len(x))
    vals[np.rint(x).astype(int)] = out.x.array
    return vals


@pytest.mark.parametrize("frozen", [False, True])
@pytest.mark.parametrize("ocp, smoothing", [("default", 0.0), ("chen2020", 0.0), ("default", 1e-3)])
def test_ufl_and_numpy_kinetics_agree(frozen, ocp, smoothing):
    import ufl

    from fem_twin.parameters.ocp import OpenCircuitPotential

    # (the Chen2020 fit alone once, with asymmetric transfer coefficients)
    p = ParameterSet() if ocp == "default" else ParameterSet(ocp=OpenCircuitPotential("chen2020"),
                                                              alpha_a=0.4, alpha_c=0.6, initial_lithiation=0.3)
    p = p.with_overrides({"saturation_smoothing": smoothing})
    (ts, ps, pe), te = _grid(frozen)
    n = ts.size
    msh = dolfinx.mesh.create_interval(MPI.COMM_SELF, n - 1, [0.0, float(n - 1)])
    u_ts, u_ps, u_pe = _p1(msh, ts), _p1(msh, ps), _p1(msh, pe)
    u_te = None if frozen else _p1(msh, te)
    # differentiate through UFL variables (min/max clips differentiate to 0 outside, as in numpy)
    v_ts, v_ps, v_pe = ufl.variable(u_ts), ufl.variable(u_ps), ufl.variable(u_pe)
    v_te = None if frozen else ufl.variable(u_te)
    j, eta = interface_current_ufl(p, v_ts, v_ps, v_pe, v_te, dolfinx.fem.Constant(msh, V))
    kin = butler_volmer(p, ts, ps, pe, te, V)
    scale = np.maximum(np.abs(kin.j), 1.0)
    assert np.all(np.isfinite(kin.j))
    np.testing.assert_allclose(_at_nodes(msh, j), kin.j, rtol=1e-12, atol=1e-12 * scale.max())
    np.testing.assert_allclose(_at_nodes(msh, eta), kin.eta, rtol=0, atol=1e-13)
    pairs = [(v_ts, kin.dj_dtheta_s), (v_ps, kin.dj_dphi_s), (v_pe, kin.dj_dphi_e)]
    if not frozen:
        pairs.append((v_te, kin.dj_dtheta_e))
    for var, d_np in pairs:
        d_ufl = _at_nodes(msh, ufl.diff(j, var))
        np.testing.assert_allclose(d_ufl, d_np, rtol=1e-10, atol=1e-10 * np.abs(d_np).max())
    if frozen:
        assert np.all(kin.dj_dtheta_e == 0.0)
    # the clipped ranges: no derivative with respect to a clipped lithiation, a finite current
    # (smoothed: only the lower end is clipped; past 1 the current still depends on x)
    out = (ts <= 1e-10) | ((ts >= 1.0 - 1e-10) if not smoothing else False)
    assert out.any() and np.all(kin.dj_dtheta_s[out] == 0.0)
    if smoothing:
        assert np.all(kin.dj_dtheta_s[(ts >= 0.99) & (kin.j != 0)] != 0.0)
    # a sanity value: symmetric BV at x = 0.5, c_e = c_e0, eta = 0.01 V is 2 i0 sinh(F eta / 2RT)
    if ocp == "default" and frozen:
        p0 = ParameterSet()
        x = np.array([0.5])
        u = p0.ocp.numpy(x)[0]
        k = butler_volmer(p0, x, np.array([0.0]), np.array([V - u - 0.01]), None, V)
        i0 = p0.k_ncm * p0.c_ncm_max_mol_m3 * np.sqrt(p0.c_lpscl_mol_m3) * 0.5
        assert k.j[0] == pytest.approx(2 * i0 * np.sinh(0.01 / (2 * p0.thermal_voltage)), rel=1e-12)


def test_li_kinetics_agree():
    p = ParameterSet()
    phi = np.linspace(-0.2, 0.2, 41)
    msh = dolfinx.mesh.create_interval(MPI.COMM_SELF, phi.size - 1, [0.0, float(phi.size - 1)])
    np.testing.assert_allclose(_at_nodes(msh, li_current_ufl(p, _p1(msh, phi))), li_current(p, phi),
                               rtol=1e-12, atol=1e-12)
    # j_Li(phi_e) = 2 i0_Li sinh(-F phi_e / 2RT) with alpha = 1/2
    np.testing.assert_allclose(li_current(p, phi), 2 * p.li_exchange_current_A_m2
                               * np.sinh(-phi / (2 * p.thermal_voltage)), rtol=1e-12, atol=1e-12)


def test_saturation_smoothing_keeps_the_kinetics_finite_far_past_c_max():
    """A Newton iterate far past c_max (x = 1.8 with delta = 1e-3: r = 1 - x~ underflows to 0)
    gave NaN in dj/dx and dj/dx_e (0 * inf), which failed a 50 um run's linear solve
    (DIVERGED_NANORINF); with r floored every value and derivative is finite, j and its
    derivatives fall to 0 monotonically in |.| past 1, and nothing moves below x = 1 + 690 delta."""
    p = ParameterSet().with_overrides({"saturation_smoothing": 1e-3})
    x = np.array([1.0, 1.05, 1.2, 1.5, 1.68, 1.7, 1.72, 1.75, 1.8, 2.5, 10.0, -0.5])
    kin = butler_volmer(p, x, np.full_like(x, 0.1), np.zeros_like(x), np.full_like(x, 0.9), 3.6)
    for name in ("j", "dj_dtheta_s", "dj_dphi_s", "dj_dphi_e", "dj_dtheta_e", "eta"):
        assert np.all(np.isfinite(getattr(kin, name))), name
    past = slice(0, 10)
    assert np.all(np.diff(np.abs(kin.j[past])) <= 0) and np.all(np.diff(np.abs(kin.dj_dtheta_s[past])) <= 0)
    assert np.all(np.abs(kin.dj_dtheta_s[7:10]) == 0.0)
    # the floor is not reached below 1 + 690 delta: the same numbers as the unfloored formula there
    z = (1.0 - x[:5]) / 1e-3
    r = 1e-3 * np.logaddexp(0.0, z)
    np.testing.assert_array_equal(kin.eta[:5], 0.1 + 3.6 - 0.0 - p.ocp.numpy(1.0 - r))


def test_saturation_smoothing_is_the_clip_away_from_1_and_smooth_through_it():
    """delta = 1e-3: the same j as the clipped kinetics to 1e-4 below x = 0.99 (x - x~ = 4.5e-8
    there), identical below 0.9; through x = 1 the x-derivative is the finite difference of j
    (the clipped one has none past 1), and the parameter is left out of to_dict at 0."""
    p0 = ParameterSet()
    p = p0.with_overrides({"saturation_smoothing": 1e-3})
    args = lambda x: (x, np.full_like(x, 0.1), np.zeros_like(x), np.full_like(x, 0.9), 3.6)  # noqa: E731
    x = np.linspace(0.3, 0.99, 50)
    a, b = butler_volmer(p, *args(x)), butler_volmer(p0, *args(x))
    assert np.max(np.abs(a.j / b.j - 1)) < 1e-4
    x = np.linspace(0.3, 0.9, 20)
    np.testing.assert_allclose(butler_volmer(p, *args(x)).j, butler_volmer(p0, *args(x)).j, rtol=1e-9)
    x = np.array([0.99, 0.998, 0.9995, 1.0, 1.0005, 1.002, 1.01])
    h = 1e-8
    fd = (butler_volmer(p, *args(x + h)).j - butler_volmer(p, *args(x - h)).j) / (2 * h)
    kin = butler_volmer(p, *args(x))
    np.testing.assert_allclose(kin.dj_dtheta_s, fd, rtol=1e-5, atol=1e-9 * np.abs(kin.j).max())
    assert np.all(np.diff(kin.j) != 0) and butler_volmer(p0, *args(x)).dj_dtheta_s[-1] == 0.0
    assert "saturation_smoothing" not in p0.to_dict() and p.to_dict()["saturation_smoothing"] == 1e-3
    with pytest.raises(Exception, match="saturation_smoothing"):
        p0.with_overrides({"saturation_smoothing": -1e-3})
