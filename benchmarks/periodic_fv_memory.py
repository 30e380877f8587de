"""Time and peak memory of the periodic voxel finite volumes at the study's size (issue 19).

:func:`fem_twin.fem.periodic_transport.fv_relative_periodic` assembles with scipy and solves with
PETSc CG + GAMG on one rank (rank 0 of a run), so its memory is one process's, whatever the number of
ranks. The ``fv-matched`` transport of a periodic mesh calls it per phase and axis on the image and on
the image split into 2 x 2 x 2 (``transport_matching.upsampled``, 8x the voxels), at its default
tolerance. This prints, per phase, resolution and axis, sigma_eff / sigma, the wall time and the
process's peak resident memory after the solve (``ru_maxrss``; it only grows, so each line is the peak
so far). ``--phases lpscl --fine-only`` for the largest case alone.

Measured (session 34, beside a 2-rank discharge, niced; 80 wt% seed 1, 100 x 100 x 78 voxels):
LPSCl 169,279 voxels at 1x, 1.3-1.6 s per axis; 1,354,232 at 2x, 13.7-30.1 s, peak 1,235 MB; NCM
360,334 at 1x, 3.1-3.9 s; 2,882,672 at 2x, 37.8-62.0 s (x slowest: the cell problem), peak 2,231 MB
(~0.77 kB per voxel). So the periodic matching of a 50 um cell holds ~2.2 GB on rank 0 for ~4 min of
finite volumes, beside the P1 solves.

    OMP_NUM_THREADS=1 python benchmarks/periodic_fv_memory.py [DIR]
        (default: docs/data/rate_study/study/ncm80_seed1, a 50 x 50 um structure, 0.5 um voxels)
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

DEFAULT = "docs/data/rate_study/study/ncm80_seed1"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", nargs="?", default=DEFAULT)
    ap.add_argument("--phases", default="ncm,lpscl")
    ap.add_argument("--fine-only", action="store_true", help="only the 2x image")
    args = ap.parse_args()
    from fem_twin import phases
    from fem_twin.fem.domains import prune_dead_clusters
    from fem_twin.fem.periodic_transport import fv_relative_periodic
    from fem_twin.fem.transport_matching import upsampled
    from fem_twin.microstructure.image import VoxelImage

    img = VoxelImage.load(Path(args.dir))
    h = img.voxel_size_um
    pruned, _ = prune_dead_clusters(img.labels, h, periodic_xy=True)
    print(f"{args.dir}: {pruned.shape} voxels of {h} um; peak memory after loading "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", flush=True)
    for phase in args.phases.split(","):
        label = phases.NCM if phase == "ncm" else phases.LPSCL
        for scale in ((2,) if args.fine_only else (1, 2)):
            mask = (upsampled(pruned) if scale == 2 else pruned) == label
            for axis in (0, 1, 2):
                t0 = time.perf_counter()
                rel = fv_relative_periodic(mask, h / scale, axis)
                dt = time.perf_counter() - t0
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(f"  {phase} {scale}x {'xyz'[axis]}: {int(mask.sum()):,} voxels, sigma_eff/sigma {rel:.5f}, "
                      f"{dt:.1f} s, peak {peak:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
