"""Structure numbers beside the seed's, and the effect of one generator input at a time (issue 19 part 3).

For each case (a composition and at most one changed generator input, as the design keys of
``fem-twin study sweep``: ``lpscl_d50_um``, ``primary_d_min_um``/``primary_d_max_um``, ``nbr_wt``,
``ncm_d50_um``, ...) and each seed, generates the structure at the given size (default the seed's
50 x 50 x 39 um, 0.5 um voxels) and analyses it (``fem_twin.analysis.report.analyse`` without the
descriptors), then prints Markdown tables of the mean over the seeds (and each seed):

- dead LPSCl / dead NCM (% of the phase): LPSCl not connected to the separator (z = 0), NCM not
  connected to the collector (z = top), 26-connected, x/y periodic (``dead_fraction``) and with x/y
  walls (``dead_fraction_nonperiodic``, the mesh's rule); ``iso``: clusters touching neither z plane
  (x/y periodic), the "closed" volume of a flow-type open/closed analysis with z as the flow axis;
- NCM|LPSCl contact area per electrode volume (1/m): ``raw`` voxel faces, ``corr`` (raw * 2/3, the
  isotropic estimate; the CSV/JSON ``corrected``), ``mc`` (marching cubes), ``active`` (corrected,
  only NCM on the collector and LPSCl on the separator: the seed's Fig. S8 "without dead particles").

Rows are cached as JSON in ``OUT/rows`` (a re-run reuses them; structures are not kept).

Run (one process, the rest of the machine busy)::

    OMP_NUM_THREADS=1 nice -n 15 python benchmarks/structure_effects.py --ncm 70,80 --seeds 1-3 \
        --case base --case lpscl_d50_um=4 --case primary_d_min_um=1,primary_d_max_um=2.5 ... -o out/structure_effects

``--case`` is ``base`` or ``KEY=V[,KEY=V]`` (keys set together make one case); ``--case-ncm`` limits
the non-base cases to some compositions (default: 80).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from fem_twin.analysis.connectivity import label_clusters, touching
from fem_twin.analysis.report import analyse
from fem_twin.microstructure.generate import generate
from fem_twin.phases import LPSCL, NCM
from fem_twin.study.cases import parse_seeds
from fem_twin.study.sweep_keys import build_design, parse_value, resolve_key


def parse_case(text: str) -> dict:
    if text == "base":
        return {}
    vals = {}
    for item in text.split(","):
        k, _, v = item.partition("=")
        key = resolve_key(k, "--case")
        vals[key.name] = parse_value(key, v, "--case")
    return vals


def case_name(vals: dict) -> str:
    return "base" if not vals else ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                             for k, v in vals.items())


def isolated_fraction(labels, label: int) -> float:
    """Volume of the phase in clusters touching neither z plane (26-connected, x/y periodic) / its volume."""
    clusters, n = label_clusters(labels == label, 26, (True, True, False))
    open_ = touching(clusters, n, 2, "low") | touching(clusters, n, 2, "high")
    sizes = np.bincount(clusters.ravel(), minlength=n + 1)
    total = int(sizes[1:].sum())
    return float(sizes[1:][~open_[1:]].sum() / total) if total else 0.0


def run_one(ncm_wt: float, vals: dict, seed: int, size: float) -> dict:
    t0 = time.perf_counter()
    design = build_design({"ncm_wt": ncm_wt, "size_um": size, **vals})
    img = generate(design, np.random.default_rng(seed))
    t1 = time.perf_counter()
    rep = analyse(img, marching_cubes=True, descriptors=False).to_dict()
    lab = img.labels
    key = "ncm|lpscl"
    return {
        "ncm_wt": ncm_wt, "case": case_name(vals), "seed": seed, "size_um": size,
        "lpscl_d50_um": design.lpscl_psd.quantile(0.5), "lpscl_d_max_um": design.lpscl_psd.d_max,
        "primary_um": [design.primary_d_min_um, design.primary_d_max_um],
        "composition": list(design.composition.as_tuple()),
        "vf": rep["volume_fraction"],
        "dead_lpscl": rep["dead_fraction"]["lpscl"], "dead_ncm": rep["dead_fraction"]["ncm"],
        "dead_lpscl_np": rep["dead_fraction_nonperiodic"]["lpscl"],
        "dead_ncm_np": rep["dead_fraction_nonperiodic"]["ncm"],
        "iso_lpscl": isolated_fraction(lab, LPSCL), "iso_ncm": isolated_fraction(lab, NCM),
        "dead_clusters_lpscl": rep["dead_clusters"]["lpscl"],
        "a_raw": rep["contact_area_density_per_m"]["raw"][key],
        "a_corr": rep["contact_area_density_per_m"]["corrected"][key],
        "a_mc": rep["contact_area_density_marching_cubes_per_m"].get(key),
        "a_active": rep["active_contact_area_density_per_m"]["corrected"],
        "a_ncm_pore_corr": rep["contact_area_density_per_m"]["corrected"].get("pore|ncm"),
        "a_ncm_nbr_corr": rep["contact_area_density_per_m"]["corrected"].get("ncm|nbr"),
        "t_generate_s": t1 - t0, "t_analyse_s": time.perf_counter() - t1,
    }


COLS = [("vf LPSCl %", lambda r: 100 * r["vf"]["lpscl"], "{:.1f}"),
        ("dead LPSCl % (per / walls / iso)", None, None),
        ("dead NCM % (per / walls / iso)", None, None),
        ("NCM-LPSCl raw 1e5/m", lambda r: r["a_raw"] / 1e5, "{:.2f}"),
        ("corr 1e5/m", lambda r: r["a_corr"] / 1e5, "{:.2f}"),
        ("mc 1e5/m", lambda r: r["a_mc"] / 1e5, "{:.2f}"),
        ("active corr 1e5/m", lambda r: r["a_active"] / 1e5, "{:.2f}"),
        ("NCM surface on LPSCl %", lambda r: 100 * r["a_corr"] / (r["a_corr"] + r["a_ncm_pore_corr"] + r["a_ncm_nbr_corr"]),
         "{:.0f}")]


def fmt_triplet(rows, keys):
    """Mean (%) of each convention; the first also with its sample standard deviation and range over the seeds."""
    out = []
    for i, k in enumerate(keys):
        v = 100 * np.array([r[k] for r in rows])
        s = f"{v.mean():.2f}"
        if i == 0 and v.size > 1:
            s += f" ± {v.std(ddof=1):.2f} ({v.min():.2f}-{v.max():.2f})"
        out.append(s)
    return " / ".join(out)


def table(groups: dict) -> str:
    head = "| NCM wt% | case | seeds | " + " | ".join(c[0] for c in COLS) + " |"
    lines = [head, "|" + "---|" * (3 + len(COLS))]
    for (w, name), rows in groups.items():
        cells = []
        for title, f, fmt in COLS:
            if title.startswith("dead LPSCl"):
                cells.append(fmt_triplet(rows, ("dead_lpscl", "dead_lpscl_np", "iso_lpscl")))
            elif title.startswith("dead NCM"):
                cells.append(fmt_triplet(rows, ("dead_ncm", "dead_ncm_np", "iso_ncm")))
            else:
                v = [f(r) for r in rows]
                cells.append(fmt.format(np.mean(v)) + ("" if len(v) < 2 else " ± " + fmt.format(np.std(v, ddof=1))))
        ss = [r["seed"] for r in rows]
        seeds = f"{min(ss)}-{max(ss)}" if ss == list(range(min(ss), max(ss) + 1)) else ",".join(map(str, ss))
        lines.append(f"| {w:g} | {name} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_seed(groups: dict) -> str:
    lines = ["| NCM wt% | case | dead LPSCl % per seed (periodic) | dead LPSCl % per seed (walls) | corr 1e5/m per seed |",
             "|---|---|---|---|---|"]
    for (w, name), rows in groups.items():
        lines.append(f"| {w:g} | {name} | " + " / ".join(f"{100 * r['dead_lpscl']:.2f}" for r in rows) + " | "
                     + " / ".join(f"{100 * r['dead_lpscl_np']:.2f}" for r in rows) + " | "
                     + " / ".join(f"{r['a_corr'] / 1e5:.2f}" for r in rows) + " |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ncm", default="70,80", help="NCM wt%% list (NBR 2 wt%%, LPSCl the rest)")
    p.add_argument("--seeds", default="1-3")
    p.add_argument("--size", type=float, default=50.0, help="x = y extent in um (default 50, the seed's)")
    p.add_argument("--case", action="append", default=None, help="base or KEY=V[,KEY=V] (repeatable)")
    p.add_argument("--case-ncm", default="80", help="compositions of the non-base cases")
    p.add_argument("--only-cached", action="store_true", help="print tables of the cached rows, run nothing")
    p.add_argument("-o", "--output", default="out/structure_effects")
    a = p.parse_args()
    rowdir = Path(a.output) / "rows"
    rowdir.mkdir(parents=True, exist_ok=True)
    cases = [parse_case(c) for c in (a.case or ["base"])]
    comps = [float(v) for v in a.ncm.split(",")]
    case_comps = [float(v) for v in a.case_ncm.split(",")]
    groups: dict = {}
    for vals in cases:
        for w in comps if not vals else [c for c in comps if c in case_comps]:
            for seed in parse_seeds(a.seeds):
                tag = f"ncm{w:g}_{case_name(vals).replace('=', '-').replace(',', '_')}_s{seed}_L{a.size:g}"
                f = rowdir / f"{tag}.json"
                if f.exists():
                    row = json.loads(f.read_text())
                elif a.only_cached:
                    continue
                else:
                    row = run_one(w, vals, seed, a.size)
                    f.write_text(json.dumps(row, indent=1))
                    print(f"{tag}: dead LPSCl {100 * row['dead_lpscl']:.2f} % (walls {100 * row['dead_lpscl_np']:.2f}),"
                          f" dead NCM {100 * row['dead_ncm']:.2f} %, corr {row['a_corr']:.3e} /m,"
                          f" {row['t_generate_s']:.0f} + {row['t_analyse_s']:.0f} s", flush=True)
                groups.setdefault((w, case_name(vals)), []).append(row)
    print()
    print(table(groups))
    print()
    print(per_seed(groups))


if __name__ == "__main__":
    main()
