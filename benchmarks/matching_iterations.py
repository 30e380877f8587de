"""How the transport matching's Newton behaves when given more tensors (issue 19, near percolation).

Builds the periodic smooth mesh of one structure, then matches one phase with
``MATCH_MAX_ITERATIONS`` raised (default 20) and prints every Newton step (the tensor, P1 / fv per
axis after it) and the mismatch of every tensor tried. On the periodic 24 um 80 wt% seed-3 LPSCl
(session 35): 0.39, 0.34, ..., 0.20 at the 6th tensor (the default limit), 0.16, 0.13, 0.73, 0.18,
0.022, 2.3e-4 at the 12th, which matches but at 2.16 / 0.044 / 3.38 (above 1 along x and z).

    OMP_NUM_THREADS=1 python benchmarks/matching_iterations.py \\
        [DIR (default docs/data/size_study/periodic24/size_um=24_ncm_wt=80_seed=3)] [--phase lpscl] [--max 20]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from fem_twin._dolfinx import MPI

DEFAULT = "docs/data/size_study/periodic24/size_um=24_ncm_wt=80_seed=3"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", nargs="?", default=DEFAULT)
    ap.add_argument("--phase", default="lpscl", choices=["ncm", "lpscl"])
    ap.add_argument("--max", type=int, default=20, help="tensors Newton may try (the code's default: 6)")
    args = ap.parse_args()
    import fem_twin.fem.transport_matching as tmod
    from fem_twin.fem.domains import prune_dead_clusters
    from fem_twin.meshing.smooth_mesh import build_periodic_smooth_mesh
    from fem_twin.microstructure.image import VoxelImage

    comm = MPI.COMM_WORLD
    img = VoxelImage.load(Path(args.dir))
    h = img.voxel_size_um
    pruned, _ = prune_dead_clusters(img.labels, h, periodic_xy=True)
    tm = build_periodic_smooth_mesh(pruned, h, 0.0, comm)
    tmod.MATCH_MAX_ITERATIONS = args.max
    newton = tmod._newton_update

    def logged(f, fv, sols, ok):
        out = newton(f, fv, sols, ok)
        if comm.rank == 0:
            print("  from", "/".join(f"{x:.4g}" for x in f), "P1/fv",
                  "/".join(f"{sols[a].relative / fv[a]:.4f}" for a in sols), "->", "/".join(f"{x:.4g}" for x in out),
                  flush=True)
        return out

    tmod._newton_update = logged
    t0 = time.perf_counter()
    m = tmod._phase_match(pruned, h, args.phase, tm, comm)
    if comm.rank == 0:
        print(f"{args.phase}: factor {'/'.join(f'{x:.4g}' for x in m.factor)}; mismatch by tensor "
              + ", ".join(f"{w:.2g}" for w in m.history) + f"; {m.note or 'matched'}; {time.perf_counter() - t0:.0f} s",
              flush=True)


if __name__ == "__main__":
    main()
