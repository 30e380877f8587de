"""The representative size of a domain-size study (issue 19, part 1): which lateral size x = y of the
generated piece gives the capacities of the largest one.

Input: the ``sweep.csv`` of one or more ``fem-twin study sweep --vary size_um=...`` folders (one row
per case: ``size_um``, the other varied keys such as ``ncm_wt``, ``seed``, ``c_rate``,
``capacity_mAh_per_g``, ``complete``). Pure functions, no MPI, no files except :func:`read_size_rows`.

The rule (:func:`representative_size`), per group (the other varied keys and the C-rate) against the
reference size (the largest, unless given):

- **mean**: |mean(size) - mean(ref)| <= ``mean_tol`` x mean(ref) (default 3 %, the issue's figure);
- **spread**: sample std over the seeds(size) <= ``spread_factor`` x std(ref) + ``spread_floor`` x
  mean(ref) (default 2 x and 1 %: "a seed spread like the reference's"; the floor keeps a reference
  whose seeds happen to agree closely from rejecting every size);
- every case of the group complete at both sizes; with 1 seed at the reference the spread is not
  judged, with 1 seed at the size (and more at the reference) it fails.

The representative size is the smallest size below the reference from which every size up to the
reference passes in every reference group (a size that passes below one that fails does not count); the
reference size if the next size below it fails. Groups without a reference are shown, not judged; two
folders holding the same case must agree on it.
Capacities in mAh per g NCM; sizes in um.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import FileFormatError, InputError
from .sweep_tables import read_sweep_csv
from .tables import sample_stats

SIZE_KEY = "size_um"
CAPACITY = "capacity_mAh_per_g"
MEAN_TOL = 0.03
SPREAD_FACTOR = 2.0
SPREAD_FLOOR = 0.01


@dataclass(frozen=True)
class SizeGroup:
    """Capacity statistics of one size and group over its seeds (mAh/g NCM)."""

    size_um: float
    group: tuple  #: ((key, value), ...) of the other varied keys, then ("c_rate", C)
    n_cases: int
    n_complete: int
    mean: float | None
    std: float | None  #: sample standard deviation (0 for one seed)
    min: float | None
    max: float | None
    seeds: tuple = ()


@dataclass(frozen=True)
class SizeVerdict:
    """One size and group against the reference size."""

    size_um: float
    group: tuple
    mean: float | None
    std: float | None
    ref_mean: float | None
    ref_std: float | None
    mean_deviation: float | None  #: (mean - ref_mean) / ref_mean
    mean_ok: bool
    spread_ok: bool | None  #: None: not judged (fewer than 2 seeds at the reference)
    complete: bool

    @property
    def ok(self) -> bool:
        return self.complete and self.mean_ok and self.spread_ok is not False

    def to_dict(self) -> dict:
        d = asdict(self)
        d["group"] = dict(self.group)
        d["ok"] = self.ok
        return d


def read_size_rows(sweep_dirs) -> tuple[list[dict], list[str]]:
    """The rows of every ``DIR/sweep.csv`` (numbers as float, True/False as bool, empty as None) and
    the varied keys other than the size (the columns before ``seed``, common to every file).

    Raises :class:`FileFormatError` for a missing or unreadable file or one without a ``size_um``
    column, :class:`InputError` when the files vary different keys."""
    rows, keys = [], None
    for d in sweep_dirs:
        path = Path(d) / "sweep.csv"
        try:
            with open(path, newline="") as f:
                header = next(csv.reader(f), [])
            file_rows = read_sweep_csv(path)
        except OSError as exc:
            raise FileFormatError(path, f"cannot be read ({exc.strerror or exc}); a sweep writes it when it "
                                        f"ends (run the same 'fem-twin study sweep' command again)") from exc
        if SIZE_KEY not in header or "seed" not in header or CAPACITY not in header:
            raise FileFormatError(path, f"expected the columns {SIZE_KEY}, seed and {CAPACITY} (a sweep with "
                                        f"--vary {SIZE_KEY}=...), got {', '.join(header[:8])}, ...")
        for i, r in enumerate(file_rows, start=2):
            for col in (SIZE_KEY, "seed"):
                if not isinstance(r.get(col), (int, float)) or isinstance(r.get(col), bool) \
                        or not math.isfinite(r[col]):
                    raise FileFormatError(path, f"line {i}: {col} must be a number, got {r.get(col)!r}")
            q = r.get(CAPACITY)
            if q is not None and (isinstance(q, (bool, str)) or not math.isfinite(float(q))):
                raise FileFormatError(path, f"line {i}: {CAPACITY} must be a number or empty, got {q!r}")
            r["_source"] = f"{path}:{i}"
        these = [k for k in header[:header.index("seed")] if k != SIZE_KEY]
        if keys is not None and these != keys:
            raise InputError(str(path), f"the varied keys of the other folders ({', '.join(keys) or 'size only'})",
                             ", ".join(these) or "size only")
        keys = these
        rows += file_rows
    if not rows:
        raise InputError("sweep folders", "at least one folder whose sweep.csv has cases", list(map(str, sweep_dirs)))
    return _unique(rows, keys), keys


def _unique(rows: list[dict], keys: list[str]) -> list[dict]:
    """One row per case (size, keys, seed, C-rate): folders that overlap must agree on it."""
    seen: dict = {}
    for r in rows:
        case = (float(r[SIZE_KEY]), *(r.get(k) for k in keys), int(r["seed"]), r.get("c_rate"))
        other = seen.get(case)
        if other is None:
            seen[case] = r
        elif (other.get(CAPACITY), other.get("complete")) != (r.get(CAPACITY), r.get("complete")):
            raise InputError(r["_source"], f"the same case as {other['_source']} with the same capacity "
                             f"({other.get(CAPACITY)!r} mAh/g)", r.get(CAPACITY))
    return list(seen.values())


def size_groups(rows: list[dict], keys: list[str]) -> list[SizeGroup]:
    """Per size and group (``keys`` and the C-rate): the capacity statistics over the complete cases
    (a case whose piece carries no current is complete with 0 mAh/g, as in the sweep's summary)."""
    groups: dict = {}
    for r in rows:
        if r.get("c_rate") is None:
            continue
        g = tuple((k, r.get(k)) for k in keys) + (("c_rate", r["c_rate"]),)
        groups.setdefault((float(r[SIZE_KEY]), g), []).append(r)
    out = []
    for (size, g), sel in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        ok = [r for r in sel if r.get("complete") and r.get(CAPACITY) is not None]
        mean, std, lo, hi = sample_stats([float(r[CAPACITY]) for r in ok])
        out.append(SizeGroup(size, g, len(sel), len(ok), mean, std, lo, hi, tuple(sorted(int(r["seed"]) for r in ok))))
    return out


def representative_size(groups: list[SizeGroup], reference_um: float | None = None, mean_tol: float = MEAN_TOL,
                        spread_factor: float = SPREAD_FACTOR,
                        spread_floor: float = SPREAD_FLOOR) -> tuple[float, list[SizeVerdict]]:
    """(the representative size in um, every size's verdicts against the reference); see the module
    docstring for the rule. ``reference_um``: the reference size (default the largest present)."""
    if not groups:
        raise InputError("size study", "at least one size with cases", "none")
    sizes = sorted({g.size_um for g in groups})
    ref = max(sizes) if reference_um is None else float(reference_um)
    if ref not in sizes:
        raise InputError("--reference", f"one of the sizes present ({', '.join(f'{s:g}' for s in sizes)})", ref)
    refs = {g.group: g for g in groups if g.size_um == ref}
    verdicts = []
    for g in groups:
        if g.size_um == ref:
            continue
        r = refs.get(g.group)
        if r is None:
            continue  # no reference group: reported by verdict_markdown, not judged
        complete = g.n_complete == g.n_cases > 0 and r.n_complete == r.n_cases > 0
        if not complete or g.mean is None or r.mean is None:
            verdicts.append(SizeVerdict(g.size_um, g.group, g.mean, g.std, r.mean, r.std, None, False, None, False))
            continue
        dev = (g.mean - r.mean) / r.mean if r.mean else (0.0 if g.mean == 0 else math.inf)
        if r.n_complete < 2:
            spread_ok = None  # the reference has no spread to compare with
        elif g.n_complete < 2:
            spread_ok = False  # a spread to match, and none measured at this size
        else:
            spread_ok = g.std <= spread_factor * r.std + spread_floor * abs(r.mean)
        verdicts.append(SizeVerdict(g.size_um, g.group, g.mean, g.std, r.mean, r.std, dev,
                                    abs(dev) <= mean_tol, spread_ok, True))

    def passes(size):
        judged = {v.group: v for v in verdicts if v.size_um == size}
        # every reference group must be judged, and pass, at this size
        return set(refs) <= set(judged) and all(judged[g].ok for g in refs)

    below = [s for s in sizes if s < ref]
    best = ref
    for s in reversed(below):  # the smallest size from which every size up to the reference passes
        if not passes(s):
            break
        best = s
    return best, verdicts


@dataclass(frozen=True)
class SizeCost:
    """What a size's cases cost: cases, complete ones, their summed and largest wall-clock time (s, as
    each case recorded it, its restarts summed; core time is this times the case's ranks) and the
    largest number of unknowns."""

    size_um: float
    n_cases: int
    n_complete: int
    wall_s: float
    wall_s_max: float
    unknowns_max: int | None

    def to_dict(self) -> dict:
        return asdict(self)


def size_costs(rows: list[dict]) -> list[SizeCost]:
    """Per size: :class:`SizeCost` over the rows with a C-rate (the discharges)."""
    out = []
    for size in sorted({float(r[SIZE_KEY]) for r in rows}):
        sel = [r for r in rows if float(r[SIZE_KEY]) == size and r.get("c_rate") is not None]
        walls = [float(r["wall_s"]) for r in sel if isinstance(r.get("wall_s"), (int, float))]
        unknowns = [int(r["unknowns"]) for r in sel if isinstance(r.get("unknowns"), (int, float))]
        out.append(SizeCost(size, len(sel), sum(1 for r in sel if r.get("complete")), float(sum(walls)),
                            float(max(walls, default=0.0)), max(unknowns) if unknowns else None))
    return out


def cost_markdown(costs: list[SizeCost]) -> str:
    """A Markdown table of :func:`size_costs` with the total."""
    lines = ["| size um | cases (complete) | wall time, sum | largest case | unknowns, largest |", "|---|---|---|---|---|"]
    for c in costs:
        lines.append(f"| {c.size_um:g} | {c.n_cases} ({c.n_complete}) | {c.wall_s / 3600:.2f} h | {c.wall_s_max / 60:.1f} min "
                     f"| {'' if c.unknowns_max is None else f'{c.unknowns_max:,}'} |")
    lines.append(f"| all | {sum(c.n_cases for c in costs)} ({sum(c.n_complete for c in costs)}) "
                 f"| {sum(c.wall_s for c in costs) / 3600:.2f} h | | |")
    return "\n".join(lines)


def verdict_markdown(groups: list[SizeGroup], verdicts: list[SizeVerdict], reference_um: float) -> str:
    """A Markdown table: per group and size, mean ± std (min-max) over n seeds, the deviation from the
    reference mean and the verdict."""
    by = {(v.size_um, v.group): v for v in verdicts}
    head = ["group", "size um", "mAh/g NCM: mean ± std (min-max)", "n", "vs reference", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g in sorted(groups, key=lambda g: (str(g.group), g.size_um)):
        label = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in g.group)
        stats = "" if g.mean is None else f"{g.mean:.1f} ± {g.std:.1f} ({g.min:.1f}-{g.max:.1f})"
        v = by.get((g.size_um, g.group))
        if g.size_um == reference_um:
            dev, verdict = "", "reference"
        elif v is None:
            dev, verdict = "", "no reference group: not judged"
        elif v.mean_deviation is None:
            dev, verdict = "", "incomplete"
        else:
            dev = f"{100 * v.mean_deviation:+.1f} %"
            parts = ["mean ok" if v.mean_ok else "mean off",
                     {True: "spread ok", False: "spread too wide" if g.n_complete > 1 else "one seed: spread unknown",
                      None: "spread not judged (one seed at the reference)"}[v.spread_ok]]
            verdict = ", ".join(parts)
        lines.append(f"| {label} | {g.size_um:g} | {stats} | {g.n_complete}/{g.n_cases} | {dev} | {verdict} |")
    return "\n".join(lines)


__all__ = ["SizeGroup", "SizeVerdict", "SizeCost", "read_size_rows", "size_groups", "size_costs", "cost_markdown",
           "representative_size", "verdict_markdown",
           "MEAN_TOL", "SPREAD_FACTOR", "SPREAD_FLOOR"]
