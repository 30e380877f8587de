"""``fem-twin mesh DIR``: voxel image -> tagged tetrahedral mesh files (XDMF + gmsh)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..errors import InputError
from ..meshing.meshers import DEFAULT_MESHER, MESHERS, check_mesher

SUMMARY_FILE = "mesh.json"


def register(sub) -> None:
    p = sub.add_parser(
        "mesh", help="mesh a voxel structure into tagged tetrahedra (XDMF + gmsh .msh)",
        description="Turn DIR/structure.npz into a conforming tetrahedral mesh and write "
                    "DIR/mesh.xdmf (+ mesh.h5), DIR/mesh.msh and DIR/mesh.json. Cell tags: pore 0, ncm 1, "
                    "lpscl 2, nbr 3, separator 4. Facet tags: pore|ncm 101, pore|lpscl 102, pore|nbr 103, "
                    "ncm|lpscl 112, ncm|nbr 113, lpscl|nbr 123 (separator counts as lpscl); planes bottom 1 "
                    "(z = 0), top 2, xmin 3, xmax 4, ymin 5, ymax 6. Coordinates in um. Runs under mpirun. Meshers: voxel "
                    "(6 Kuhn tetrahedra per voxel: tagged volumes and interface areas equal the voxel counts "
                    "exactly) or smooth (smoothed interfaces meshed by gmsh on rank 0, then distributed; "
                    "mesh.json reports quality, phase volumes and connectivity against the image).")
    p.add_argument("dir", help="directory holding structure.npz")
    p.add_argument("--separator", type=float, default=0.0,
                   help="thickness in um of a dense LPSCl separator below the composite, a multiple of the "
                        "voxel size (the seed's cell: 30; default 0 = none)")
    p.add_argument("--separator-growth", type=float, default=1.0, metavar="G",
                   help="grade the separator: layers grow by G away from the composite (default 1: voxel layers)")
    p.add_argument("--mesher", "--method", dest="mesher", default=DEFAULT_MESHER,
                   help=f"mesher: {' or '.join(MESHERS)} (default {DEFAULT_MESHER})")
    p.add_argument("--no-msh", action="store_true", help="skip the gmsh file (it is gathered on one rank)")
    p.set_defaults(func=cmd_mesh)


def cmd_mesh(args) -> int:
    from .._dolfinx import MPI
    from ..meshing.io import write_tagged_mesh
    from ..meshing.meshers import check_periodic_image, get_mesher
    from ..microstructure.image import VoxelImage

    check_mesher(args.mesher)
    comm = MPI.COMM_WORLD
    d = Path(args.dir)
    image = VoxelImage.load(d)
    check_periodic_image(args.mesher, image.source, d / "structure.npz")
    t0 = time.perf_counter()
    extra = {}
    if args.mesher.startswith("smooth"):  # gmsh writes its own .msh (physical groups = tags) on rank 0
        extra = {"msh_path": None if args.no_msh else d / "mesh.msh"}
    tm = get_mesher(args.mesher)(image.labels, image.voxel_size_um, args.separator, comm,
                                 separator_growth=args.separator_growth, **extra)
    t1 = time.perf_counter()
    # a periodic mesh's geometry is discontinuous (XDMF cannot hold it): its cells are written with
    # the faces cut, as ParaView shows them anyway; the counts below are the periodic mesh's
    files = write_tagged_mesh(tm.unjoined or tm, d, msh=not args.no_msh and not args.mesher.startswith("smooth"))
    if extra.get("msh_path"):
        files["msh"] = extra["msh_path"]
    t2 = time.perf_counter()
    summary = mesh_summary(tm)
    summary.update(mesher=args.mesher, build_time_s=t1 - t0, write_time_s=t2 - t1, num_ranks=comm.size,
                   files={k: v.name for k, v in files.items()})
    if tm.stats:
        summary["mesher_stats"] = tm.stats
    if comm.rank == 0:
        (d / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
        print(f"meshed {image.shape} voxels (+{summary['separator_layers']} separator layers) into "
              f"{summary['num_cells']} tetrahedra, {summary['num_vertices']} vertices in {t1 - t0:.1f} s "
              f"on {comm.size} rank(s); wrote {', '.join(str(v) for v in files.values())} in {t2 - t1:.1f} s")
    return 0


def mesh_summary(tm) -> dict:
    """Global counts of a TaggedMesh: cells per cell tag, facets per facet tag (collective)."""
    import numpy as np

    from .. import phases
    from .._dolfinx import MPI
    from ..meshing.io import CELL_TAG_NAMES, FACET_TAG_NAMES

    comm = tm.comm
    topo = tm.mesh.topology

    def counts(tags, n_owned, names):
        sel = tags.indices < n_owned
        local = np.bincount(tags.values[sel], minlength=200)
        total = comm.allreduce(local, op=MPI.SUM)
        return {f"{names.get(t, t)} ({t})": int(total[t]) for t in np.flatnonzero(total)}

    return {
        "voxel_um": tm.voxel_um,
        "separator_um": tm.separator_um,
        "separator_layers": int(round(tm.separator_um / tm.voxel_um)),
        "extent_um": list(tm.extent_um()),
        "num_cells": int(topo.index_map(3).size_global),
        "num_vertices": int(topo.index_map(0).size_global),
        "cells_per_tag": counts(tm.cell_tags, topo.index_map(3).size_local, CELL_TAG_NAMES),
        "facets_per_tag": counts(tm.facet_tags, topo.index_map(2).size_local, FACET_TAG_NAMES),
        "cell_tag_numbers": {**phases.PHASES, "separator": phases.SEPARATOR},
        "facet_tag_numbers": {**phases.INTERFACE_TAGS, **phases.BOUNDARY_TAGS},
    }
