"""Voxel image -> hexahedral mesh, one hexahedron per kept voxel (for cell-centred finite volumes).

Geometry
--------
Voxel ``(i, j, k)`` (edge ``h`` um) is the cell ``[i h, (i+1) h] x [j h, (j+1) h] x [k h, (k+1) h]``
shifted by ``origin_um``; coordinates are in micrometres. The hexahedron's vertices are the 8
voxel corners in DOLFINx/basix tensor-product order: vertex ``a + 2 b + 4 c`` is the corner at
offset ``(a, b, c)``. Only the grid vertices used by kept voxels are created, and neighbouring
kept voxels share their vertices, so the mesh is the sub-mesh of the full block's hexahedral mesh.

Connectivity: two kept voxels share a *facet* exactly when they are face neighbours
(6-connectivity); voxels touching along an edge or at a corner share vertices but no facet. A
DG0 space with interior-facet (two-point flux) coupling therefore connects face neighbours only,
the convention of :func:`fem_twin.analysis.connectivity.spanning` with ``connectivity=6``.

Parallel construction (as :func:`fem_twin.meshing.voxel_mesh.voxel_tet_mesh`): rank r builds the
kept voxels of its own z-slab of voxel layers (:func:`~fem_twin.meshing.voxel_mesh.slab_bounds`)
and, as ghosts, the kept voxels of the layers just below and above the slab whose face neighbour
across the slab plane is kept (ghost mode ``shared_facet``: every owned facet sees both of its
cells), and hands them to ``dolfinx.cpp.mesh.create_topology`` / ``create_geometry``. No rank
holds the whole mesh and DOLFINx's graph partitioning is skipped.

Numbering (``mesh.topology.original_cell_index``): the n-th kept voxel in (k, j, i) order has
input index n; grid vertex ``(i, j, k)`` of the (nx+1, ny+1, nz+1) grid has index
``i + (nx+1) (j + (ny+1) k)`` (compacted to the used vertices).
"""

from __future__ import annotations

import numpy as np

from .._dolfinx import MPI
from ..errors import InputError
from .voxel_mesh import mesh_from_cells, slab_bounds

#: offsets (a, b, c) of hexahedron vertex a + 2 b + 4 c
HEX_CORNERS = np.array([[a, b, c] for c in (0, 1) for b in (0, 1) for a in (0, 1)], dtype=np.int64)


def hex_cells_of(voxels: np.ndarray, nx: int, ny: int) -> np.ndarray:
    """Grid-vertex indices (int64, (n, 8), basix vertex order) of the hexahedra of the voxels with
    (k, j, i) linear indices ``voxels`` (= i + nx (j + ny k))."""
    sx, sxy = nx + 1, (nx + 1) * (ny + 1)
    offsets = HEX_CORNERS @ np.array([1, sx, sxy], dtype=np.int64)
    v = np.asarray(voxels, dtype=np.int64)
    base = v % nx + sx * ((v // nx) % ny) + sxy * (v // (nx * ny))
    return base[:, None] + offsets[None, :]


def voxel_hex_mesh(keep: np.ndarray, h: float, comm=MPI.COMM_WORLD,
                   origin_um: tuple[float, float, float] = (0.0, 0.0, 0.0)):
    """Hexahedral mesh (one cell per voxel) of the voxels where ``keep`` (bool (nx, ny, nz), the
    same on every rank) is True; ``h``: voxel edge in um. Collective.

    Returns ``(mesh, voxel_of_cell)``: ``voxel_of_cell[c]`` is the (k, j, i)-order linear index
    ``i + nx (j + ny k)`` of the voxel of local cell ``c`` (owned + ghost). Facets are not
    created (``msh.topology.create_entities(2)`` when facet integrals are needed).
    """
    keep = np.asarray(keep, dtype=bool)
    if keep.ndim != 3 or min(keep.shape) < 1:
        raise InputError("keep", "a 3D boolean voxel array", getattr(keep, "shape", None))
    if not (np.isfinite(h) and h > 0):
        raise InputError("voxel_um", "a number > 0 (um)", h)
    nx, ny, nk = keep.shape
    kz = np.ascontiguousarray(keep.transpose(2, 1, 0)).ravel()  # (k, j, i) order
    kept = np.flatnonzero(kz)  # kept voxels in input order
    if kept.size == 0:
        raise InputError("keep", "at least one voxel to mesh", 0)
    per_layer = nx * ny
    sxy = (nx + 1) * (ny + 1)

    # -- cells of this rank: owned = kept voxels of layers [k0, k1); ghosts = kept voxels of the
    # layer below k0 (above k1 - 1) whose face neighbour in layer k0 (k1 - 1) is kept
    bounds = slab_bounds(nk, comm.size)
    k0, k1 = int(bounds[comm.rank]), int(bounds[comm.rank + 1])
    lo, hi = np.searchsorted(kept, [k0 * per_layer, k1 * per_layer])
    pieces = [np.arange(lo, hi, dtype=np.int64)]
    owners = []
    if k1 > k0:
        for layer, across in ((k0 - 1, k0), (k1, k1 - 1)):
            if not 0 <= layer < nk:
                continue
            a, b = np.searchsorted(kept, [layer * per_layer, (layer + 1) * per_layer])
            pos = np.arange(a, b, dtype=np.int64)
            pos = pos[kz[kept[pos] + (across - layer) * per_layer]]
            pieces.append(pos)
            owners.append(np.full(pos.size, np.searchsorted(bounds, layer, side="right") - 1, np.int32))
    n_owned = pieces[0].size
    input_index = np.concatenate(pieces)
    ghost_owners = np.concatenate(owners) if owners else np.zeros(0, np.int32)
    grid = hex_cells_of(kept[input_index], nx, ny)  # (n_local, 8) grid vertices

    # compact global vertex numbers: the grid vertices used by some kept voxel (same on all ranks)
    used = np.zeros((nk + 1) * sxy, dtype=bool)
    k3 = kz.reshape(nk, ny, nx)
    u3 = used.reshape(nk + 1, ny + 1, nx + 1)
    for c, b, a in HEX_CORNERS[:, ::-1]:
        u3[c:c + nk, b:b + ny, a:a + nx] |= k3
    new_id = np.where(used, np.cumsum(used, dtype=np.int64) - 1, -1)
    cells = new_id[grid]
    gk = grid[:n_owned] // sxy
    on_plane = (gk == k0) | (gk == k1)
    boundary_vertices = np.unique(cells[:n_owned][on_plane])  # may be shared with other ranks

    msh = mesh_from_cells(comm, "hexahedron", cells, input_index, ghost_owners, boundary_vertices,
                          np.flatnonzero(used), nx, ny, h, origin_um)
    order = np.asarray(msh.topology.original_cell_index, dtype=np.int64)
    return msh, kept[order]
