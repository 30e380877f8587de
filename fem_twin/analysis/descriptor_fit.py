"""Fit ``sigma_eff / sigma = eps^a * beta^b / tau_geo^c`` to structures (issue 18, part 3).

The relation is that of Stenzel et al. (AIChE J. 2016, "Predicting effective conductivities
based on geometric microstructure characteristics"; their fit to many virtual structures is
``a = 1.15, b = 0.37, c = 4.39``, :data:`REFERENCE_EXPONENTS`). Here it is fitted by linear least
squares in logs, without a prefactor::

    log(sigma_eff / sigma) = a log(eps) + b log(beta) - c log(tau_geo)

``eps``, ``beta`` and ``tau_geo`` come from ``analysis.json['descriptors']`` (see
:mod:`fem_twin.analysis.descriptors`), ``sigma_eff / sigma`` from ``conductivity_<phase>.json``
(``relative_conductivity``; the command ``fem-twin conductivity DIR --phase PHASE``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, InputError

#: Stenzel et al. 2016 (a, b, c), for comparison
REFERENCE_EXPONENTS = (1.15, 0.37, 4.39)


def fit_exponents(eps, beta, tau, relative_conductivity) -> dict:
    """Least-squares exponents of ``rel = eps^a beta^b / tau^c`` (all inputs 1D, dimensionless).

    Rows where any value is not finite or not > 0 are dropped. Returns ``{a, b, c, r2, n,
    stderr: [sa, sb, sc]}``: R^2 of log(rel) about its mean, standard errors from the residual
    variance (nan when n <= 3); a, b, c are nan when fewer than 3 rows remain.
    """
    cols = [np.asarray(v, dtype=float).ravel() for v in (eps, beta, tau, relative_conductivity)]
    if len({c.size for c in cols}) != 1:
        raise InputError("fit", "eps, beta, tau and sigma_eff/sigma of equal length",
                         [c.size for c in cols])
    e, b, t, y = cols
    ok = np.all([np.isfinite(c) & (c > 0) for c in cols], axis=0)
    n = int(ok.sum())
    nan = math.nan
    if n < 3:
        return {"a": nan, "b": nan, "c": nan, "r2": nan, "n": n, "stderr": [nan, nan, nan]}
    X = np.column_stack([np.log(e[ok]), np.log(b[ok]), -np.log(t[ok])])
    ly = np.log(y[ok])
    coef, _, rank, _ = np.linalg.lstsq(X, ly, rcond=None)
    res = ly - X @ coef
    ss_tot = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - float(res @ res) / ss_tot if ss_tot > 0 else nan
    if n > 3 and rank == 3:
        cov = float(res @ res) / (n - 3) * np.linalg.inv(X.T @ X)
        stderr = [float(math.sqrt(max(v, 0.0))) for v in np.diag(cov)]
    else:
        stderr = [nan, nan, nan]
    return {"a": float(coef[0]), "b": float(coef[1]), "c": float(coef[2]), "r2": r2, "n": n,
            "stderr": stderr}


def r2_of(exponents, eps, beta, tau, relative_conductivity) -> float:
    """R^2 (log scale, about the mean) of the relation with given ``(a, b, c)`` on the data."""
    a, b, c = exponents
    cols = [np.asarray(v, dtype=float).ravel() for v in (eps, beta, tau, relative_conductivity)]
    ok = np.all([np.isfinite(v) & (v > 0) for v in cols], axis=0)
    e, bb, t, y = (v[ok] for v in cols)
    if y.size < 2:
        return math.nan
    ly = np.log(y)
    res = ly - (a * np.log(e) + b * np.log(bb) - c * np.log(t))
    return 1.0 - float(res @ res) / float(np.sum((ly - ly.mean()) ** 2))


def load_case(directory, phase: str) -> dict:
    """One structure's row for ``phase``: {dir, composition, seed, eps, beta, tau_geo, r_min_um,
    r_max_um, ssa_per_m, relative_conductivity, sigma_eff_S_per_m, method}. Raises
    :class:`FileFormatError` when analysis.json has no descriptors or the conductivity file is
    missing."""
    d = Path(directory)
    ana = d / "analysis.json"
    cond = d / f"conductivity_{phase}.json"
    for p in (ana, cond):
        if not p.exists():
            raise FileFormatError(p, "no such file (run 'fem-twin analyze' / 'fem-twin conductivity')")
    desc = json.loads(ana.read_text()).get("descriptors") or {}
    if phase not in desc:
        raise FileFormatError(ana, f"no descriptors of {phase} (re-run 'fem-twin analyze')")
    c = json.loads(cond.read_text())
    comp, seed = None, None
    meta = d / "design.json"
    if meta.exists():
        m = json.loads(meta.read_text())
        seed = m.get("seed")
        if m.get("design"):
            comp = ":".join(f"{m['design']['composition'][k]:g}" for k in ("ncm", "lpscl", "nbr"))
    row = {"dir": str(d), "composition": comp, "seed": seed}
    row.update({k: desc[phase].get(k) for k in ("eps", "beta", "tau_geo", "r_min_um", "r_max_um",
                                                  "ssa_per_m", "reached_fraction")})
    row["relative_conductivity"] = c["relative_conductivity"] if c.get("percolates") else 0.0
    row["sigma_eff_S_per_m"] = c["sigma_eff_S_per_m"]
    row["method"] = c.get("method")
    return row


def fit_cases(rows: list[dict]) -> dict:
    """:func:`fit_exponents` on rows of :func:`load_case` (None values count as nan)."""
    def col(k):
        return np.array([math.nan if r[k] is None else r[k] for r in rows], float)

    return fit_exponents(col("eps"), col("beta"), col("tau_geo"), col("relative_conductivity"))
