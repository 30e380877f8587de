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


@dataclass(frozen=True)
class OpenCircuitPotential:
    """U(x) of the cathode: ``kind`` is ``'chen2020_xu2019'`` (default), ``'chen2020'`` or
    ``'table'`` (with ``x`` and ``u_V``)."""

    kind: str = "chen2020_xu2019"
    x: tuple[float, ...] = ()
    u_V: tuple[float, ...] = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InputError("ocp", "'chen2020_xu2019', 'chen2020' or a table {x = [...], u_V = [...]}",
                             self.kind)
        if self.kind == "table":
            x, u = np.asarray(self.x, float), np.asarray(self.u_V, float)
            if x.ndim != 1 or x.size < 2 or x.size != u.size:
                raise InputError("ocp.x/ocp.u_V", "two lists of equal length >= 2", (len(self.x), len(self.u_V)))
            if not (np.all(np.isfinite(x)) and np.all(np.isfinite(u))):
                raise InputError("ocp", "finite numbers", "NaN/inf")
            if np.any(np.diff(x) <= 0) or x[0] < 0 or x[-1] > 1:
                raise InputError("ocp.x", "strictly increasing lithiation values in [0, 1]", list(self.x))
            if u.min() < 0 or u.max() > 6:
                raise InputError("ocp.u_V", "potentials in [0, 6] V vs Li/Li+", [u.min(), u.max()])

    @classmethod
    def from_toml_value(cls, value) -> "OpenCircuitPotential":
        """``"chen2020_xu2019"``, ``"chen2020"`` or a table ``{x = [...], u_V = [...]}`` (x = lithiation, U in V)."""
        if isinstance(value, str):
            return cls(kind=value.lower())
        if isinstance(value, dict):
            unknown = set(value) - {"x", "u_V"}
            if unknown:
                raise InputError(f"ocp.{sorted(unknown)[0]}", "only keys x and u_V in the [ocp] table", None)
            try:
                return cls("table", tuple(float(v) for v in value["x"]), tuple(float(v) for v in value["u_V"]))
            except (KeyError, TypeError, ValueError):
                raise InputError("ocp", "a table with lists x and u_V of numbers", value) from None
        raise InputError("ocp", "'chen2020_xu2019', 'chen2020' or a table {x = [...], u_V = [...]}", value)

    def to_dict(self):
        return {"kind": self.kind} if self.kind != "table" else {"kind": "table", "x": list(self.x),
                                                                   "u_V": list(self.u_V)}

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

    def ufl(self, x):
        """U(x) as a UFL expression of a UFL lithiation ``x``."""
        import ufl

        if self.kind in ("chen2020", "chen2020_xu2019"):
            a, b, terms = _CHEN2020
            u = a * x + b
            for amp, k, x0 in terms:
                u = u + amp * ufl.tanh(k * (x - x0))
            if self.kind == "chen2020_xu2019":
                amp, rate, off = _XU2019_DROP
                u = u - amp * ufl.exp(rate * ufl.min_value(x, 1.0) + off)  # bounded beyond x = 1
            return u
        # piecewise linear = first segment + sum of slope changes times ramps max(x - x_i, 0)
        xs, us = list(self.x), list(self.u_V)
        slopes = [(us[i + 1] - us[i]) / (xs[i + 1] - xs[i]) for i in range(len(xs) - 1)]
        u = us[0] + slopes[0] * (x - xs[0])
        for i in range(1, len(slopes)):
            u = u + (slopes[i] - slopes[i - 1]) * ufl.max_value(x - xs[i], 0.0)
        return u

    def pybamm(self, x):
        """U(x) as a PyBaMM expression of a PyBaMM stoichiometry ``x`` (the same function as
        :meth:`numpy` and :meth:`ufl`; for comparisons with PyBaMM's models)."""
        import pybamm

        if self.kind in ("chen2020", "chen2020_xu2019"):
            a, b, terms = _CHEN2020
            u = a * x + b
            for amp, k, x0 in terms:
                u = u + amp * pybamm.tanh(k * (x - x0))
            if self.kind == "chen2020_xu2019":
                amp, rate, off = _XU2019_DROP
                u = u - amp * pybamm.exp(rate * pybamm.minimum(x, 1.0) + off)
            return u
        xs, us = list(self.x), list(self.u_V)
        slopes = [(us[i + 1] - us[i]) / (xs[i + 1] - xs[i]) for i in range(len(xs) - 1)]
        u = us[0] + slopes[0] * (x - xs[0])
        for i in range(1, len(slopes)):
            u = u + (slopes[i] - slopes[i - 1]) * pybamm.maximum(x - xs[i], 0.0)
        return u

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
