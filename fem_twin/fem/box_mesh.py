"""Tagged box meshes: DOLFINx ``create_box`` tetrahedra tagged from a voxel label image.

Same conventions as :func:`fem_twin.meshing.voxel_mesh.build_tagged_mesh` (micrometres, z = 0 the
Li | separator plane, separator layers below the image, :mod:`fem_twin.phases` tags), for
hand-made geometries (tests, benchmarks) and as :func:`tagged_mesh`'s fallback when the voxel
mesher cannot be imported. (``fem_twin.fem._testmeshes`` until issue 17; production runs take
their mesher from :func:`fem_twin.meshing.meshers.get_mesher`.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import phases
from .._dolfinx import MPI, dolfinx


@dataclass(frozen=True)
class BoxTaggedMesh:
    mesh: object
    cell_tags: object
    facet_tags: object
    voxel_um: float
    separator_um: float


def _phase_class(lab: np.ndarray) -> np.ndarray:
    return np.where(lab == phases.SEPARATOR, phases.LPSCL, lab)


def tagged_box_mesh(labels: np.ndarray, voxel_um: float, separator_um: float = 0.0,
                    comm=MPI.COMM_WORLD) -> BoxTaggedMesh:
    """Mesh a label image (nx, ny, nz) with ``separator_um`` of LPSCl below it (k = 0 side)."""
    labels = np.asarray(labels)
    nsep = int(round(separator_um / voxel_um))
    full = np.concatenate([np.full(labels.shape[:2] + (nsep,), phases.SEPARATOR, labels.dtype), labels],
                          axis=2) if nsep else labels
    n = full.shape
    h = float(voxel_um)
    msh = dolfinx.mesh.create_box(comm, [np.zeros(3), np.array(n, float) * h], list(n),
                                  dolfinx.mesh.CellType.tetrahedron,
                                  ghost_mode=dolfinx.mesh.GhostMode.shared_facet)
    tdim = 3
    top = msh.topology
    top.create_connectivity(tdim - 1, tdim)
    top.create_connectivity(tdim, tdim - 1)
    ncell = top.index_map(tdim).size_local + top.index_map(tdim).num_ghosts
    cells = np.arange(ncell, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(msh, tdim, cells)
    idx = np.clip(np.floor(mid / h).astype(int), 0, np.array(n) - 1)
    clab = full[idx[:, 0], idx[:, 1], idx[:, 2]].astype(np.int32)
    cell_tags = dolfinx.mesh.meshtags(msh, tdim, cells, clab)

    nfac = top.index_map(tdim - 1).size_local + top.index_map(tdim - 1).num_ghosts
    f2c = top.connectivity(tdim - 1, tdim)
    cls = _phase_class(clab)
    fvals = np.full(nfac, -1, np.int32)
    offs = f2c.offsets
    two = np.flatnonzero(np.diff(offs) == 2)
    c0 = f2c.array[offs[two]]
    c1 = f2c.array[offs[two] + 1]
    diff = cls[c0] != cls[c1]
    for f, a, b in zip(two[diff], cls[c0[diff]], cls[c1[diff]]):
        fvals[f] = phases.interface_tag(int(a), int(b))
    ext = dolfinx.mesh.exterior_facet_indices(top)
    fmid = dolfinx.mesh.compute_midpoints(msh, tdim - 1, ext.astype(np.int32))
    L = np.array(n, float) * h
    tol = 1e-8 * h
    for f, x in zip(ext, fmid):
        if x[2] < tol:
            fvals[f] = phases.BOTTOM
        elif x[2] > L[2] - tol:
            fvals[f] = phases.TOP
        elif x[0] < tol:
            fvals[f] = phases.XMIN
        elif x[0] > L[0] - tol:
            fvals[f] = phases.XMAX
        elif x[1] < tol:
            fvals[f] = phases.YMIN
        else:
            fvals[f] = phases.YMAX
    keep = np.flatnonzero(fvals >= 0).astype(np.int32)
    facet_tags = dolfinx.mesh.meshtags(msh, tdim - 1, keep, fvals[keep])
    return BoxTaggedMesh(msh, cell_tags, facet_tags, h, nsep * h)


def tagged_mesh(labels: np.ndarray, voxel_um: float, separator_um: float = 0.0, comm=MPI.COMM_WORLD,
                separator_growth: float = 1.0):
    """The project mesher when it is installed, else :func:`tagged_box_mesh` (uniform separator)."""
    try:
        from ..meshing.voxel_mesh import build_tagged_mesh
    except ImportError:
        if separator_growth != 1.0:
            raise
        return tagged_box_mesh(labels, voxel_um, separator_um, comm)
    return build_tagged_mesh(labels, voxel_um, separator_um=separator_um, comm=comm,
                             separator_growth=separator_growth)
