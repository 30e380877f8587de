"""Benchmark: a discharge's set-up with and without the set-up cache (fem_twin/setup_cache.py).

For one structure folder (``structure.npz``): remove dead clusters as the discharge does, then, in a fresh
cache folder, build the smooth mesh and match the conductances (fv-matched) twice: the first time makes
and stores them, the second loads them. Prints the wall time of each part, the cache files' sizes, and
checks that the second mesh and factors equal the first. Run on one rank (the discharge studies' setting)
or under mpirun (the mesh is cached once for any rank count; the factors per rank count).

    python benchmarks/setup_cache.py docs/data/size_study/size24/size_um=24_ncm_wt=70_seed=1
    python benchmarks/setup_cache.py DIR --separator 30 --growth 1.5 --keep out/cache_bench
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("structure", help="folder holding structure.npz")
    ap.add_argument("--separator", type=float, default=30.0, help="separator thickness, um (default 30)")
    ap.add_argument("--growth", type=float, default=1.5, help="separator layer growth (default 1.5)")
    ap.add_argument("--keep", default=None, help="cache folder to use and keep (default: a temporary one, removed)")
    args = ap.parse_args()

    from fem_twin._dolfinx import MPI
    from fem_twin.fem.domains import prune_dead_clusters
    from fem_twin.fem.transport_matching import match_conductances
    from fem_twin.meshing.smooth_mesh import build_smooth_mesh
    from fem_twin.microstructure.image import VoxelImage

    comm = MPI.COMM_WORLD
    say = print if comm.rank == 0 else (lambda *a, **k: None)
    img = VoxelImage.load(Path(args.structure))
    lab, _ = prune_dead_clusters(img.labels, img.voxel_size_um)
    lab = lab.astype(np.uint8)
    if args.keep:
        cache = Path(args.keep)
    else:
        cache = Path(comm.bcast(tempfile.mkdtemp(prefix="fem_twin_cache_bench_") if comm.rank == 0 else None, root=0))
    say(f"{args.structure}: {lab.shape} voxels of {img.voxel_size_um:g} um, separator {args.separator:g} um "
        f"(growth {args.growth:g}), {comm.size} rank(s), cache {cache}")
    results = []
    for attempt in ("first (make + store)", "second (load)"):
        comm.Barrier()
        t0 = time.perf_counter()
        tm = build_smooth_mesh(lab, img.voxel_size_um, args.separator, comm, separator_growth=args.growth,
                               cache_dir=cache)
        comm.Barrier()
        t1 = time.perf_counter()
        match = match_conductances(lab, img.voxel_size_um, tm, comm, "fv-matched", cache_dir=cache)
        comm.Barrier()
        t2 = time.perf_counter()
        cells = tm.mesh.topology.index_map(3).size_global
        say(f"  {attempt:22s} mesh {t1 - t0:7.1f} s (hit {tm.stats['cache']['hit']})  "
            f"conductance match {t2 - t1:7.1f} s (hit {match.cache['hit']})  total {t2 - t0:7.1f} s  "
            f"{cells} cells")
        results.append((t2 - t0, match.factors(), cells))
    same = results[0][1] == results[1][1] and results[0][2] == results[1][2]
    if comm.rank == 0:
        sizes = {f.name: f.stat().st_size / 2**20 for f in sorted(cache.iterdir())}
        for name, mb in sizes.items():
            print(f"  {name}: {mb:.1f} MiB")
        print(f"  set-up {results[0][0]:.1f} s -> {results[1][0]:.1f} s ({results[0][0] / max(results[1][0], 1e-9):.0f}x); "
              f"same cells and factors: {same}")
        if not args.keep:
            shutil.rmtree(cache, ignore_errors=True)
    if not same:
        raise SystemExit("the loaded set-up differs from the made one")


if __name__ == "__main__":
    main()
