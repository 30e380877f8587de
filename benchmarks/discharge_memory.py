"""Resident memory of a discharge problem stage by stage (one process; run under mpirun for more).

Builds the demo's problem from ``DIR/structure.npz`` (e.g. ``out/discharge_demo`` after the README's
main command), then solves the potentials and two 1C time steps, printing VmRSS and its peak
(VmHWM) per rank 0 after each stage:

    python benchmarks/discharge_memory.py out/discharge_demo [--separator 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="directory holding structure.npz")
    ap.add_argument("--separator", type=float, default=5.0)
    ap.add_argument("--separator-growth", type=float, default=1.0)
    a = ap.parse_args(argv)

    def mark(name):
        if comm.rank == 0:
            print(f"{name:45s} RSS {_status_mb('VmRSS'):8.0f} MB   peak {_status_mb('VmHWM'):8.0f} MB", flush=True)

    from fem_twin._dolfinx import MPI
    comm = MPI.COMM_WORLD
    mark("imports")
    from fem_twin.fem.box_mesh import tagged_mesh
    from fem_twin.fem.discharge import DischargeProblem
    from fem_twin.fem.discharge_run import electrode_numbers
    from fem_twin.fem.discharge_solvers import LinearSolverSpec
    from fem_twin.fem.domains import build_domains, prune_dead_clusters
    from fem_twin.microstructure.image import VoxelImage
    from fem_twin.parameters.cell import ParameterSet

    image = VoxelImage.load(Path(a.dir))
    params = ParameterSet()
    num = electrode_numbers(image.labels, image.voxel_size_um, params)
    pruned, _ = prune_dead_clusters(image.labels, image.voxel_size_um)
    mark("structure")
    tm = tagged_mesh(pruned.astype("uint8"), image.voxel_size_um, a.separator, comm,
                     separator_growth=a.separator_growth)
    mark("tagged mesh")
    dom = build_domains(tm)
    mark("phase submeshes")
    pb = DischargeProblem(dom, params, num["eps_ncm"], num["i_1c_A"], LinearSolverSpec("fieldsplit"))
    mark(f"problem ({pb.num_dofs} unknowns)")
    cur = num["i_1c_A"]
    ok, its, lits, _ = pb.solve(cur, 1.0, transport=False)
    mark(f"potentials: ok {ok}, Newton {its}, linear {lits}")
    for dt in (36.0, 60.0):
        ok, its, lits, _ = pb.solve(cur, dt)
        pb.accept(dt, cur)
        mark(f"step {dt:g} s: ok {ok}, Newton {its}, linear {lits}")
    pb.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
