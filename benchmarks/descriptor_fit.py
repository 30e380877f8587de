"""Fit sigma_eff/sigma = eps^a beta^b / tau_geo^c to structures and tabulate their descriptors.

Each DIR holds structure.npz (``fem-twin generate``), conductivity_<phase>.json
(``fem-twin conductivity DIR --phase PHASE``) and analysis.json with descriptors (written here
when missing or older than the descriptors, with ``analyse(image)``). Prints Markdown:

1. per composition (design.json), mean +- std over the seeds (``(k/n)``: over the k seeds where
   it is defined; sigma_eff/sigma counts a phase without a path as 0) of eps, tau_geo, beta, r_min,
   r_max, specific surface area and sigma_eff/sigma of each phase;
2. the least-squares exponents a, b, c (+- standard error), R^2 (log scale) and n per phase and for
   both phases together, and R^2 of the reference exponents (Stenzel et al. 2016: 1.15, 0.37,
   4.39) on the same data;
3. with ``--fv-active``, the same fit with tau_geo and beta computed on the voxels the fv
   conductivity conducts through (the phase's 6-connected cluster(s) touching both z planes,
   x/y sides not periodic, as :func:`fem_twin.fem.conductivity.active_mask`), eps unchanged.

Usage::

    python benchmarks/descriptor_fit.py DIR [DIR ...] [--phases ncm,lpscl] [--reanalyse] [--fv-active]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fem_twin.analysis.descriptor_fit import (REFERENCE_EXPONENTS, fit_cases, load_case,  # noqa: E402
                                              r2_of)

COLUMNS = (("eps", "eps", 1.0, "{:.3f}"), ("tau_geo", "tau_geo", 1.0, "{:.3f}"),
           ("beta", "beta", 1.0, "{:.3f}"), ("r_min_um", "r_min (um)", 1.0, "{:.2f}"),
           ("r_max_um", "r_max (um)", 1.0, "{:.2f}"), ("ssa_per_m", "SSA (1/um)", 1e-6, "{:.3f}"),
           ("relative_conductivity", "sigma_eff/sigma", 1.0, "{:.4f}"))


def ensure_analysis(d: Path, force: bool) -> float:
    """Write d/analysis.json with descriptors when missing (or ``force``); returns seconds spent."""
    from fem_twin.analysis.report import analyse
    from fem_twin.microstructure.image import VoxelImage

    p = d / "analysis.json"
    if not force and p.exists() and json.loads(p.read_text()).get("descriptors"):
        return 0.0
    t0 = time.perf_counter()
    analyse(VoxelImage.load(d)).save(d)
    return time.perf_counter() - t0


def fv_active_row(row: dict, phase: str) -> dict:
    """``row`` with tau_geo, beta, r_min_um, r_max_um of the fv-active voxels of ``phase``."""
    from fem_twin.analysis.connectivity import spanning
    from fem_twin.analysis.descriptors import constrictivity, geodesic_tortuosity
    from fem_twin.microstructure.image import VoxelImage
    from fem_twin.phases import PHASES

    img = VoxelImage.load(row["dir"])
    m = spanning(img.labels == PHASES[phase], axis=2, connectivity=6, periodic=(False, False, False))
    out = dict(row)
    if not m.any():
        out.update(tau_geo=None, beta=None, r_min_um=None, r_max_um=None)
        return out
    out["tau_geo"] = geodesic_tortuosity(m, img.voxel_size_um, periodic_xy=False)
    out["beta"], out["r_min_um"], out["r_max_um"] = constrictivity(m, img.voxel_size_um, periodic_xy=False)
    return out


def mean_std(values) -> tuple:
    v = np.array([math.nan if x is None else x for x in values], float)
    v = v[np.isfinite(v)]
    return (v.mean(), v.std(ddof=1) if v.size > 1 else 0.0, v.size) if v.size else (math.nan, math.nan, 0)


def fmt(ms, scale, f) -> str:
    m, s, n = ms
    if n == 0:
        return "-"
    return f"{f.format(m * scale)} ± {f.format(s * scale)}"


def composition_table(rows_by_phase: dict[str, list[dict]]) -> str:
    out = ["| phase | composition (wt%) | n | " + " | ".join(c[1] for c in COLUMNS) + " |",
           "|---|---|---|" + "---|" * len(COLUMNS)]
    for phase, rows in rows_by_phase.items():
        groups = defaultdict(list)
        for r in rows:
            groups[r["composition"]].append(r)
        for comp in sorted(groups, key=lambda c: (c is None, c)):
            g = groups[comp]
            cells = []
            for k, _, s, f in COLUMNS:
                ms = mean_std([r[k] for r in g])
                cells.append(fmt(ms, s, f) + (f" ({ms[2]}/{len(g)})" if 0 < ms[2] < len(g) else ""))
            out.append(f"| {phase} | {comp} | {len(g)} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def fit_table(rows_by_phase: dict[str, list[dict]]) -> str:
    out = ["| phase | a | b | c | R^2 | n | R^2 of (1.15, 0.37, 4.39) |", "|---|---|---|---|---|---|---|"]
    sets = dict(rows_by_phase)
    if len(rows_by_phase) > 1:
        sets["+".join(rows_by_phase)] = [r for rows in rows_by_phase.values() for r in rows]
    for name, rows in sets.items():
        fit = fit_cases(rows)
        col = {k: np.array([math.nan if r[k] is None else r[k] for r in rows], float)
               for k in ("eps", "beta", "tau_geo", "relative_conductivity")}
        ref = r2_of(REFERENCE_EXPONENTS, col["eps"], col["beta"], col["tau_geo"], col["relative_conductivity"])
        se = fit["stderr"]
        cells = [f"{fit[k]:.2f} ± {e:.2f}" for k, e in zip("abc", se)]
        out.append(f"| {name} | " + " | ".join(cells) + f" | {fit['r2']:.3f} | {fit['n']} | {ref:.3f} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--phases", default="ncm,lpscl")
    ap.add_argument("--reanalyse", action="store_true", help="recompute analysis.json even when present")
    ap.add_argument("--fv-active", action="store_true",
                    help="also fit with tau_geo and beta of the fv conductivity's active voxels")
    args = ap.parse_args(argv)
    spent = [ensure_analysis(d, args.reanalyse) for d in args.dirs]
    if any(spent):
        print(f"analysed {sum(1 for s in spent if s)} structures, {np.mean([s for s in spent if s]):.1f} s each\n")
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    rows = {p: [load_case(d, p) for d in args.dirs] for p in phases}
    methods = sorted({r["method"] for rs in rows.values() for r in rs if r["method"]})
    print(f"{len(args.dirs)} structures; sigma_eff from conductivity_<phase>.json, method {', '.join(methods)}\n")
    print(composition_table(rows) + "\n")
    print(fit_table(rows))
    if args.fv_active:
        act = {p: [fv_active_row(r, p) for r in rs] for p, rs in rows.items()}
        print("\nDescriptors of the fv-active voxels (6-connected, spanning, x/y walls):\n")
        print(composition_table(act) + "\n")
        print(fit_table(act))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
