"""Project a discharge's wall time to more ranks from the measured 1- and 2-rank scaling.

    python benchmarks/project_ranks.py out/scaling.json --run out/full70_1C/discharge.json --ranks 16

Inputs: the JSON of ``benchmarks/discharge_scaling.py`` (cases on 1 and 2 ranks) and, optionally, the
``discharge.json`` of a finished run (its Newton step count). For the scaling case with the run's
number of unknowns (else the largest size) it takes the time per Newton step on 1 and 2 ranks,
the parallel efficiency of that doubling e = T1 / (2 T2), and assumes every further doubling keeps
e (an assumption: on 2 cores of one machine e includes the shared memory bandwidth; across nodes
the communication grows instead)::

    T_P = T_2 * (2 / P) / e ** log2(P / 2)     per Newton step, and likewise for the set-up

Prints the efficiency, the projected time per Newton step and the projected wall time of the run
(Newton steps x time per step + set-up). A run made on 2 ranks is projected from its own time per
Newton step (its time loop, a restarted run's earlier part included, over its Newton steps) and its
own set-up (wall time - time loop), with the benchmark's efficiencies; otherwise from the benchmark's
time per Newton step and set-up at the nearest size, scaled by the ratio of unknowns (pass the
scaling JSON of the run's mesher: ``discharge_scaling.py --mesher smooth``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def per_newton(case: dict) -> float:
    """Mean wall time per Newton step over the time steps (the potentials solve excluded)."""
    steps = [s for s in case["steps"][1:] if s["ok"]]
    return sum(s["wall_s"] for s in steps) / max(sum(s["newton"] for s in steps), 1)


def setup_s(case: dict) -> float:
    return case["mesh_s"] + case.get("matching_s", 0.0) + case["problem_setup_s"]


def project(t2: float, e: float, ranks: int) -> float:
    return t2 * (2.0 / ranks) / e ** math.log2(ranks / 2.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scaling", help="JSON written by benchmarks/discharge_scaling.py --json")
    ap.add_argument("--run", help="discharge.json of a finished run (its Newton steps)")
    ap.add_argument("--ranks", type=int, default=16)
    a = ap.parse_args(argv)
    cases = json.loads(Path(a.scaling).read_text())["cases"]
    cases = [c for c in cases if "error" not in c and c.get("steps")]
    run = json.loads(Path(a.run).read_text()) if a.run else None
    target = run["mesh"]["unknowns"] if run else max(c["unknowns"] for c in cases)
    n = min({c["unknowns"] for c in cases}, key=lambda u: abs(u - target))
    by_ranks = {c["ranks"]: c for c in cases if c["unknowns"] == n}
    if 1 not in by_ranks or 2 not in by_ranks:
        print(f"need 1- and 2-rank cases at {n} unknowns in {a.scaling}", file=sys.stderr)
        return 2
    t1, t2 = per_newton(by_ranks[1]), per_newton(by_ranks[2])
    e = t1 / (2.0 * t2)
    s2 = setup_s(by_ranks[2])
    e_setup = setup_s(by_ranks[1]) / (2.0 * s2)
    tp = project(t2, e, a.ranks)
    sp = project(s2, e_setup, a.ranks)
    print(f"{n} unknowns ({by_ranks[2]['size_um']:g} um): s/Newton 1 rank {t1:.2f}, 2 ranks {t2:.2f}, "
          f"efficiency e = {e:.2f}; set-up {setup_s(by_ranks[1]):.1f} / {s2:.1f} s (e = {e_setup:.2f})")
    print(f"projected on {a.ranks} ranks: {tp:.2f} s per Newton step, set-up {sp:.1f} s")
    if run:
        newton = run["solver"]["newton_iterations"]
        # (time per Newton step and set-up grow about like the unknowns between the largest sizes:
        # README, "Scaling"; the benchmark's figures are scaled by the ratio of unknowns)
        r = run["mesh"]["unknowns"] / n
        print(f"run {a.run}: {newton} Newton steps, {run['mesh']['unknowns']} unknowns (x{r:.2f} the benchmark's) -> "
              f"{newton * t2 * r / 60:.1f} min + set-up {s2 * r / 60:.1f} min on 2 ranks at the benchmark's "
              f"s/Newton and set-up scaled linearly by the unknowns (an estimate: iterative solves; a direct solver "
              f"grows faster), projected {(newton * tp + sp) * r / 60:.1f} min "
              f"on {a.ranks} ranks")
        own = run_own_times(run)
        if own is not None:
            t2_run, s2_run = own
            tp_run, sp_run = project(t2_run, e, a.ranks), project(s2_run, e_setup, a.ranks)
            print(f"run's own 2-rank figures: {t2_run:.2f} s per Newton step, set-up {s2_run:.0f} s "
                  f"({(newton * t2_run + s2_run) / 60:.1f} min) -> projected {tp_run:.2f} s per Newton step, "
                  f"set-up {sp_run:.0f} s, {(newton * tp_run + sp_run) / 60:.1f} min on {a.ranks} ranks")
    return 0


def run_own_times(run: dict) -> tuple[float, float] | None:
    """(s per Newton step, set-up s) of a finished 2-rank run from its ``discharge.json``: the time
    loop (with a restarted run's earlier part) over all its Newton steps, and the wall time outside
    the time loop of its last start (mesh, transport matching, problem set-up)."""
    if run.get("ranks") != 2 or not run.get("time_loop_s"):
        return None
    loop = run["time_loop_s"] + (run.get("restarted_from") or {}).get("time_loop_before_s", 0.0)
    return loop / max(run["solver"]["newton_iterations"], 1), run["wall_time_s"] - run["time_loop_s"]


if __name__ == "__main__":
    sys.exit(main())
