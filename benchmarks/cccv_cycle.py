"""A CC-CV cycle of a small generated electrode (issue 18 part 1): capacity, CV time, coulombic
efficiency per cycle.

    mpirun -n 2 python benchmarks/cccv_cycle.py [-o out/cccv_cycle]

The 10 x 10 x 8 um, 70 wt% structure of tests/conftest.py::small_generated (seed 1), a 5 um
separator, the default (smooth) mesher; protocol ``discharge 1C to 3.0 V; (charge 0.5C to 4.3 V;
hold at 4.3 V until C/20; rest 10 min; discharge 1C to 3.0 V) x 2``. Prints the step and cycle
summaries of discharge.json; discharge_cycles.png in the output folder.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

PROTOCOL = ("discharge 1C to 3.0 V; (charge 0.5C to 4.3 V; hold at 4.3 V until C/20; rest 10 min; "
            "discharge 1C to 3.0 V) x 2")


def main():
    from conftest import small_generated

    from fem_twin._dolfinx import MPI
    from fem_twin.fem.discharge_run import discharge
    from fem_twin.fem.settings import DischargeSettings, OutputSettings, SeparatorSettings

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", default="out/cccv_cycle")
    args = ap.parse_args()
    img = small_generated(seed=1)
    st = DischargeSettings(protocol=PROTOCOL, separator=SeparatorSettings(5.0),
                           outputs=OutputSettings(fields=False, quiet=True))
    t0 = time.perf_counter()
    res = discharge(img.labels, img.voxel_size_um, args.output, st)
    if MPI.COMM_WORLD.rank == 0:
        print(f"complete {res.complete} ({res.message}); {time.perf_counter() - t0:.0f} s, "
              f"{res.summary['mesh']['unknowns']} unknowns, {MPI.COMM_WORLD.size} rank(s)")
        print("| step | cycle | step | duration s | mAh/g | ended by |")
        for s in res.summary["steps"]:
            print(f"| {s['step']} | {s['cycle']} | {s['description']} | {s['duration_s']:.0f} | "
                  f"{s['capacity_mAh_per_g']:.2f} | {s['ended_by']} |")
        print("| cycle | charge mAh/g | of it CV | discharge mAh/g | CE | energy eff. |")
        for c in res.summary["cycles"]:
            cv = sum(s["capacity_mAh_per_g"] for s in res.summary["steps"]
                     if s["cycle"] == c["cycle"] and s["kind"] == "hold")
            print(f"| {c['cycle']} | {c['charge_capacity_mAh_per_g']:.2f} | {cv:.2f} | "
                  f"{c['discharge_capacity_mAh_per_g']:.2f} | {c['coulombic_efficiency']:.6f} | "
                  f"{c['energy_efficiency']:.4f} |")


if __name__ == "__main__":
    main()
