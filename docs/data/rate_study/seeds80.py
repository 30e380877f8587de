"""The 80 wt% seeds at 0.1C: capacity beside each structural number we have, with rank correlations.

Run from the repository root with the project's python:

    .venv/bin/python docs/data/rate_study/seeds80.py

For each seed with a complete ``docs/data/rate_study/study/ncm80_seed<S>/c0.1C/discharge.json``: its
capacity (mAh/g NCM), and the structure's numbers the discharge and the analysis report (dead LPSCl
fraction, NCM|LPSCl area on the mesh, the LPSCl's and NCM's relative conductivity through the thickness
(finite volumes on the voxels, z), and the separator third's / collector third's NCM|LPSCl area per NCM
volume, and the collector third's mean NCM distance to a contact voxel, from
:func:`fem_twin.analysis.profile.through_thickness_bands`). The last line per number is
Spearman's rank correlation with the capacity over the seeds present. Exploratory: with five seeds a
perfect rank order happens by chance with probability 2/120 per number, so ~1 in 7 of nine numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from fem_twin.analysis.profile import through_thickness_bands

STUDY = Path(__file__).resolve().parent / "study"


def seed_row(seed: int) -> dict[str, float] | None:
    """The capacity and structural numbers of 80 wt% seed ``seed``, or None while its 0.1C case is incomplete."""
    case = STUDY / f"ncm80_seed{seed}" / "c0.1C" / "discharge.json"
    if not case.exists():
        return None
    d = json.loads(case.read_text())
    if not d.get("complete"):
        return None
    with np.load(STUDY / f"ncm80_seed{seed}" / "structure.npz") as z:
        bands = through_thickness_bands(z["labels"], float(z["voxel_size_um"]), 3)
    area = [b["contact_area_per_ncm_volume_per_m"] / 1e6 for b in bands]
    return {
        "capacity, mAh/g": d["capacity_mAh_per_g"],
        "dead LPSCl, %": 100 * d["dead_clusters"]["dead_lpscl_fraction"],
        "NCM|LPSCl area (mesh), um2": d["mesh"]["interface_area_um2"],
        "LPSCl rel. conductivity z": d["transport"]["lpscl"]["fv"][2],
        "NCM rel. conductivity z": d["transport"]["ncm"]["fv"][2],
        "separator-third area / NCM vol, 1/um": area[0],
        "collector-third area / NCM vol, 1/um": area[2],
        "collector / separator area": area[2] / area[0],
        "collector-third NCM distance to contact, um": bands[2]["ncm_distance_to_contact_um"],
    }


def _fmt(key: str, value: float) -> str:
    """Areas without decimals, capacities and percentages with two, the rest with four digits."""
    if "um2" in key:
        return f"{value:,.0f}"
    return f"{value:.2f}" if ("mAh" in key or "%" in key) else f"{value:.4g}"


def main() -> None:
    rows = {s: r for s in range(1, 6) if (r := seed_row(s)) is not None}
    if len(rows) < 3:
        raise SystemExit(f"only {len(rows)} complete 80 wt% 0.1C cases under {STUDY}; need 3")
    keys = list(next(iter(rows.values())))
    seeds = sorted(rows)
    print("| number | " + " | ".join(f"seed {s}" for s in seeds) + " | Spearman with capacity |")
    print("|---|" + "---|" * len(seeds) + "---|")
    cap = [rows[s][keys[0]] for s in seeds]
    for k in keys:
        vals = [rows[s][k] for s in seeds]
        rho = "" if k == keys[0] else f"{spearmanr(vals, cap).statistic:+.2f}"
        print(f"| {k} | " + " | ".join(_fmt(k, v) for v in vals) + f" | {rho} |")


if __name__ == "__main__":
    main()
