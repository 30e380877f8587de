"""Open-circuit potential U(x) of the NCM cathode versus Li/Li+, x = c_s / c_s,max (lithiation).

The seed (Park et al. 2020) does not publish its NCM711 OCP curve. Three forms exist:

``"chen2020"`` -- the published fit for a Ni-rich NMC811 cathode of Chen et al. (2020)::

    U(x) = -0.8090 x + 4.4875 - 0.0428 tanh(18.5138 (x - 0.5542))
           - 17.7326 tanh(15.7890 (x - 0.3117)) + 17.5842 tanh(15.9308 (x - 0.3120))   [V]

  C.-H. Chen, F. Brosa Planella, K. O'Regan, D. Gastol, W. D. Widanage, E. Kendrick,
  "Development of Experimental Techniques for Parameterization of Multi-scale Lithium-ion Battery
  Models", J. Electrochem. Soc. 167 (2020) 080534 (the same fit is PyBaMM's
  ``nmc_LGM50_ocp_Chen2020``). Its stoichiometry window 0.266-0.908 spans 182 mAh/g of a
  284 mAh/g theoretical capacity (c_max = 47,054 mol/m3, 4.44 g/cm3), close to NCM711's practical
  capacity. It was fitted inside a graphite full cell, whose discharge ends on the graphite side,
  so it has no end-of-discharge drop: it never falls below 3.49 V and a half cell against Li
  metal would not reach a 3.0 V cut-off through the OCP.

``"chen2020_xu2019"`` (default) -- the Chen2020 fit plus the end-of-discharge term of the
  NMC532 half-cell (against Li metal) OCP of Xu et al. (2019)::

      U(x) = U_Chen2020(x) - 5.623e-5 exp(109.451 x - 100.006)   [V]

  S. Xu, K.-H. Chen, N. P. Dasgupta, J. B. Siegel, A. G. Stefanopoulou, "Evolution of Dead
  Lithium Growth in Lithium Metal Batteries: Experimentally Validated Model of the Apparent
  Capacity Loss", J. Electrochem. Soc. 166 (2019) A3456 (PyBaMM's ``nmc_ocp_Xu2019``; the term
  is 0.1 mV at x = 0.92, 0.08 V at x = 0.98, 0.24 V at x = 0.99 and 0.71 V at x = 1, and is held
  at its x = 1 value beyond, so Newton iterates that overshoot c_max stay finite). It makes the
  voltage collapse when the NCM surfaces fill, as a Li | NCM half cell does, so a discharge ends
  at the cut-off instead of at surface saturation. NCM711 (the seed's material) sits between NMC622 and NMC811;
  the curve is an assumption.

``"table"`` -- (x, U) points read from TOML (``[ocp] x = [...]``, ``u_V = [...]``), interpolated
  linearly and extended with the end slopes.

Every form exists as a numpy function (:meth:`OpenCircuitPotential.numpy`), as a UFL
expression (:meth:`OpenCircuitPotential.ufl`) and as a PyBaMM expression
(:meth:`OpenCircuitPotential.pybamm`, for the comparison with PyBaMM's single-particle model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

#: coefficients of the Chen 2020 fit: slope, offset, and (amplitude, steepness, centre) of the tanh terms
_CHEN2020 = (-0.8090, 4.4875, ((-0.0428, 18.5138, 0.5542), (-17.7326, 15.7890, 0.3117),
                               (17.5842, 15.9308, 0.3120)))
#: end-of-discharge term of the Xu 2019 NMC532 half-cell OCP: -amplitude * exp(rate * x + offset)
_XU2019_DROP = (5.623e-5, 109.451, -100.006)
KINDS = ("chen2020_xu2019", "chen2020", "table")


def validate_table(x, u_V) -> None:
    """An OCP table: equal lengths >= 2, finite, x strictly increasing in [0, 1], U in [0, 6] V and
    non-increasing in x (the potential falls as the cathode fills; a rising U makes the discharge
    run away). Each error names the list, the index and the values."""
    if len(x) != len(u_V):
        raise InputError("ocp.x/ocp.u_V", "lists of equal length", f"{len(x)} x values and {len(u_V)} u_V values")
    if len(x) < 2:
        raise InputError("ocp.x", "at least 2 points", len(x))
    xa, ua = np.asarray(x, float), np.asarray(u_V, float)
    for name, a in (("ocp.x", xa), ("ocp.u_V", ua)):
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            raise InputError(f"{name}[{bad[0]}]", "a finite number", float(a[bad[0]]))
    if xa[0] < 0 or xa[-1] > 1:
        raise InputError("ocp.x", "lithiation values in [0, 1]", [float(xa[0]), float(xa[-1])])
    dx = np.flatnonzero(np.diff(xa) <= 0)
    if dx.size:
        i = int(dx[0])
        raise InputError(f"ocp.x[{i + 1}]", f"strictly increasing lithiation values (x[{i}] = {xa[i]:g})",
                         float(xa[i + 1]))
    if ua.min() < 0 or ua.max() > 6:
        raise InputError("ocp.u_V", "potentials in [0, 6] V vs Li/Li+", [float(ua.min()), float(ua.max())])
    du = np.flatnonzero(np.diff(ua) > 0)
    if du.size:
        i = int(du[0])
        raise InputError(f"ocp.u_V[{i + 1}]", f"a value <= u_V[{i}] = {ua[i]:g} V (not monotone: U must not rise "
                         f"with lithiation, x = {xa[i]:g} -> {xa[i + 1]:g})", float(ua[i + 1]))


@dataclass(frozen=True)
class OpenCircuitPotential:
    """U(x) of the cathode: ``kind`` is ``'chen2020_xu2019'`` (default), ``'chen2020'`` or
    ``'table'`` (with ``x`` and ``u_V``)."""

    kind: str = "chen2020_xu2019"
    x: tuple[float, ...] = ()
    u_V: tuple[float, ...] = ()
    #: a table only: True allows lithiation values outside [x[0], x[-1]] (the end slopes extend
    #: it); False (default): the parameter set requires the table to cover
    #: [initial_lithiation, max_lithiation]
    extend: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InputError("ocp", "'chen2020_xu2019', 'chen2020' or a table {x = [...], u_V = [...]}",
                             self.kind)
        if not isinstance(self.extend, bool):
            raise InputError("ocp.extend", "true or false", self.extend)
        if self.kind == "table":
            validate_table(self.x, self.u_V)

    def covers(self, lo: float, hi: float) -> None:
        """Raise InputError when a table without ``extend`` does not cover the lithiation range [lo, hi]."""
        if self.kind != "table" or self.extend:
            return
        if self.x[0] > lo + 1e-12:
            raise InputError("ocp.x", f"a table starting at or below the initial lithiation {lo:g} "
                             "(or extend = true in [ocp] to extend it with its first slope)", self.x[0])
        if self.x[-1] < hi - 1e-12:
            raise InputError("ocp.x", f"a table reaching max_lithiation {hi:g} "
                             "(or extend = true in [ocp] to extend it with its last slope)", self.x[-1])

    @classmethod
    def from_toml_value(cls, value) -> "OpenCircuitPotential":
        """``"chen2020_xu2019"``, ``"chen2020"`` or a table ``{x = [...], u_V = [...], extend = false}``
        (x = lithiation, U in V)."""
        if isinstance(value, str):
            return cls(kind=value.lower())
        if isinstance(value, dict):
            unknown = set(value) - {"x", "u_V", "extend"}
            if unknown:
                raise InputError(f"ocp.{sorted(unknown)[0]}", "only keys x, u_V and extend in the [ocp] table",
                                 "unknown key")
            cols = []
            for key in ("x", "u_V"):
                if key not in value:
                    raise InputError(f"ocp.{key}", "a list of numbers", "missing")
                col = value[key]
                if not isinstance(col, (list, tuple)):
                    raise InputError(f"ocp.{key}", "a list of numbers", col)
                for i, v in enumerate(col):
                    if isinstance(v, bool) or not isinstance(v, (int, float)):
                        raise InputError(f"ocp.{key}[{i}]", "a number", v)
                cols.append(tuple(float(v) for v in col))
            return cls("table", cols[0], cols[1], value.get("extend", False))
        raise InputError("ocp", "'chen2020_xu2019', 'chen2020' or a table {x = [...], u_V = [...]}", value)

    def to_dict(self):
        if self.kind != "table":
            return {"kind": self.kind}
        d = {"kind": "table", "x": list(self.x), "u_V": list(self.u_V)}
        if self.extend:
            d["extend"] = True
        return d

    # -- evaluation --------------------------------------------------------------------------
    def numpy(self, x):
        """U(x) in V for an array (or number) of lithiation values."""
        x = np.asarray(x, float)
        if self.kind in ("chen2020", "chen2020_xu2019"):
            a, b, terms = _CHEN2020
            u = a * x + b
            for amp, k, x0 in terms:
                u = u + amp * np.tanh(k * (x - x0))
            if self.kind == "chen2020_xu2019":
                amp, rate, off = _XU2019_DROP
                u = u - amp * np.exp(rate * np.minimum(x, 1.0) + off)  # bounded beyond x = 1
            return u
        xs, us = np.asarray(self.x), np.asarray(self.u_V)
        u = np.interp(x, xs, us)
        s0 = (us[1] - us[0]) / (xs[1] - xs[0])
        s1 = (us[-1] - us[-2]) / (xs[-1] - xs[-2])
        u = np.where(x < xs[0], us[0] + s0 * (x - xs[0]), u)
        return np.where(x > xs[-1], us[-1] + s1 * (x - xs[-1]), u)

    def derivative_numpy(self, x):
        """dU/dx in V for an array of lithiation values: the derivative of :meth:`ufl` as UFL
        differentiates it (the Xu 2019 term is flat beyond x = 1; a table has its segment slopes,
        the end slopes beyond its ends)."""
        x = np.asarray(x, float)
        if self.kind in ("chen2020", "chen2020_xu2019"):
            a, b, terms = _CHEN2020
            du = np.full_like(x, a)
            for amp, k, x0 in terms:
                du = du + amp * k / np.cosh(k * (x - x0)) ** 2
            if self.kind == "chen2020_xu2019":
                amp, rate, off = _XU2019_DROP
                du = du - np.where(x < 1.0, amp * rate * np.exp(rate * np.minimum(x, 1.0) + off), 0.0)
            return du
        xs, us = np.asarray(self.x), np.asarray(self.u_V)
        slopes = np.diff(us) / np.diff(xs)
        seg = np.clip(np.searchsorted(xs, x, side="left") - 1, 0, slopes.size - 1)
        return slopes[seg]

    def _expression(self, x, tanh, exp, minimum, maximum):
        """U(x) built from the given elementary functions (UFL, PyBaMM): one definition for the
        symbolic forms (tables: first segment + slope changes times ramps max(x - x_i, 0))."""
        if self.kind in ("chen2020", "chen2020_xu2019"):
            a, b, terms = _CHEN2020
            u = a * x + b
            for amp, k, x0 in terms:
                u = u + amp * tanh(k * (x - x0))
            if self.kind == "chen2020_xu2019":
                amp, rate, off = _XU2019_DROP
                u = u - amp * exp(rate * minimum(x, 1.0) + off)  # bounded beyond x = 1
            return u
        xs, us = list(self.x), list(self.u_V)
        slopes = [(us[i + 1] - us[i]) / (xs[i + 1] - xs[i]) for i in range(len(xs) - 1)]
        u = us[0] + slopes[0] * (x - xs[0])
        for i in range(1, len(slopes)):
            u = u + (slopes[i] - slopes[i - 1]) * maximum(x - xs[i], 0.0)
        return u

    def ufl(self, x):
        """U(x) as a UFL expression of a UFL lithiation ``x``."""
        import ufl

        return self._expression(x, ufl.tanh, ufl.exp, ufl.min_value, ufl.max_value)

    def pybamm(self, x):
        """U(x) as a PyBaMM expression of a PyBaMM stoichiometry ``x`` (the same function as
        :meth:`numpy` and :meth:`ufl`; for comparisons with PyBaMM's models)."""
        import pybamm

        return self._expression(x, pybamm.tanh, pybamm.exp, pybamm.minimum, pybamm.maximum)

    def lithiation_at(self, u_V: float, lo: float = 0.0, hi: float = 1.0) -> float:
        """Lithiation where U equals ``u_V`` (bisection; U decreases with x). NaN if outside."""
        f = lambda x: float(self.numpy(x)) - u_V  # noqa: E731
        if f(lo) * f(hi) > 0:
            return math.nan
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            if f(lo) * f(mid) <= 0:
                hi = mid
            else:
                lo = mid
        return 0.5 * (lo + hi)
