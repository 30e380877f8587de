"""Particle-size distributions (PSD), volume based as a laser-diffraction PSA reports them.

A PSD is stored as a table of diameters (um) and the cumulative *volume* fraction below each.
``lognormal(d10, d50, d90)`` builds that table from the three quantiles. Sampling converts the
volume-based table into a number-based one (number weight of a size class ~ volume weight / d^3),
so a packing drawn from it reproduces the volume-based PSD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

_Z90 = 1.2815515655446004  # standard normal quantile of 0.9


@dataclass(frozen=True)
class ParticleSizeDistribution:
    """Cumulative volume-based PSD: ``cumulative[i]`` of the volume lies in particles <= ``diameters_um[i]``."""

    diameters_um: tuple[float, ...]
    cumulative: tuple[float, ...]

    def __post_init__(self):
        d = np.asarray(self.diameters_um, dtype=float)
        c = np.asarray(self.cumulative, dtype=float)
        if d.ndim != 1 or d.size < 2 or d.shape != c.shape:
            raise InputError("psd", "two equally long lists (>= 2 entries) of diameters and cumulative fractions")
        if not np.all(np.isfinite(d)) or np.any(d <= 0) or np.any(np.diff(d) <= 0):
            raise InputError("psd.diameters_um", "strictly increasing diameters > 0 (um)", list(d))
        if np.any(np.diff(c) < 0) or c[0] < 0 or abs(c[-1] - 1.0) > 1e-9:
            raise InputError("psd.cumulative", "non-decreasing fractions ending at 1", list(c))

    @classmethod
    def lognormal(cls, d10: float, d50: float, d90: float, d_min: float | None = None,
                  d_max: float | None = None, n: int = 64) -> "ParticleSizeDistribution":
        """Log-normal volume PSD through D10/D50/D90 (um), truncated to [d_min, d_max].

        The spread is ``s = ln(D90/D10) / (2 z90)``; D50 is kept exactly, D10/D90 exactly when they
        are geometrically symmetric about D50.
        """
        for name, v in (("d10", d10), ("d50", d50), ("d90", d90)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise InputError(f"psd.{name}", "a diameter > 0 (um)", v)
        if not d10 < d50 < d90:
            raise InputError("psd", "D10 < D50 < D90", (d10, d50, d90))
        s = math.log(d90 / d10) / (2 * _Z90)
        lo = d_min if d_min is not None else d50 * math.exp(-3 * s)
        hi = d_max if d_max is not None else d50 * math.exp(3 * s)
        if not 0 < lo < d50 < hi:
            raise InputError("psd", "d_min < D50 < d_max", (lo, d50, hi))
        d = np.geomspace(lo, hi, n)
        z = (np.log(d) - math.log(d50)) / s
        cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
        cdf = (cdf - cdf[0]) / (cdf[-1] - cdf[0])
        return cls(tuple(float(x) for x in d), tuple(float(x) for x in cdf))

    @property
    def d_min(self) -> float:
        return float(self.diameters_um[0])

    @property
    def d_max(self) -> float:
        """Largest diameter the PSD can produce (um)."""
        return float(self.diameters_um[-1])

    def quantile(self, q: float) -> float:
        """Diameter (um) below which a volume fraction ``q`` lies (log-linear interpolation)."""
        return float(np.exp(np.interp(q, self.cumulative, np.log(self.diameters_um))))

    def sample(self, rng: np.random.Generator, total_volume_um3: float) -> np.ndarray:
        """Diameters (um), largest first, of particles whose volumes add up to ``total_volume_um3``.

        Diameters are drawn from the number-based distribution implied by the volume table.
        """
        d = np.asarray(self.diameters_um)
        c = np.asarray(self.cumulative)
        mid = np.sqrt(d[1:] * d[:-1])
        w_vol = np.diff(c)
        w_num = w_vol / mid**3
        w_num = w_num / w_num.sum()
        mean_vol = float(np.sum(w_num * np.pi / 6 * mid**3))
        n_guess = int(total_volume_um3 / mean_vol * 1.3) + 16
        out = []
        total = 0.0
        while total < total_volume_um3:
            k = rng.choice(mid.size, size=n_guess, p=w_num)
            # uniform in log-diameter inside the class
            u = rng.random(n_guess)
            dd = np.exp(np.log(d[k]) + u * (np.log(d[k + 1]) - np.log(d[k])))
            vols = np.pi / 6 * dd**3
            cum = total + np.cumsum(vols)
            stop = np.searchsorted(cum, total_volume_um3)
            out.append(dd[: stop + 1])
            total = cum[min(stop, cum.size - 1)]
        diam = np.concatenate(out)
        return np.sort(diam)[::-1]

    def to_dict(self) -> dict:
        return {"diameters_um": list(self.diameters_um), "cumulative": list(self.cumulative)}

    @classmethod
    def from_dict(cls, d: dict) -> "ParticleSizeDistribution":
        try:
            return cls(tuple(float(x) for x in d["diameters_um"]), tuple(float(x) for x in d["cumulative"]))
        except (KeyError, TypeError) as exc:
            raise InputError("psd", "a table {'diameters_um': [...], 'cumulative': [...]}", d) from exc
