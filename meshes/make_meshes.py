"""Rebuild the example meshes of this folder (see README.md): ``python meshes/make_meshes.py``.

- ``two_particles/``: :func:`fem_twin.meshing.examples.two_particles` (24^3 voxels of 0.5 um) over a
  2 um separator, smooth mesher;
- ``generated_piece/``: a 10 x 10 x 8 um piece from the project's generator (70 wt% NCM, seed 1,
  small particle sizes: the tests' ``small_generated``) over a 1 um separator, smooth mesher.

Each folder: ``mesh.msh`` (gmsh 4.1, physical groups = the tags), ``mesh.xdmf`` + ``mesh.h5``
(DOLFINx, with cell and facet tags), ``mesh.json`` (counts, quality, fidelity to the image).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fem_twin._dolfinx import MPI
from fem_twin.commands.mesh import mesh_summary
from fem_twin.meshing.examples import two_particles
from fem_twin.meshing.io import write_tagged_mesh
from fem_twin.meshing.smooth_mesh import build_smooth_mesh

HERE = Path(__file__).parent


def generated_piece():
    from fem_twin.design import Composition, ElectrodeDesign
    from fem_twin.microstructure.generate import generate
    from fem_twin.microstructure.psd import ParticleSizeDistribution as PSD

    design = ElectrodeDesign(composition=Composition.from_ncm_wt(70.0), size_x_um=10, size_y_um=10,
                             thickness_um=8, loading_mg_cm2=8 * 0.2564,
                             ncm_psd=PSD.lognormal(2.5, 4.0, 6.0, d_min=2.0, d_max=7.0),
                             lpscl_psd=PSD.lognormal(2.0, 3.0, 5.0, d_min=1.5, d_max=6.0))
    return generate(design, np.random.default_rng(1)).labels


def make(name: str, labels: np.ndarray, voxel_um: float, separator_um: float) -> None:
    d = HERE / name
    d.mkdir(exist_ok=True)
    comm = MPI.COMM_WORLD
    tm = build_smooth_mesh(labels, voxel_um, separator_um, comm, msh_path=d / "mesh.msh")
    write_tagged_mesh(tm, d, msh=False)
    summary = mesh_summary(tm)
    summary["mesher"] = "smooth"
    summary["mesher_stats"] = tm.stats
    if comm.rank == 0:
        (d / "mesh.json").write_text(json.dumps(summary, indent=1) + "\n")
        print(f"{name}: {summary['num_cells']} cells, {summary['num_vertices']} vertices")


if __name__ == "__main__":
    make("two_particles", two_particles(), 0.5, 2.0)
    make("generated_piece", generated_piece(), 0.5, 1.0)
