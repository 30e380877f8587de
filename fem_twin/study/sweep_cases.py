"""The cases of a design sweep: ``--vary`` / ``--set`` parsing, the grid and the Latin hypercube,
and the case folders. Pure functions on frozen dataclasses (no files are touched here).

``--vary KEY=V1,V2,...`` (a list), ``KEY=LO:HI:N`` (N values evenly spaced from LO to HI, ends
included; ``LO:HI:N:log`` geometrically spaced) or, with ``--lhs N``, ``KEY=LO:HI`` (a range;
``LO:HI:log`` samples log10 of the value uniformly). ``--set KEY=V`` fixes a key for every case.
Keys and values: :mod:`fem_twin.study.sweep_keys`.

Folders: the structure of a design point and seed in ``DIR/<k1>=<v1>_<k2>=<v2>_seed=<S>/`` (design
keys only, in the order of ``--vary``; ``seed=<S>`` alone when no design key varies), its discharge
at C-rate R in ``<structure>/<cell and parameter keys>_c<R>C/`` (``c<R>C`` alone when none varies).
Cases with the same design point and seed share the structure.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .sweep_keys import CONFLICTS, KEYS, SweepKey, format_value, parse_value, resolve_key


@dataclass(frozen=True)
class Axis:
    """One ``--vary`` key: its values (a list or an evenly spaced grid), or for the Latin hypercube
    a range [lo, hi] (``log``: sampled uniformly in log10)."""

    key: str
    values: tuple = ()
    lo: float | None = None
    hi: float | None = None
    log: bool = False

    @property
    def is_range(self) -> bool:
        return self.lo is not None

    @property
    def numeric(self) -> bool:
        return KEYS[self.key].numeric


def _split_assignment(text: str, option: str) -> tuple[SweepKey, str]:
    t = str(text)
    if "=" not in t:
        raise InputError(option, "KEY=VALUES, e.g. ncm_wt=60,70,80 or ncm_d50_um=5:13 (with --lhs)", text)
    name, values = t.split("=", 1)
    if not values.strip():
        raise InputError(f"{option} {name.strip()}", "at least one value after '='", text)
    return resolve_key(name, option), values.strip()


def _range_number(key: SweepKey, text: str, option: str) -> float:
    return parse_value(key, text, option)


def parse_axis(text: str, lhs: bool = False) -> Axis:
    """One ``--vary`` option as an :class:`Axis` (see the module docstring for the forms). With
    ``lhs`` only numeric ranges ``LO:HI[:log]`` are accepted; without, lists and ``LO:HI:N[:log]``."""
    option = "--vary"
    key, values = _split_assignment(text, option)
    field = f"{option} {key.name}"
    is_range = ":" in values and key.name != "composition"
    if lhs:
        if not key.numeric:
            raise InputError(field, f"a numeric key with --lhs ({key.name} takes {key.expected()}; "
                             "vary it with --grid)", values)
        parts = values.split(":")
        log = len(parts) == 3 and parts[2].strip().lower() == "log"
        if not is_range or len(parts) not in (2, 3) or (len(parts) == 3 and not log):
            raise InputError(field, "a range LO:HI or LO:HI:log with --lhs", values)
        lo, hi = (_range_number(key, p, option) for p in parts[:2])
        if not lo < hi:
            raise InputError(field, "a range LO:HI with LO < HI", values)
        if log and lo <= 0:
            raise InputError(field, "a range LO:HI:log with LO > 0", values)
        return Axis(key.name, lo=lo, hi=hi, log=log)
    if is_range:
        parts = values.split(":")
        log = len(parts) == 4 and parts[3].strip().lower() == "log"
        if not key.numeric or len(parts) not in (3, 4) or (len(parts) == 4 and not log):
            raise InputError(field, "V1,V2,... or LO:HI:N (N values from LO to HI; LO:HI:N:log) with --grid; "
                             "a range LO:HI needs --lhs N", values)
        lo, hi = (_range_number(key, p, option) for p in parts[:2])
        try:
            n = int(parts[2])
        except ValueError:
            n = 0
        if n < 2 or not lo < hi:
            raise InputError(field, "LO:HI:N with LO < HI and an integer N >= 2", values)
        if log and lo <= 0:
            raise InputError(field, "LO:HI:N:log with LO > 0", values)
        grid = np.geomspace(lo, hi, n) if log else np.linspace(lo, hi, n)
        return Axis(key.name, values=tuple(float(f"{v:.6g}") for v in grid))
    items = values.split(",")
    if items and not items[-1].strip():  # a trailing comma
        items = items[:-1]
    if not items or any(not v.strip() for v in items):
        raise InputError(field, f"comma-separated values without empty items, each {key.expected()}", values)
    vals = [parse_value(key, v, option) for v in items]
    return Axis(key.name, values=tuple(dict.fromkeys(vals)))


def parse_fixed(texts: list[str]) -> dict:
    """``--set KEY=V`` options -> {canonical key: value}; a key set twice is an InputError."""
    out = {}
    for t in texts or []:
        key, value = _split_assignment(t, "--set")
        if key.name in out:
            raise InputError(f"--set {key.name}", "each key once", t)
        out[key.name] = parse_value(key, value, "--set")
    return out


def check_axes(axes: list[Axis], fixed: dict) -> None:
    """Refuse a key varied twice, varied and set, and the pairs of :data:`CONFLICTS`."""
    seen = set()
    for a in axes:
        if a.key in seen:
            raise InputError(f"--vary {a.key}", "each key once (one --vary per key)", a.key)
        if a.key in fixed:
            raise InputError(f"--vary {a.key}", "a key that is not also fixed by --set", a.key)
        seen.add(a.key)
    used = seen | set(fixed)
    for x, y in CONFLICTS:
        if x in used and y in used:
            raise InputError(f"--vary/--set {y}", f"not together with {x} (one of them decides)", f"{x} and {y}")


def grid_points(axes: list[Axis]) -> list[dict]:
    """The Cartesian product of the axes' values: [{key: value}], the last axis running fastest."""
    if any(a.is_range for a in axes):
        raise InputError("--vary", "value lists with --grid (ranges LO:HI need --lhs N)",
                         [a.key for a in axes if a.is_range])
    return [dict(zip([a.key for a in axes], combo)) for combo in itertools.product(*(a.values for a in axes))]


def lhs_unit(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """A Latin hypercube of ``n`` points in [0, 1)^d: in every dimension each of the n strata
    [i/n, (i+1)/n) holds exactly one point (a random permutation of the strata, a uniform offset inside)."""
    u = np.empty((n, d))
    for j in range(d):
        u[:, j] = (rng.permutation(n) + rng.random(n)) / n
    return u


def lhs_points(axes: list[Axis], n: int, rng: np.random.Generator) -> list[dict]:
    """``n`` Latin-hypercube points over the axes' ranges (log10-uniform for ``log`` axes), values
    rounded to 6 significant digits (what the folders and the CSV write)."""
    if not (isinstance(n, int) and n >= 1):
        raise InputError("--lhs", "a number of points >= 1", n)
    bad = [a.key for a in axes if not a.is_range]
    if bad:
        raise InputError("--vary", "ranges LO:HI with --lhs", bad)
    u = lhs_unit(n, len(axes), rng)
    out = []
    for row in u:
        p = {}
        for a, x in zip(axes, row):
            if a.log:
                v = 10 ** (math.log10(a.lo) + x * (math.log10(a.hi) - math.log10(a.lo)))
            else:
                v = a.lo + x * (a.hi - a.lo)
            p[a.key] = min(max(float(f"{v:.6g}"), a.lo), a.hi)
        out.append(p)
    return out


@dataclass(frozen=True)
class SweepCase:
    """One case: a point (the varied keys' values, in ``--vary`` order), a seed and a C-rate (None in
    a structure-only sweep)."""

    point: tuple  #: ((key, value), ...)
    seed: int
    c_rate: float | None = None

    @property
    def values(self) -> dict:
        return dict(self.point)

    @property
    def label(self) -> str:
        s = ", ".join(f"{k}={format_value(v)}" for k, v in self.point)
        s = (s + ", " if s else "") + f"seed {self.seed}"
        return s + (f", {self.c_rate:g}C" if self.c_rate is not None else "")

    def design_point(self) -> tuple:
        return tuple((k, v) for k, v in self.point if KEYS[k].kind == "design")

    def run_point(self) -> tuple:
        return tuple((k, v) for k, v in self.point if KEYS[k].kind != "design")

    def structure_dir(self, root: Path) -> Path:
        parts = [f"{k}={format_value(v)}" for k, v in self.design_point()] + [f"seed={self.seed}"]
        return Path(root) / _safe("_".join(parts))

    def run_dir(self, root: Path) -> Path:
        if self.c_rate is None:
            raise InputError("c_rate", "a C-rate (a structure-only case has no discharge folder)", None)
        parts = [f"{k}={format_value(v)}" for k, v in self.run_point()] + [f"c{self.c_rate:g}C"]
        return self.structure_dir(root) / _safe("_".join(parts))


def _safe(name: str) -> str:
    return name.replace("/", "-").replace(":", "-").replace(" ", "")


def sweep_cases(points: list[dict], seeds: list[int], c_rates: list[float] | None) -> list[SweepCase]:
    """Every point x seed (x C-rate), seed by seed (the first seed covers the whole sweep first), and
    within a seed C-rate by C-rate: the runs of one structure are as far apart as the sweep allows,
    so that with two jobs they do not start together, and the later ones find the structure's mesh
    and conductance factors in its cache (:mod:`fem_twin.setup_cache`)."""
    rates = list(c_rates) if c_rates else [None]
    return [SweepCase(tuple(p.items()), int(s), None if r is None else float(r))
            for s in seeds for r in rates for p in points]
