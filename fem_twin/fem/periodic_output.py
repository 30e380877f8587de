"""Fields of a periodic discharge on the cut mesh, for XDMF (ParaView).

A mesh made periodic by :func:`fem_twin.fem.periodic_topology.make_periodic` has a discontinuous
coordinate element; DOLFINx's XDMF writer cannot write it (it crashes). The mesher keeps the same
cells with the periodic faces cut (``TaggedMesh.unjoined``: the same owned cells in the same order,
each with its vertices in the same order), so every field is written on that mesh instead:

- a phase field (P1 on the phase's submesh) goes to a P1 function on the cut mesh's submesh of the
  same owned cells, vertex by vertex (cut vertex -> periodic vertex through the owned cells, then
  the periodic submesh's vertex and its dof); on a periodic face both copies of a vertex get the value
  of the one periodic vertex, so the field is continuous in ParaView across x = 0 = L as well;
- a cell field (DG0 vector) goes cell by cell through the parent cell;
- the interface mesh holds the NCM | LPSCl facets of the cut mesh: its interior interface facets
  and, on the cut faces, the NCM cells' facets whose periodic facet is an interface facet (those
  lie between a cell at x = L and one at x = 0).

The maps are checked on construction: every vertex of the copy must have a periodic partner and the
cells must have the same corner coordinates in both meshes, else RuntimeError (never a silently
scrambled field).
"""

from __future__ import annotations

import numpy as np

from .. import phases
from .._dolfinx import dolfinx
from .discharge_io import InterfaceFields, _vertex_to_dof


def _connectivity(msh, a: int, b: int) -> np.ndarray:
    msh.topology.create_connectivity(a, b)
    c = msh.topology.connectivity(a, b)
    n = msh.topology.index_map(a).size_local + msh.topology.index_map(a).num_ghosts
    return c.array.reshape(n, -1)


def vertex_map_cut_to_periodic(cut, periodic) -> np.ndarray:
    """Local vertex of ``periodic`` for each local vertex of ``cut`` (-1 where none), through the
    local cells (owned and ghost) the two meshes share, matched by their original cell index; checks
    that matched cells have the same corner coordinates."""
    tdim = cut.topology.dim

    def cells(m):
        n = m.topology.index_map(tdim).size_local + m.topology.index_map(tdim).num_ghosts
        return np.asarray(m.topology.original_cell_index[:n], np.int64)

    oc, op = cells(cut), cells(periodic)
    _, ic, ip = np.intersect1d(oc, op, assume_unique=True, return_indices=True)
    n_own = cut.topology.index_map(tdim).size_local
    if not np.array_equal(np.sort(ic[ic < n_own]), np.arange(n_own)) or periodic.topology.index_map(tdim).size_local != n_own:
        raise RuntimeError("periodic output: the cut mesh and the periodic mesh do not own the same cells")
    xc = cut.geometry.x[cut.geometry.dofmaps[0][ic]]
    xp = periodic.geometry.x[periodic.geometry.dofmaps[0][ip]]
    if not np.allclose(xc, xp, rtol=0.0, atol=1e-9 * max(1.0, float(np.abs(xc).max(initial=0.0)))):
        raise RuntimeError("periodic output: the cut mesh's cells are not the periodic mesh's (corner coordinates differ)")
    vc = _connectivity(cut, tdim, 0)[ic]
    vp = _connectivity(periodic, tdim, 0)[ip]
    nv = cut.topology.index_map(0).size_local + cut.topology.index_map(0).num_ghosts
    out = np.full(nv, -1, np.int64)
    out[vc.ravel()] = vp.ravel()
    return out


class CutPhase:
    """The cut mesh's submesh of one phase's owned cells, and copies of the phase's fields onto it."""

    def __init__(self, cut, phase, cut_to_per: np.ndarray):
        tdim = cut.topology.dim
        self.mesh, emap, vmap, _ = dolfinx.mesh.create_submesh(cut, tdim, phase.owned_cells)
        self.mesh.name = phase.mesh.name
        nv = self.mesh.topology.index_map(0).size_local + self.mesh.topology.index_map(0).num_ghosts
        parent_v = np.asarray(vmap.sub_topology_to_topology(np.arange(nv, dtype=np.int32), False), np.int64)
        per_v = cut_to_per[parent_v]
        sub_v = np.asarray(phase.vertex_map.sub_topology_to_topology(np.maximum(per_v, 0).astype(np.int32), True),
                           np.int64)
        if np.any(per_v < 0) or np.any(sub_v < 0):
            raise RuntimeError("periodic output: a vertex of the cut phase mesh has no periodic partner")
        self._per_sub_v = sub_v  # cut submesh vertex -> periodic submesh vertex
        nc = self.mesh.topology.index_map(tdim).size_local
        parent_c = np.asarray(emap.sub_topology_to_topology(np.arange(nc, dtype=np.int32), False), np.int32)
        self._per_sub_c = np.asarray(phase.entity_map.sub_topology_to_topology(parent_c, True), np.int64)
        self._maps = {}

    def p1(self, u, name: str | None = None):
        """A P1 function on this mesh with the values of ``u`` (P1 on the periodic phase submesh)."""
        key = id(u.function_space)
        if key not in self._maps:
            V = dolfinx.fem.functionspace(self.mesh, ("Lagrange", 1))
            dst = _vertex_to_dof(V)
            src = _vertex_to_dof(u.function_space)[self._per_sub_v]
            ok = dst >= 0
            self._maps[key] = (V, dst[ok], src[ok])
        V, dst, src = self._maps[key]
        out = dolfinx.fem.Function(V, name=name or u.name)
        out.x.array[dst] = u.x.array[src]
        return out

    def cellwise(self, q, name: str | None = None):
        """A DG0 (vector) function on this mesh's owned cells with the values of ``q`` (DG0 on the
        periodic phase submesh)."""
        Q = dolfinx.fem.functionspace(self.mesh, q.function_space.ufl_element())
        out = dolfinx.fem.Function(Q, name=name or q.name)
        bs = Q.dofmap.index_map_bs
        d_out = Q.dofmap.list[: self._per_sub_c.size, 0]
        d_in = q.function_space.dofmap.list[self._per_sub_c, 0]
        out.x.array.reshape(-1, bs)[d_out] = q.x.array.reshape(-1, bs)[d_in]
        out.x.scatter_forward()
        return out


def cut_interface_facets(cut_tm, periodic_tm, is_ncm: np.ndarray) -> np.ndarray:
    """Owned facets of the cut mesh that are NCM | LPSCl facets of the periodic mesh: the cut
    mesh's own interface facets, and its exterior facets on the cut faces where the periodic facet
    of the same (owned NCM cell, local facet) is tagged NCM | LPSCl. ``is_ncm``: per local cell of
    the periodic mesh."""
    cut, per = cut_tm.mesh, periodic_tm.mesh
    tdim = cut.topology.dim
    n_own_f = cut.topology.index_map(tdim - 1).size_local
    own = cut_tm.facet_tags.find(phases.NCM_LPSCL)
    own = own[own < n_own_f]
    n_own = cut.topology.index_map(tdim).size_local
    c2f_cut = _connectivity(cut, tdim, tdim - 1)[:n_own]
    c2f_per = _connectivity(per, tdim, tdim - 1)[:n_own]
    nf_per = per.topology.index_map(tdim - 1).size_local + per.topology.index_map(tdim - 1).num_ghosts
    iface = np.zeros(nf_per, bool)
    iface[periodic_tm.facet_tags.find(phases.NCM_LPSCL)] = True
    cut.topology.create_connectivity(tdim - 1, tdim)
    f2c = cut.topology.connectivity(tdim - 1, tdim)
    single = np.diff(f2c.offsets)[c2f_cut] == 1  # exterior facets of the cut mesh
    ncm = is_ncm[:n_own][:, None]
    seam = single & ncm & iface[c2f_per] & (c2f_cut < n_own_f)
    return np.unique(np.concatenate([own, c2f_cut[seam]])).astype(np.int32)


class CutInterface(InterfaceFields):
    """:class:`InterfaceFields` on the cut mesh's NCM | LPSCl facets (:func:`cut_interface_facets`):
    eta and j at each facet vertex from the periodic phase dofs at the same vertex."""

    def __init__(self, problem, tagged, cut_to_per: np.ndarray):  # (other facets than InterfaceFields')
        cut = tagged.unjoined.mesh
        facets = cut_interface_facets(tagged.unjoined, tagged, np.asarray(problem.domains.cell_labels) == phases.NCM)
        fmesh, _, fvmap, _ = dolfinx.mesh.create_submesh(cut, cut.topology.dim - 1, facets)
        self._bind(problem, fmesh, fvmap, to_parent=cut_to_per)
        if np.any((self.fdofs >= 0) & ~self.ok):
            raise RuntimeError("periodic output: an interface vertex without a dof of both phases")
