"""Capacities of the demo electrode at 0.1/0.5/1C for 60/70/80 wt% NCM -> a CSV table.

Each case is the demo's run (16 x 16 um piece of ``generate(ElectrodeDesign(composition=
Composition.from_ncm_wt(W), size_x_um=16, size_y_um=16), default_rng(seed))``, 5 um separator,
discharge to 3.0 V, time steps from 1/100 h up to 1/10 h at the C-rate) in its own ``mpirun``;
results are appended to ``OUT/capacities.csv`` as they finish and cases already in the CSV are
skipped (resumable). No XDMF fields.

    python benchmarks/discharge_capacities.py -o out/capacities --ranks 2
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["ncm_wt", "c_rate", "seed", "size_um", "capacity_mAh_per_g", "capacity_mAh_per_cm2", "complete",
           "ended_by", "unknowns", "steps", "newton", "wall_s"]


def run_with_timeout(cmd, log, timeout: float):
    """Run ``cmd`` in its own process group; after ``timeout`` s send SIGTERM (the discharge
    writes a checkpoint and an incomplete discharge.json), SIGKILL 120 s later. Exit code or text."""
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        return f"timeout after {timeout:g} s"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default="out/capacities")
    ap.add_argument("--compositions", default="60,70,80")
    ap.add_argument("--c-rates", default="1,0.5,0.1")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size", type=float, default=16.0)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per case (default 1800)")
    a = ap.parse_args(argv)
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    table = out / "capacities.csv"
    done = set()
    if table.exists():
        with open(table) as f:
            done = {(float(r["ncm_wt"]), float(r["c_rate"])) for r in csv.DictReader(f)}
    else:
        with open(table, "w", newline="") as f:
            csv.DictWriter(f, COLUMNS).writeheader()
    exe = Path(sys.executable)
    cases = [(float(w), float(c)) for c in a.c_rates.split(",") for w in a.compositions.split(",")]
    for wt, rate in cases:
        if (wt, rate) in done:
            continue
        nbr = 2.0
        comp = f"{wt:g}:{100 - wt - nbr:g}:{nbr:g}"
        case = out / f"ncm{wt:g}_c{rate:g}"
        cmd = [str(exe.parent / "mpirun"), "-n", str(a.ranks), str(exe), str(ROOT / "demos" / "discharge.py"),
               "--composition", comp, "--c-rate", str(rate), "--seed", str(a.seed), "--size", str(a.size),
               "--output", str(case), "--no-fields"]
        t = time.perf_counter()
        (case / "run.log").parent.mkdir(parents=True, exist_ok=True)
        with open(case / "run.log", "w") as log:
            code = run_with_timeout(cmd, log, a.timeout)
        wall = time.perf_counter() - t
        try:
            s = json.loads((case / "discharge.json").read_text())
        except (OSError, ValueError):
            print(f"{comp} {rate:g}C: no result (exit {code})", flush=True)
            continue
        row = {"ncm_wt": wt, "c_rate": rate, "seed": a.seed, "size_um": a.size,
               "capacity_mAh_per_g": s.get("capacity_mAh_per_g"),
               "capacity_mAh_per_cm2": s.get("capacity_mAh_per_cm2"), "complete": s.get("complete"),
               "ended_by": (s.get("steps") or [{}])[0].get("ended_by", s.get("message")),
               "unknowns": s["mesh"]["unknowns"], "steps": s.get("accepted_rows"),
               "newton": s["solver"]["newton_iterations"], "wall_s": round(wall, 1)}
        with open(table, "a", newline="") as f:
            csv.DictWriter(f, COLUMNS).writerow(row)
        print(f"{comp} {rate:g}C: {row['capacity_mAh_per_g']:.1f} mAh/g, "
              f"{row['capacity_mAh_per_cm2']:.4f} mAh/cm2 ({row['ended_by']}), {wall:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
