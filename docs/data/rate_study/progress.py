"""The 50 um rate study's progress as the markdown table of docs/rate_study.md (part 3).

    .venv/bin/python docs/data/rate_study/progress.py [STUDY_DIR]

Reads each case's ``discharge.json`` and ``study_case.json`` under STUDY_DIR (default
``docs/data/rate_study/study``) and prints one row per complete case, in the study's order
(seed, C-rate, NCM wt%), then the interrupted cases (their checkpoint time and capacity so far) and
the wall-time sum. Standard library only: it runs while the study holds the venv's cores.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def case_key(case_dir: Path) -> tuple[int, float, int]:
    """(seed, C-rate, NCM wt%) of ``.../ncm<W>_seed<S>/c<R>C``: the study's order."""
    m = re.fullmatch(r"ncm(\d+)_seed(\d+)", case_dir.parent.name)
    r = re.fullmatch(r"c([0-9.]+)C", case_dir.name)
    if not (m and r):
        raise ValueError(f"{case_dir}: not a study case folder (ncm<W>_seed<S>/c<R>C)")
    return int(m.group(2)), float(r.group(1)), int(m.group(1))


def last_capacity(study: Path, wt: int, seed: int, rate: float) -> str:
    """The capacity (mAh/g NCM) of the last accepted row of a case's ``discharge.csv``, or "?"."""
    import csv

    rows = list(csv.DictReader((study / f"ncm{wt}_seed{seed}" / f"c{rate:g}C" / "discharge.csv").open()))
    return f"{float(rows[-1]['capacity_mAh_per_g']):.2f}" if rows else "?"


def main(study: Path) -> int:
    cases = sorted((p.parent for p in study.glob("ncm*_seed*/c*C/discharge.json")), key=case_key)
    if not cases:
        print(f"{study}: no case has a discharge.json yet", file=sys.stderr)
        return 1
    print("| case | mAh/g NCM | mAh/cm2 | ended by | steps | ranks | wall time | dead LPSCl / NCM |")
    print("|---|---|---|---|---|---|---|---|")
    total_s, n_complete, interrupted = 0.0, 0, []
    for case in cases:
        seed, rate, wt = case_key(case)
        d = json.loads((case / "discharge.json").read_text())
        rec_file = case / "study_case.json"
        rec = json.loads(rec_file.read_text()) if rec_file.exists() else {}
        if not d.get("complete"):
            interrupted.append((wt, rate, seed, d))
            continue
        n_complete += 1
        wall = float(rec.get("wall_s", d.get("wall_time_s", 0.0)))
        total_s += wall
        dead = d.get("dead_clusters") or {}
        ended = "; ".join(s.get("ended_by", "?") for s in d.get("steps", []))
        restarts = (d.get("restarted_from") or {}).get("restarts", 0)
        note = f" (restarted {restarts}x from its checkpoint)" if restarts else ""
        print(f"| {wt} wt%, seed {seed}, {rate:g}C | {d['capacity_mAh_per_g']:.2f} | "
              f"{d['capacity_mAh_per_cm2']:.4f} | {ended} | {d.get('accepted_rows', '?')} | "
              f"{d.get('ranks', '?')} | {wall:,.0f} s{note} | "
              f"{100 * dead.get('dead_lpscl_fraction', 0.0):.2f} / {100 * dead.get('dead_ncm_fraction', 0.0):.2f} % |")
    print()
    for wt, rate, seed, d in interrupted:
        t = d.get("interrupted_at_time_s")
        if d.get("running"):
            print(f"running (or killed): {wt} wt%, seed {seed}, {rate:g}C")
        elif t is not None:
            print(f"interrupted: {wt} wt%, seed {seed}, {rate:g}C at t = {float(t):.6g} s, "
                  f"{last_capacity(study, wt, seed, rate)} mAh/g so far (checkpoint written)")
        else:
            print(f"failed: {wt} wt%, seed {seed}, {rate:g}C: {d.get('message', '?')}")
    print(f"complete: {n_complete} of 45; wall time of the complete cases {total_s:,.0f} s ({total_s / 3600:.2f} h)")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/data/rate_study/study")))
