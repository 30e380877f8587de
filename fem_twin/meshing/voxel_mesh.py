"""Voxel image -> conforming tetrahedral mesh with phase and facet tags (Kuhn subdivision).

Geometry
--------
Voxel ``(i, j, k)`` of the image (edge ``h`` um) occupies ``[i h, (i+1) h] x [j h, (j+1) h] x
[z0 + k h, z0 + (k+1) h]`` with ``z0 = separator_um``. With a separator of ``T`` um, ``T / h``
layers of dense LPSCl (cell tag :data:`~fem_twin.phases.SEPARATOR`) fill ``0 <= z < T``: z = 0 is
the Li | separator plane and z = T the separator | composite plane; the current collector is at
the top, ``z = T + nz h``. Coordinates are in micrometres.

Every voxel is split into 6 tetrahedra around its main diagonal (0,0,0)-(1,1,1) (Kuhn /
Freudenthal): tetrahedron ``p`` for an axis permutation ``(a, b, c)`` is
``[v000, v000 + e_a, v000 + e_a + e_b, v111]``. All voxels use the same diagonal, so the two
triangles on each voxel face are split along the same face diagonal from both sides and the mesh
is conforming; tagged volumes equal voxel counts x h^3 and tagged areas voxel-face counts x h^2
exactly.

Connectivity: two voxels that share a face, an edge or only a corner share mesh vertices, so a P1
space couples them: the mesh is **26-connected**, like :mod:`fem_twin.analysis.connectivity`.

Numbering (the input order seen by ``mesh.topology.original_cell_index``): grid vertex
``(i, j, k)`` of the (nx+1, ny+1, K+1) grid has index ``i + (nx+1) (j + (ny+1) k)`` (K = separator
layers + nz) and tetrahedron ``t`` of the n-th meshed voxel in (k, j, i) order has input index
``6 n + t``.

Parallel construction: each rank builds the cells of its own z-slab of voxel layers plus, as
ghosts, the cells of the neighbouring layers that share a facet with its own (ghost mode
``shared_facet``: every owned facet sees both its cells, see the facts sheet), and hands them to
``dolfinx.cpp.mesh.create_topology`` / ``create_geometry`` directly. No rank ever holds the whole
mesh, and DOLFINx's graph partitioning and cell reordering (most of ``dolfinx.mesh.create_mesh``'s
time) are skipped: 4.68 M tetrahedra in ~8 s (1 rank) instead of ~43 s.

Tags
----
- cells: the phase label of the voxel (:mod:`fem_twin.phases`: PORE 0, NCM 1, LPSCL 2, NBR 3,
  SEPARATOR 4);
- facets: every facet between two cells of different phases carries
  :func:`fem_twin.phases.interface_tag` (101 pore|NCM, 102 pore|LPSCl, 103 pore|NBR,
  112 NCM|LPSCl, 113 NCM|NBR, 123 LPSCl|NBR; the separator counts as LPSCl, so separator |
  composite-LPSCl facets are internal and untagged); every exterior facet carries its plane:
  BOTTOM 1 (z = 0), TOP 2, XMIN 3, XMAX 4, YMIN 5, YMAX 6. Owned and ghost facets are tagged.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .. import phases
from .._dolfinx import MPI, dolfinx
from ..errors import InputError

#: axis permutations of the 6 Kuhn tetrahedra, in local order t = 0..5
KUHN_PERMUTATIONS: tuple[tuple[int, int, int], ...] = tuple(itertools.permutations(range(3)))
TETS_PER_VOXEL = 6
#: corner code a + 2 b + 4 c (offset (a, b, c) in the voxel) of the 4 vertices of each Kuhn tet
KUHN_CORNERS = np.array([[0, 1 << a, (1 << a) | (1 << b), 7] for a, b, _ in KUHN_PERMUTATIONS],
                        dtype=np.int64)


@dataclass(frozen=True)
class TaggedMesh:
    """A tetrahedral mesh of a voxel image with phase and facet tags (coordinates in um)."""

    mesh: "dolfinx.mesh.Mesh"  # z = 0 Li|separator plane when a separator is meshed
    cell_tags: "dolfinx.mesh.MeshTags"  # phases.PORE/NCM/LPSCL/NBR/SEPARATOR
    facet_tags: "dolfinx.mesh.MeshTags"  # interface tags + boundary tags
    voxel_um: float
    separator_um: float  # thickness of the dense LPSCl layer below the composite (0 if none)
    stats: dict | None = None  # mesher's figures (times, quality, ...), the same on every rank
    #: a periodic mesh's cells before its faces were joined (non-periodic geometry and topology, the
    #: same owned cells in the same order; transport matching solves on it), None for other meshes
    unjoined: "TaggedMesh | None" = None

    @property
    def comm(self):
        return self.mesh.comm

    def extent_um(self) -> tuple[float, float, float]:
        """Global (x, y, z) extent of the mesh in um (z includes the separator)."""
        x = self.mesh.geometry.x
        hi = x.max(axis=0) if x.size else np.full(3, -np.inf)
        return tuple(self.comm.allreduce(float(v), op=MPI.MAX) for v in hi)

    def num_cells_global(self) -> int:
        return int(self.mesh.topology.index_map(3).size_global)


def separator_layers(separator_um: float, voxel_um: float) -> int:
    """Number of voxel layers in a separator of ``separator_um`` (must be a multiple of h)."""
    if not (np.isfinite(separator_um) and separator_um >= 0):
        raise InputError("separator", "a thickness >= 0 (um)", separator_um)
    n = int(round(separator_um / voxel_um))
    if abs(n * voxel_um - separator_um) > 1e-6 * voxel_um:
        raise InputError("separator", f"a multiple of the voxel size {voxel_um:g} um", separator_um)
    return n


def with_separator(labels: np.ndarray, n_layers: int) -> np.ndarray:
    """Labels of the meshed block: ``n_layers`` SEPARATOR layers below (k < n_layers) the image."""
    nx, ny, _ = labels.shape
    sep = np.full((nx, ny, n_layers), phases.SEPARATOR, dtype=np.uint8)
    return np.concatenate([sep, np.asarray(labels, dtype=np.uint8)], axis=2)


def slab_bounds(n_layers: int, size: int) -> np.ndarray:
    """Voxel-layer bounds of the z-slabs of ``size`` ranks: rank r builds [b[r], b[r+1])."""
    return np.array([0] + [len(a) for a in np.array_split(np.arange(n_layers), size)]).cumsum()


def interface_table() -> np.ndarray:
    """(5, 5) int32 table: facet tag between cell tags a and b, 0 for none (same phase, or
    separator | LPSCl)."""
    n = phases.SEPARATOR + 1
    t = np.zeros((n, n), dtype=np.int32)
    for a in range(n):
        for b in range(n):
            try:
                t[a, b] = phases.interface_tag(a, b)
            except ValueError:
                t[a, b] = 0
    return t


def build_tagged_mesh(labels: np.ndarray, voxel_um: float, separator_um: float = 0.0,
                      comm=MPI.COMM_WORLD, separator_growth: float = 1.0) -> TaggedMesh:
    """Mesh a labelled voxel image (every rank passes the same ``labels``) into Kuhn tetrahedra.

    ``labels``: uint8 (nx, ny, nz) phase labels, k from the separator plane to the collector;
    ``voxel_um``: voxel edge h in um; ``separator_um``: dense LPSCl layer below the composite
    (a multiple of h, 0 for none); ``separator_growth`` > 1: separator layers graded in z (see
    :func:`separator_z_um`; still conforming: x and y keep the voxel grid). Collective on ``comm``.
    """
    h = _check_voxel(labels, voxel_um)
    full, z_um = composite_with_separator(labels, h, separator_um, separator_growth)
    msh, voxel_of_cell = voxel_tet_mesh(np.ones(full.shape, bool), h, comm, z_um=z_um)
    cell_values = full.transpose(2, 1, 0).ravel()[voxel_of_cell].astype(np.int32)
    n_cells = cell_values.size
    cell_tags = dolfinx.mesh.meshtags(msh, 3, np.arange(n_cells, dtype=np.int32), cell_values)
    cell_tags.name = "cell_tags"
    extent = h * np.array(full.shape, dtype=float)
    if z_um is not None:
        extent[2] = z_um[-1]
    facet_tags = tag_facets(msh, cell_values, extent)
    return TaggedMesh(msh, cell_tags, facet_tags, h, separator_layers(float(separator_um), h) * h)


def composite_with_separator(labels: np.ndarray, voxel_um: float, separator_um: float,
                             separator_growth: float = 1.0):
    """(labels with the separator's layers below (label SEPARATOR), z in um of the grid layers or
    None for uniform layers of h). ``separator_growth`` > 1: graded layers (:func:`separator_z_um`)."""
    h = float(voxel_um)
    ns = separator_layers(float(separator_um), h)
    z_um = None
    if separator_growth != 1.0 and ns > 0:
        z_sep = separator_z_um(ns * h, h, separator_growth)
        ns = z_sep.size - 1
        z_um = np.concatenate([z_sep, z_sep[-1] + h * np.arange(1, labels.shape[2] + 1)])
    return with_separator(labels, ns), z_um


#: largest separator layer of a graded separator, in voxel edges
SEPARATOR_MAX_RATIO = 8.0


def separator_z_um(separator_um: float, voxel_um: float, growth: float,
                   max_ratio: float = SEPARATOR_MAX_RATIO) -> np.ndarray:
    """z (um, ascending from the Li plane 0 to ``separator_um``) of the layer boundaries of a graded
    separator: one voxel edge h next to the composite, then layers growing towards the Li by a
    common ratio r <= ``growth``, capped at ``max_ratio`` h: the fewest layers whose total can
    reach ``separator_um``, with r chosen (bisection) so the total is exact. Every layer is >= h.
    The separator is homogeneous LPSCl, so only the region next to the composite needs the voxel
    resolution (30 um at h = 0.5 um: 11 layers instead of 60)."""
    if not (np.isfinite(growth) and growth >= 1.0):
        raise InputError("--separator-growth", "a factor >= 1", growth)
    T, h = float(separator_um), float(voxel_um)

    def layers(r: float, n: int) -> np.ndarray:  # top (composite side) first
        return np.minimum(h * r ** np.arange(n), max_ratio * h)

    n_uniform = max(int(round(T / h)), 1)
    n = 1
    while n < n_uniform and layers(growth, n).sum() < T * (1 - 1e-12):
        n += 1
    if n == n_uniform:
        return np.linspace(0.0, T, n + 1)
    lo, hi = 1.0, float(growth)  # layers(1, n).sum() = n h < T <= layers(growth, n).sum()
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if layers(mid, n).sum() < T else (lo, mid)
    t = layers(hi, n)
    t *= T / t.sum()  # (a relative correction of ~1e-16)
    return np.concatenate([[0.0], np.cumsum(t[::-1])])


def _check_voxel(labels, voxel_um) -> float:
    if not isinstance(labels, np.ndarray) or labels.ndim != 3 or min(labels.shape) < 1:
        raise InputError("labels", "a 3D array with at least one voxel", getattr(labels, "shape", None))
    if not (np.isfinite(voxel_um) and voxel_um > 0):
        raise InputError("voxel_um", "a number > 0 (um)", voxel_um)
    return float(voxel_um)


def _block_components() -> np.ndarray:
    """(256, 8) int8 table: for an occupancy pattern ``c`` of the 2x2x2 voxels around a grid
    vertex (bit p = dx + 2 dy + 4 dz) the face-connected component (smallest member position) of
    each occupied position p, -1 for empty positions."""
    table = np.full((256, 8), -1, dtype=np.int8)
    for c in range(256):
        comp = [p if c >> p & 1 else -1 for p in range(8)]
        changed = True
        while changed:  # propagate the smallest label across shared faces (positions one bit apart)
            changed = False
            for p in range(8):
                for bit in (1, 2, 4):
                    q = p ^ bit
                    if comp[p] >= 0 and comp[q] >= 0 and comp[q] < comp[p]:
                        comp[p] = comp[q]
                        changed = True
        table[c] = comp
    return table


_BLOCK_COMPONENTS = _block_components()


def _vertex_keys(kz: np.ndarray, connectivity: int):
    """Vertex numbering of the mesh of the kept voxels ``kz`` ((k, j, i) order).

    A *key* names one mesh vertex: the grid vertex g for 26-connectivity; with 6-connectivity a
    grid vertex is split into one copy per face-connected group of the kept voxels around it
    (key = 8 g + group), so voxels touching only along an edge or at a corner share no vertex.
    Returns ``(key_of, new_id, grid_of_key)``: ``key_of(g, p)`` gives the keys of grid vertices
    ``g`` seen from the voxel at block position ``p``, ``new_id`` the compact global vertex index
    of each key (-1 unused) and ``grid_of_key`` the grid vertex of each key.
    """
    nk, ny, nx = kz.shape
    shape = (nk + 1, ny + 1, nx + 1)
    if connectivity == 26:
        used = np.zeros(shape, dtype=bool)
        for dk, dj, di in itertools.product((0, 1), repeat=3):
            used[dk:dk + nk, dj:dj + ny, di:di + nx] |= kz
        used = used.ravel()
        new_id = np.where(used, np.cumsum(used, dtype=np.int64) - 1, -1)
        return (lambda g, p: g), new_id, np.arange(used.size, dtype=np.int64)
    if connectivity != 6:
        raise ValueError(f"connectivity must be 6 or 26, got {connectivity!r}")
    pad = np.zeros((nk + 2, ny + 2, nx + 2), dtype=np.uint8)
    pad[1:-1, 1:-1, 1:-1] = kz
    config = np.zeros(shape, dtype=np.int64)
    for dz, dy, dx in itertools.product((0, 1), repeat=3):  # voxel (I-1+dx, J-1+dy, K-1+dz)
        config |= pad[dz:dz + nk + 1, dy:dy + ny + 1, dx:dx + nx + 1].astype(np.int64) << (dx + 2 * dy + 4 * dz)
    config = config.ravel()
    comp = _BLOCK_COMPONENTS[config]  # (n_grid, 8)
    used = np.zeros(config.size * 8, dtype=bool)
    g_all = np.arange(config.size, dtype=np.int64)
    for p in range(8):
        sel = comp[:, p] >= 0
        used[g_all[sel] * 8 + comp[sel, p]] = True
    new_id = np.where(used, np.cumsum(used, dtype=np.int64) - 1, -1)
    return (lambda g, p: g * 8 + comp[g, p]), new_id, np.arange(used.size, dtype=np.int64) // 8


def voxel_tet_mesh(keep: np.ndarray, h: float, comm=MPI.COMM_WORLD,
                   origin_um: tuple[float, float, float] = (0.0, 0.0, 0.0), connectivity: int = 26,
                   z_um: np.ndarray | None = None):
    """Kuhn-tetrahedral mesh of the voxels where ``keep`` (bool (nx, ny, nz), the same on every
    rank) is True, with only the grid vertices those voxels use. Collective.

    With ``connectivity=26`` (default) the result is the sub-mesh of the full block's mesh made
    of those voxels' cells (same cells, same shared vertices), built without the full block.
    With ``connectivity=6`` grid vertices are duplicated so that voxels touching only along an
    edge or at a corner share no vertex: P1 then couples face neighbours only, like a
    6-connected finite-difference/finite-volume voxel solver (used for comparisons with those).

    Each rank builds its z-slab of voxel layers and ghosts the neighbouring slabs' cells that
    share a facet with its own (ghost mode shared_facet); the distribution is known, so DOLFINx's
    graph partitioning and cell reordering are skipped (3-5x faster than
    ``dolfinx.mesh.create_mesh`` at the seed's size).

    Returns ``(mesh, voxel_of_cell)``: ``voxel_of_cell[c]`` is the (k, j, i)-order linear index
    ``i + nx (j + ny k)`` of the voxel holding local cell ``c`` (owned + ghost); the cell's input
    index (``mesh.topology.original_cell_index``) is ``6 * (rank of the voxel among the kept
    voxels) + t``. ``z_um`` (optional, nz + 1 values): the z of each grid layer instead of k h.
    """
    keep = np.asarray(keep, dtype=bool)
    nx, ny, nk = keep.shape
    kz = np.ascontiguousarray(keep.transpose(2, 1, 0))  # (k, j, i)
    kept = np.flatnonzero(kz.ravel())  # kept voxels in input order
    if kept.size == 0:
        raise ValueError("no voxels to mesh")
    key_of, new_id, grid_of_key = _vertex_keys(kz, connectivity)
    sxy, per_layer = (nx + 1) * (ny + 1), nx * ny

    # -- cells of this rank: owned = kept voxels of layers [k0, k1); ghosts = tets of the layer
    # just below (above) with a face on z = k0 (z = k1) whose voxel across that face is kept
    bounds = slab_bounds(nk, comm.size)
    k0, k1 = int(bounds[comm.rank]), int(bounds[comm.rank + 1])
    perm = np.array(KUHN_PERMUTATIONS)
    lo, hi = np.searchsorted(kept, [k0 * per_layer, k1 * per_layer])
    pieces = [np.arange(lo * TETS_PER_VOXEL, hi * TETS_PER_VOXEL, dtype=np.int64)]
    owners = []
    if k1 > k0:
        for layer, across, faces in ((k0 - 1, k0, perm[:, 0] == 2),  # top faces of the layer below
                                     (k1, k1 - 1, perm[:, 2] == 2)):  # bottom faces of the one above
            if not 0 <= layer < nk:
                continue
            a, b = np.searchsorted(kept, [layer * per_layer, (layer + 1) * per_layer])
            pos = np.arange(a, b)
            pos = pos[kz.ravel()[kept[pos] + (across - layer) * per_layer]]  # facet neighbour kept
            idx = (pos[:, None] * TETS_PER_VOXEL + np.flatnonzero(faces)[None, :]).ravel()
            pieces.append(idx)
            owners.append(np.full(idx.size, np.searchsorted(bounds, layer, side="right") - 1, np.int32))
    n_owned = pieces[0].size
    input_index = np.concatenate(pieces)
    ghost_owners = np.concatenate(owners) if owners else np.zeros(0, np.int32)
    voxel = kept[input_index // TETS_PER_VOXEL]
    local = input_index % TETS_PER_VOXEL
    grid = kuhn_cells_of(voxel, nx, ny, local=local)  # grid vertex of each cell vertex
    corner = KUHN_CORNERS[local]  # corner code a + 2b + 4c of each cell vertex in its voxel
    cells = new_id[key_of(grid, 7 - corner)]
    gk = grid[:n_owned] // sxy
    on_plane = (gk == k0) | (gk == k1)
    boundary_vertices = np.unique(cells[:n_owned][on_plane])  # may be shared with other ranks

    grid_of_id = grid_of_key[np.flatnonzero(new_id >= 0)]
    msh = mesh_from_cells(comm, "tetrahedron", cells, input_index, ghost_owners, boundary_vertices, grid_of_id,
                          nx, ny, h, origin_um, z_um)
    order = np.asarray(msh.topology.original_cell_index, dtype=np.int64)
    return msh, kept[order // TETS_PER_VOXEL]


def kuhn_cells_of(voxels: np.ndarray, nx: int, ny: int, local: np.ndarray | None = None) -> np.ndarray:
    """Grid-vertex indices (int64) of Kuhn tetrahedra of voxels with (k, j, i) linear indices
    ``voxels``: all 6 per voxel ((6 n, 4), consecutive rows) or, with ``local`` (tet number
    0..5 per entry), one per entry ((n, 4))."""
    sx, sxy = nx + 1, (nx + 1) * (ny + 1)
    step = np.array([1, sx, sxy], dtype=np.int64)
    offsets = np.empty((TETS_PER_VOXEL, 4), dtype=np.int64)
    for t, (a, b, _) in enumerate(KUHN_PERMUTATIONS):
        offsets[t] = (0, step[a], step[a] + step[b], step.sum())
    v = np.asarray(voxels, dtype=np.int64)
    base = v % nx + sx * ((v // nx) % ny) + sxy * (v // (nx * ny))
    if local is None:
        return (base[:, None, None] + offsets[None, :, :]).reshape(-1, 4)
    return base[:, None] + offsets[np.asarray(local)]


def tag_facets(msh, cell_values: np.ndarray, extent_um: np.ndarray) -> "dolfinx.mesh.MeshTags":
    """Facet tags: interface tags between cells of different phases, plane tags on the exterior.

    Computed on owned facets (both cells are local with ghost mode shared_facet) and sent to
    the ghost copies through the facet index map. ``extent_um``: (Lx, Ly, Lz) of the block.
    """
    topo = msh.topology
    topo.create_entities(2)
    topo.create_connectivity(2, 3)
    fmap = topo.index_map(2)
    n_owned = fmap.size_local
    f2c = topo.connectivity(2, 3)
    off, arr = f2c.offsets, f2c.array
    n_links = np.diff(off[: n_owned + 1])
    c0 = arr[off[:n_owned]]
    two = n_links == 2
    c1 = c0.copy()
    c1[two] = arr[off[:n_owned][two] + 1]
    values = interface_table()[cell_values[c0], cell_values[c1]]

    # exterior facets: on exactly one plane of the box
    ext = np.flatnonzero(n_links == 1).astype(np.int32)
    from ..fem.periodic_topology import facet_midpoints

    mid = facet_midpoints(msh, ext)  # compute_midpoints gives zeros on a periodic mesh
    tol = 1e-6 * float(np.min(extent_um))
    plane = np.zeros(ext.size, dtype=np.int32)
    for axis, (lo_tag, hi_tag) in enumerate(((phases.XMIN, phases.XMAX), (phases.YMIN, phases.YMAX),
                                             (phases.BOTTOM, phases.TOP))):
        plane[np.abs(mid[:, axis]) < tol] = lo_tag
        plane[np.abs(mid[:, axis] - extent_um[axis]) < tol] = hi_tag
    if np.any(plane == 0):  # an owned facet with one local cell inside the box: ghosting broken
        raise RuntimeError(f"{int((plane == 0).sum())} owned facets with one local cell lie inside "
                           "the domain (the mesh must use ghost mode shared_facet)")
    values[ext] = plane

    # owned -> ghost copies
    vec = dolfinx.la.vector(fmap, 1, dtype=np.int32)
    vec.array[:n_owned] = values
    vec.array[n_owned:] = 0
    vec.scatter_forward()
    allv = vec.array
    entities = np.flatnonzero(allv > 0).astype(np.int32)
    tags = dolfinx.mesh.meshtags(msh, 2, entities, allv[entities].astype(np.int32))
    tags.name = "facet_tags"
    return tags


def mesh_from_cells(comm, cell_type: str, cells: np.ndarray, input_index: np.ndarray, ghost_owners: np.ndarray,
                    boundary_vertices: np.ndarray, grid_of_id: np.ndarray, nx: int, ny: int, h: float,
                    origin_um, z_um: np.ndarray | None = None) -> "dolfinx.mesh.Mesh":
    """DOLFINx mesh (P1 geometry, coordinates in um) of this rank's owned + ghost ``cells``.

    ``cells``: (n, k) global vertex ids (owned cells first), ``input_index``/``ghost_owners`` as
    for ``create_topology``, ``boundary_vertices`` the vertices that may be shared with other
    ranks, ``grid_of_id[v]`` the index of vertex ``v`` in the (nx+1) x (ny+1) x (nz+1) voxel-corner
    grid of edge ``h`` um whose corner 0 sits at ``origin_um``; ``z_um`` (optional): the z of
    each grid layer instead of ``k h`` (a graded separator)."""
    import basix.ufl
    import ufl

    ctype = getattr(dolfinx.mesh.CellType, cell_type)
    topology = dolfinx.cpp.mesh.create_topology(comm, [ctype], [cells.ravel()], [input_index], [ghost_owners],
                                                boundary_vertices, 0)
    mark = np.zeros(int(grid_of_id.size), dtype=bool)
    mark[cells.ravel()] = True
    nodes = np.flatnonzero(mark).astype(np.int64)  # global vertex ids used on this rank
    g = grid_of_id[nodes]
    sx, sxy = nx + 1, (nx + 1) * (ny + 1)
    x = np.column_stack([g % sx, (g // sx) % (ny + 1), g // sxy]).astype(np.float64) * h
    if z_um is not None:
        x[:, 2] = np.asarray(z_um, dtype=np.float64)[g // sxy]
    x += np.asarray(origin_um, dtype=np.float64)
    cmap = dolfinx.fem.coordinate_element(ctype, 1)
    geometry = dolfinx.cpp.mesh.create_geometry(topology, [cmap._cpp_object], nodes, cells.ravel(), x.ravel(), 3)
    domain = ufl.Mesh(basix.ufl.element("Lagrange", cell_type, 1, shape=(3,)))
    msh = dolfinx.mesh.Mesh(dolfinx.cpp.mesh.Mesh_float64(comm, topology, geometry), domain)
    msh.name = "mesh"
    return msh
