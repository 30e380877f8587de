"""A tetrahedral mesh made periodic in x and/or y by its topology (DOLFINx 0.11, no dolfinx_mpc).

DOLFINx 0.11 has no periodic meshes and dolfinx_mpc (periodic constraints) is not on PyPI. But a
mesh's topology and geometry are separate objects: :func:`make_periodic` rebuilds a distributed P1
tetrahedral mesh so that every vertex on a face x = x_max (y = y_max) *is* its partner on x = x_min
(y = y_min) in the topology, while the geometry, with a discontinuous P1 coordinate element, keeps
each cell's own four corner coordinates. A continuous Lagrange space on the result has one dof per
periodic vertex pair, so its functions are periodic by construction and the assemblers, solvers and
GAMG work on it unchanged; the periodic faces are no longer exterior facets.

Built with DOLFINx's C++ bindings (``cpp.mesh.create_topology``, ``Geometry_float64``,
``Mesh_float64``), which may change between DOLFINx releases. Verified in
``tests/test_periodic_topology.py``: Poisson with periodic x, y and Dirichlet z, second-order
convergence to an exact solution, u(x_min) = u(x_max) to round-off, the same answer on 1 and 2 ranks,
interior-facet integrals across the periodic faces and rank boundaries equal to the serial ones.

Each rank holds the cells of other ranks that share a facet with its own as ghosts (DOLFINx's
``shared_facet`` ghost mode, the periodic faces included), so interior-facet integrals work on any
number of ranks. They are found by an all-gather of every rank's open facets with their cells
(memory per rank ~ the total partition surface, fine for the sizes here, not for thousands of ranks).

What does not work on the result (DOLFINx 0.11): facet ``compute_midpoints`` / ``entities_to_geometry``
(use :func:`facet_midpoints`), XDMF output (it crashes; :mod:`fem_twin.fem.periodic_output` writes the
fields on the mesh with the faces cut), and dof coordinates see one of each pair's two positions. The two
faces must carry matching vertices: the ``smooth-periodic`` mesher
(:func:`fem_twin.meshing.smooth_mesh.build_periodic_smooth_mesh`) makes them so.
Each periodic direction needs at least 3 cells across, or two different edges would join the same
pair of vertices.

The result carries ``vertex_input_ids``: per local vertex, the input index of its lower-face
partner in the original mesh (the same on any number of ranks), which checkpoints key their dofs by
(:func:`fem_twin.fem.checkpoint.vertex_global_ids`); the geometry's own input indices number the
cells' corners, not the vertices.
"""

from __future__ import annotations

import numpy as np

from .._dolfinx import MPI, dolfinx
from ..errors import InputError

__all__ = ["facet_midpoints", "make_periodic"]


def make_periodic(msh, directions=(0, 1), tol: float = 1e-8):
    """A copy of ``msh`` (P1 tetrahedra, any partition) periodic along ``directions`` (0 = x, 1 = y).

    The box is the mesh's bounding box; vertices on the upper face of a direction are matched to
    those on the lower face by their coordinates (to ``tol`` in the mesh's length unit). Each rank
    keeps its owned cells in their order, so cell data of ``msh`` applies to the result by local cell
    index. Collective.

    Raises :class:`InputError` if the mesh is not P1 tetrahedra or a vertex on an upper face has no
    partner on the lower face (the two faces are not meshed alike).
    """
    import basix.ufl
    import ufl
    from dolfinx import cpp
    from dolfinx.fem import coordinate_element

    comm = msh.comm
    tdim = msh.topology.dim
    if msh.topology.cell_type != dolfinx.mesh.CellType.tetrahedron or msh.geometry.cmaps[0].degree != 1:
        raise InputError("make_periodic: mesh", "P1 tetrahedra",
                         f"{msh.topology.cell_type.name}, degree {msh.geometry.cmaps[0].degree}")
    directions = tuple(sorted(set(int(d) for d in directions)))
    if not directions or not set(directions) <= {0, 1, 2}:
        raise InputError("make_periodic: directions", "a subset of (0, 1, 2)", directions)

    n_cells = msh.topology.index_map(tdim).size_local
    nodes = msh.geometry.dofmaps[0][:n_cells]  # (n_cells, 4) local geometry nodes of owned cells
    x = msh.geometry.x
    node_id = np.asarray(msh.geometry.input_global_indices, dtype=np.int64)
    lo = np.array([comm.allreduce(float(x[:, d].min(initial=np.inf)), op=MPI.MIN) for d in range(3)])
    hi = np.array([comm.allreduce(float(x[:, d].max(initial=-np.inf)), op=MPI.MAX) for d in range(3)])

    on_hi = np.zeros(len(x), bool)
    on_lo = np.zeros(len(x), bool)
    wrapped = x.copy()
    for d in directions:
        up = np.abs(x[:, d] - hi[d]) < tol
        on_hi |= up
        on_lo |= np.abs(x[:, d] - lo[d]) < tol
        wrapped[up, d] = lo[d]
    # partners: vertices on a lower face and on no upper face (corners map to the (lo, lo) corner)
    master = on_lo & ~on_hi
    grid = lambda pts: np.round((pts - lo) / tol).astype(np.int64)  # noqa: E731
    keys = np.vstack(comm.allgather(grid(x[master])))
    ids = np.concatenate(comm.allgather(node_id[master]))
    query = grid(wrapped[on_hi])
    labels = np.unique(np.vstack([keys, query]), axis=0, return_inverse=True)[1].ravel()
    owner_of_label = np.full(labels.max(initial=-1) + 1, -1, dtype=np.int64)
    owner_of_label[labels[: len(keys)]] = ids
    partner = owner_of_label[labels[len(keys):]]
    missing = comm.allreduce(int(np.count_nonzero(partner < 0)))
    if missing:
        raise InputError("make_periodic: mesh", "matching vertices on opposite faces of the periodic "
                         f"directions {directions} (to {tol:g})", f"{missing} upper-face vertices without a partner")
    vertex = node_id.copy()
    vertex[on_hi] = partner
    cells = vertex[nodes]  # (n_cells, 4) periodic global vertex ids

    # facets of only one owned cell: the rank's boundary (exterior faces and faces to other ranks)
    facets = np.sort(cells[:, [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]].reshape(-1, 3), axis=1)
    _, inverse, count = np.unique(facets, axis=0, return_inverse=True, return_counts=True)
    open_rows = np.flatnonzero(count[inverse.ravel()] == 1)
    boundary = np.unique(facets[open_rows]).astype(np.int64)
    original = np.asarray(msh.topology.original_cell_index[:n_cells], dtype=np.int64)
    corners = np.ascontiguousarray(x[nodes], dtype=np.float64)  # (n_cells, 4, 3)
    node_start = comm.exscan(4 * n_cells) or 0

    # ghosts: the cells of other ranks that share a facet with this rank's (the periodic faces included)
    open_cells = open_rows // 4
    mine = (facets[open_rows], cells[open_cells], corners[open_cells].reshape(-1, 12), original[open_cells],
            node_start + 4 * open_cells)
    every = [np.concatenate(parts) for parts in zip(*comm.allgather(mine))]
    rank_of = np.repeat(np.arange(comm.size), comm.allgather(len(open_rows)))
    _, label = np.unique(every[0], axis=0, return_inverse=True)
    label = label.ravel()
    own_labels = np.zeros(label.max(initial=-1) + 1, bool)
    own_labels[label[rank_of == comm.rank]] = True
    take = own_labels[label] & (rank_of != comm.rank)
    _, first = np.unique(every[3][take], return_index=True)  # a cell once, however many facets it shares
    pick = np.flatnonzero(take)[first]
    ghost_cells, ghost_corners, ghost_original, ghost_first_node = (every[1][pick], every[2][pick].reshape(-1, 4, 3),
                                                                    every[3][pick], every[4][pick])
    ghost_owner = rank_of[pick].astype(np.int32)

    topology = cpp.mesh.create_topology(comm, [cpp.mesh.CellType.tetrahedron],
                                        [np.concatenate([cells, ghost_cells]).ravel()],
                                        [np.concatenate([original, ghost_original])], [ghost_owner], boundary, 1)

    element = basix.ufl.element("Lagrange", "tetrahedron", 1, shape=(3,), discontinuous=True)
    cmap = coordinate_element(element.basix_element)
    ghost_nodes = (ghost_first_node[:, None] + np.arange(4)).ravel().astype(np.int64)
    node_map = cpp.common.IndexMap(comm, 4 * n_cells, ghost_nodes, np.repeat(ghost_owner, 4), 1)
    n_all = n_cells + len(ghost_cells)
    dofmap = np.arange(4 * n_all, dtype=np.int32).reshape(-1, 4)
    xyz = np.concatenate([corners, ghost_corners]).reshape(-1, 3)
    geometry = cpp.mesh.Geometry_float64(node_map, dofmap, cmap._cpp_object, xyz,
                                         np.concatenate([np.arange(node_start, node_start + 4 * n_cells,
                                                                   dtype=np.int64), ghost_nodes]))
    out = dolfinx.mesh.Mesh(cpp.mesh.Mesh_float64(comm, topology, geometry), ufl.Mesh(element))
    # the input id of every local vertex (the lower-face partner's input geometry index): the same
    # for any partition, unlike the per-corner ids of the discontinuous geometry
    out.topology.create_connectivity(tdim, 0)
    c2v = out.topology.connectivity(tdim, 0).array.reshape(n_all, 4)
    vmap = out.topology.index_map(0)
    ids = np.full(vmap.size_local + vmap.num_ghosts, -1, np.int64)
    ids[c2v.ravel()] = np.concatenate([cells, ghost_cells]).ravel()
    out.vertex_input_ids = ids
    return out


def facet_midpoints(msh, facets: np.ndarray) -> np.ndarray:
    """(m, 3) midpoints of local facets ``facets`` of a P1 tetrahedral mesh, each from the corners
    of one of its cells. Unlike ``dolfinx.mesh.compute_midpoints`` (and ``entities_to_geometry``),
    which return zeros (empty node lists) for the facets of a :func:`make_periodic` mesh, this works
    on both kinds of mesh; a facet on a periodic face is reported at the position its first cell
    gives it."""
    facets = np.asarray(facets, dtype=np.int32)
    topo = msh.topology
    tdim = topo.dim
    topo.create_connectivity(tdim - 1, tdim)
    topo.create_connectivity(tdim - 1, 0)
    topo.create_connectivity(tdim, 0)
    f2c, f2v, c2v = topo.connectivity(tdim - 1, tdim), topo.connectivity(tdim - 1, 0), topo.connectivity(tdim, 0)
    cell = f2c.array[f2c.offsets[facets]]
    fv = f2v.array[f2v.offsets[facets][:, None] + np.arange(3)]  # (m, 3) facet vertices
    cv = c2v.array[c2v.offsets[cell][:, None] + np.arange(4)]  # (m, 4) its cell's vertices
    on = (cv[:, :, None] == fv[:, None, :]).any(axis=2)  # the cell's three corners on the facet
    x = msh.geometry.x[msh.geometry.dofmaps[0][cell]]  # (m, 4, 3): P1 node i is vertex i of the cell
    return (x * on[:, :, None]).sum(axis=1) / 3.0
