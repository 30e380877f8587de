"""Are the cut mesh's transport factors right for the periodic mesh? (issue 19, periodic pieces)

The ``fv-matched`` factors of a periodic mesh (:mod:`fem_twin.fem.periodic_transport`: periodic P1
and periodic finite volumes, x and y by the cell problem) against those of the same cells with the
faces cut (``TaggedMesh.unjoined``: P1 and ``conductivity_fv`` with no-flux sides), per phase and axis,
for the same pruned structure. The first version of the periodic discharge applied the cut factors;
this measures what that would have cost. Also prints a check: the periodic module's finite volumes
with the faces cut (along z) against ``conductivity_fv``.

    OMP_NUM_THREADS=1 python benchmarks/periodic_transport.py [DIR ...]
        (default: docs/data/size_study/periodic24/size_um=24_ncm_wt=80_seed={1,3})
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from fem_twin import phases
from fem_twin._dolfinx import MPI

DEFAULT = [f"docs/data/size_study/periodic24/size_um=24_ncm_wt=80_seed={s}" for s in (1, 3)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="*", default=DEFAULT)
    args = ap.parse_args()
    from fem_twin.fem.conductivity import effective_conductivity
    from fem_twin.fem.domains import prune_dead_clusters
    from fem_twin.fem.periodic_transport import fv_relative_periodic
    from fem_twin.fem.transport_matching import match_conductances
    from fem_twin.meshing.smooth_mesh import build_periodic_smooth_mesh
    from fem_twin.microstructure.image import VoxelImage

    comm = MPI.COMM_WORLD
    for d in args.dirs:
        img = VoxelImage.load(Path(d))
        h = img.voxel_size_um
        pruned, _ = prune_dead_clusters(img.labels, h, periodic_xy=True)
        t0 = time.perf_counter()
        tm = build_periodic_smooth_mesh(pruned, h, 0.0, comm)
        t_mesh = time.perf_counter() - t0
        print(f"{d}: {pruned.shape} voxels, periodic smooth mesh in {t_mesh:.0f} s", flush=True)
        if comm.rank == 0:
            for phase, label in (("ncm", phases.NCM), ("lpscl", phases.LPSCL)):
                mine = fv_relative_periodic(pruned == label, h, 2, periodic=False)
                ref = effective_conductivity(pruned, h, phase, "z", method="fv", comm=MPI.COMM_SELF).relative_conductivity
                print(f"  check, {phase} z with the faces cut: periodic_transport {mine:.6f}, conductivity_fv "
                      f"{ref:.6f} (rel. diff {mine / ref - 1:+.1e})", flush=True)
        got = {}
        for name, tagged in (("cut", tm.unjoined), ("periodic", tm)):
            t0 = time.perf_counter()
            got[name] = match_conductances(pruned, h, tagged, comm)
            print(f"  {name:8s} ({time.perf_counter() - t0:.0f} s): {got[name].describe()}", flush=True)
        for phase in ("ncm", "lpscl"):
            a, b = getattr(got["cut"], phase), getattr(got["periodic"], phase)
            print(f"  {phase}: factor periodic / cut - 1 (x, y, z): "
                  + ", ".join(f"{q / p - 1:+.2%}" for p, q in zip(a.factor, b.factor))
                  + "; P1 periodic / cut: " + ", ".join(f"{q / p:.3f}" if p > 0 else "-" for p, q in zip(a.p1, b.p1)),
                  flush=True)


if __name__ == "__main__":
    main()
