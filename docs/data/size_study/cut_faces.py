"""What periodic side faces would change in the size study's pieces, from the voxel analysis alone.

The finite-element mesh is cut at the four side faces (insulating), so a cluster of LPSCl (or NCM) whose only
path to the separator (or the Al collector) runs through a side face is dead in the discharge. A periodic
mesh would keep it live. Every ``analysis.json`` already holds both counts: ``dead_fraction`` (periodic in x
and y, the generator's own convention) and ``dead_fraction_nonperiodic`` (the mesh's). This prints them per
piece beside the piece's 1C and 0.1C capacities (``sweep.csv``), then the mean per size and composition.

    python docs/data/size_study/cut_faces.py            # markdown tables on stdout

Standard library only; reads docs/data/size_study/size*/ and writes nothing.
"""
from __future__ import annotations

import csv
import json
import re
import statistics
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _capacities(size_dir: Path) -> dict[tuple[str, str], str]:
    """(structure folder, C-rate) -> capacity in mAh/g NCM as written, '' where not complete."""
    out: dict[tuple[str, str], str] = {}
    path = size_dir / "sweep.csv"
    if not path.exists():
        return out
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            done = row["complete"] == "True"
            out[(row["structure_dir"], f"{float(row['c_rate']):g}")] = (
                f"{float(row['capacity_mAh_per_g']):.1f}" if done and row["capacity_mAh_per_g"] else "")
    return out


def main() -> None:
    rows = []
    for analysis in sorted(HERE.glob("size*/size_um=*/analysis.json")):
        a = json.loads(analysis.read_text())
        name = analysis.parent.name
        m = re.fullmatch(r"size_um=([0-9.]+)_ncm_wt=([0-9]+)_seed=([0-9]+)", name)
        if m is None:
            raise ValueError(f"{analysis.parent}: expected a folder named size_um=S_ncm_wt=W_seed=N")
        size, wt, seed = float(m[1]), int(m[2]), int(m[3])
        caps = _capacities(analysis.parent.parent)
        rows.append({
            "size": size, "wt": wt, "seed": seed,
            "lp_per": a["dead_fraction"]["lpscl"], "lp_cut": a["dead_fraction_nonperiodic"]["lpscl"],
            "ncm_per": a["dead_fraction"]["ncm"], "ncm_cut": a["dead_fraction_nonperiodic"]["ncm"],
            "q1": caps.get((name, "1"), ""), "q01": caps.get((name, "0.1"), ""),
        })
    print("| size um | NCM wt% | seed | dead LPSCl periodic % | dead LPSCl cut faces % "
          "| dead NCM periodic % | dead NCM cut faces % | 1C mAh/g | 0.1C mAh/g |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["wt"], r["size"], r["seed"])):
        print(f"| {r['size']:g} | {r['wt']} | {r['seed']} | {100 * r['lp_per']:.2f} | {100 * r['lp_cut']:.2f} "
              f"| {100 * r['ncm_per']:.2f} | {100 * r['ncm_cut']:.2f} | {r['q1']} | {r['q01']} |")
    groups: dict[tuple[float, int], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["size"], r["wt"])].append(r)
    print()
    print("| size um | NCM wt% | pieces | mean dead LPSCl periodic % | mean dead LPSCl cut faces % "
          "| LPSCl lost to the cut faces, percentage points (mean, max) |")
    print("|---|---|---|---|---|---|")
    for (size, wt), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lost = [100 * (r["lp_cut"] - r["lp_per"]) for r in rs]
        print(f"| {size:g} | {wt} | {len(rs)} | {100 * statistics.mean(r['lp_per'] for r in rs):.2f} "
              f"| {100 * statistics.mean(r['lp_cut'] for r in rs):.2f} | {statistics.mean(lost):.2f}, {max(lost):.2f} |")


if __name__ == "__main__":
    main()
