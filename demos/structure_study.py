# # The seed's structure study (Fig. 1d, Figs. S6-S8): compositions x seeds
#
# Generates and analyses NCM 60/70/80/90 wt% (NBR 2 wt%, LPSCl the rest) for random seeds 1-5 at
# the seed's size (50 x 50 x 39 um, 0.5 um voxels), reusing structures already on disk, and writes
#
# - `structure_study.csv`: one row per structure (fractions target/achieved, dead fractions,
#   percolation, NCM|LPSCl contact area density raw/corrected);
# - a summary table (mean and spread over seeds) on stdout and in `structure_study_summary.csv`.
#
# Run: `python demos/structure_study.py [--compositions 60,70,80,90] [--seeds 1-5] [--size 50,50] [-o out/structure_study]`

# +
import argparse
import csv
import dataclasses
import json
from pathlib import Path

import numpy as np

from fem_twin.analysis.report import StructureReport, analyse
from fem_twin.design import Composition, ElectrodeDesign
from fem_twin.microstructure.generate import generate
from fem_twin.microstructure.image import VoxelImage
from fem_twin.study.cases import parse_seeds


p = argparse.ArgumentParser()
p.add_argument("--compositions", default="60,70,80,90")
p.add_argument("--seeds", default="1-5")
p.add_argument("--size", default="50,50")
p.add_argument("-o", "--output", default="out/structure_study")
args = p.parse_args()
sx, sy = (float(v) for v in args.size.split(","))
root = Path(args.output)
rows = []
for w in (float(v) for v in args.compositions.split(",")):
    for seed in parse_seeds(args.seeds):
        d = root / f"ncm{w:g}_seed{seed}"
        if (d / "analysis.json").exists() and (d / "structure.npz").exists():
            rep = json.loads((d / "analysis.json").read_text())
        else:
            design = ElectrodeDesign(composition=Composition.from_ncm_wt(w), size_x_um=sx, size_y_um=sy)
            img = dataclasses.replace(generate(design, np.random.default_rng(seed)), seed=seed)
            img.save(d)
            r = analyse(img)
            r.save(d / "analysis.json")
            rep = r.to_dict()
        row = {"ncm_wt": w, "seed": seed}
        for ph in ("ncm", "lpscl", "nbr", "pore"):
            row[f"target_{ph}"] = rep["target_volume_fraction"][ph]
            row[f"vf_{ph}"] = rep["volume_fraction"][ph]
        row["dead_ncm"] = rep["dead_fraction"]["ncm"]
        row["dead_lpscl"] = rep["dead_fraction"]["lpscl"]
        row["percolates_ncm"] = rep["percolates"]["ncm"]
        row["percolates_lpscl"] = rep["percolates"]["lpscl"]
        row["contact_raw_per_m"] = rep["contact_area_density_per_m"]["raw"]["ncm|lpscl"]
        row["contact_corrected_per_m"] = rep["contact_area_density_per_m"]["corrected"]["ncm|lpscl"]
        rows.append(row)
        print(f"NCM {w:g} wt% seed {seed}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                         for k, v in row.items() if k not in ("ncm_wt", "seed")))
root.mkdir(parents=True, exist_ok=True)
with open(root / "structure_study.csv", "w", newline="") as f:
    wr = csv.DictWriter(f, fieldnames=list(rows[0]))
    wr.writeheader()
    wr.writerows(rows)
# -

# ## Summary over seeds (mean, min-max)

# +
keys = ["vf_ncm", "vf_lpscl", "vf_nbr", "vf_pore", "dead_ncm", "dead_lpscl", "contact_raw_per_m",
        "contact_corrected_per_m"]
summary = []
worst = 0.0
for w in sorted({r["ncm_wt"] for r in rows}):
    sel = [r for r in rows if r["ncm_wt"] == w]
    s = {"ncm_wt": w, "n_seeds": len(sel)}
    for k in keys:
        v = np.array([r[k] for r in sel], float)
        s[f"{k}_mean"], s[f"{k}_min"], s[f"{k}_max"] = v.mean(), v.min(), v.max()
    s["percolates_ncm"] = f"{sum(r['percolates_ncm'] for r in sel)}/{len(sel)}"
    s["percolates_lpscl"] = f"{sum(r['percolates_lpscl'] for r in sel)}/{len(sel)}"
    for r in sel:
        for ph in ("ncm", "lpscl", "nbr", "pore"):
            worst = max(worst, abs(r[f"vf_{ph}"] - r[f"target_{ph}"]))
    summary.append(s)
with open(root / "structure_study_summary.csv", "w", newline="") as f:
    wr = csv.DictWriter(f, fieldnames=list(summary[0]))
    wr.writeheader()
    wr.writerows(summary)
print(f"\n{'wt%':>4} {'NCM vf':>7} {'LPSCl vf':>8} {'NBR vf':>7} {'pore vf':>7} {'dead NCM %':>16} {'dead LPSCl %':>16} "
      f"{'perc e/ion':>10} {'contact raw 1e4/m':>18} {'corrected 1e4/m':>16}")
for s in summary:
    print(f"{s['ncm_wt']:4.0f} {s['vf_ncm_mean']:7.4f} {s['vf_lpscl_mean']:8.4f} {s['vf_nbr_mean']:7.4f} "
          f"{s['vf_pore_mean']:7.4f} {100 * s['dead_ncm_mean']:6.2f} [{100 * s['dead_ncm_min']:.2f}-{100 * s['dead_ncm_max']:.2f}] "
          f"{100 * s['dead_lpscl_mean']:6.2f} [{100 * s['dead_lpscl_min']:.2f}-{100 * s['dead_lpscl_max']:.2f}] "
          f"{s['percolates_ncm']:>4}/{s['percolates_lpscl']:<4} "
          f"{s['contact_raw_per_m_mean'] / 1e4:7.2f} [{s['contact_raw_per_m_min'] / 1e4:.2f}-{s['contact_raw_per_m_max'] / 1e4:.2f}] "
          f"{s['contact_corrected_per_m_mean'] / 1e4:7.2f} [{s['contact_corrected_per_m_min'] / 1e4:.2f}-{s['contact_corrected_per_m_max'] / 1e4:.2f}]")
print(f"largest |achieved - target| volume fraction over all structures and phases: {100 * worst:.3f} points")
# -
