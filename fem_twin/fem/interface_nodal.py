"""The NCM | LPSCl interface terms of the discharge model evaluated node by node.

With the vertex (nodal) quadrature rule every interface integral of the discharge forms is a
sum over interface vertices::

    int_Gamma f(u_s, u_e) v dS  =  sum_a  W_a f(u_s(a), u_e(a)) v(a),   W_a = sum_{facets F at a} w_F(a) |F| / 3

(|F| the facet area in um2; w_F(a) = 1, or with the smoothed-normal weights of
:mod:`fem_twin.fem.interface_weights` w_F(a) = |n_s(a) . n_F|, the weight the UFL forms carry as
``abs(dot(n_s('+'), n('+')))`` evaluated by the vertex rule at a). The kinetics j at vertex a
depend only on that vertex's four values (lithiation and phi_s on the NCM side, phi_e and c_e on
the electrolyte side) and V, so the residual, the 16 Jacobian blocks, the border vectors dF/dV,
dg/du and the current g are all made of one number per interface vertex: j and its four derivatives, evaluated once per Newton step
in numpy and added into the matrices through index arrays built here once. Assembling the same
terms through UFL costs one kinetics evaluation per facet, per block (16 blocks): ~15x more on
the demo electrode.

Parallel: each rank sums the facets it integrates (the owned interface facets, as the UFL forms
do) into its own local vertices, ghosts included; PETSc adds the ghost rows to their owners.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._dolfinx import PETSc
from ..parameters.cell import ParameterSet
from .kinetics import Kinetics, butler_volmer


@dataclass
class InterfaceVertices:
    """This rank's interface vertices: local dofs on each side (owned + ghost) and weights."""

    ncm_dof: np.ndarray  #: (n,) int32, local dof of the NCM-side P1 spaces (theta_s, psi_s)
    ely_dof: np.ndarray  #: (n,) int32, local dof of the electrolyte-side P1 spaces (phi_e, theta_e)
    weight_um2: np.ndarray  #: (n,) float, this rank's (weighted) facet area per vertex (sum of w_F |F|/3)

    @property
    def size(self) -> int:
        return int(self.ncm_dof.size)


def _facet_vertices(c2v: np.ndarray, cells: np.ndarray, lfacets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) local vertex slots k != lf of each tetrahedron's local facet lf (facet lf is
    opposite vertex lf on the reference simplex) and the (n, 3) parent vertices at them."""
    slots = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]], np.int32)[lfacets]
    return slots, np.take_along_axis(c2v[cells], slots, axis=1)


def interface_vertices(domains, space_ncm, space_ely) -> InterfaceVertices:
    """The interface vertices of ``domains`` (integration rows ``(NCM cell, lf, electrolyte
    cell, lf)``) with the local dofs of two P1 spaces on the NCM and electrolyte submeshes."""
    msh = domains.parent
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim, 0)
    c2v = msh.topology.connectivity(tdim, 0).array.reshape(-1, tdim + 1)
    gdm = msh.geometry.dofmaps[0]
    x = msh.geometry.x
    ent = domains.interface
    if ent.shape[0] == 0:
        e = np.zeros(0, np.int32)
        return InterfaceVertices(e, e.copy(), np.zeros(0))
    c_s, lf_s, c_e, lf_e = ent[:, 0], ent[:, 1], ent[:, 2], ent[:, 3]
    slot_s, pv_s = _facet_vertices(c2v, c_s, lf_s)
    slot_e, pv_e = _facet_vertices(c2v, c_e, lf_e)
    # pair the two sides' vertices through their parent vertex index
    o_s, o_e = np.argsort(pv_s, axis=1), np.argsort(pv_e, axis=1)
    slot_s, pv_s = np.take_along_axis(slot_s, o_s, 1), np.take_along_axis(pv_s, o_s, 1)
    slot_e, pv_e = np.take_along_axis(slot_e, o_e, 1), np.take_along_axis(pv_e, o_e, 1)
    if not np.array_equal(pv_s, pv_e):
        raise RuntimeError("interface facet rows whose two cells do not share the facet's vertices")
    # facet areas (um2) from the NCM cell's geometry nodes (P1 geometry: node k = vertex k)
    p = x[np.take_along_axis(gdm[c_s], slot_s, axis=1)]
    cross = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    area = 0.5 * np.linalg.norm(cross, axis=1)
    w = np.repeat(area / 3.0, 3)
    ns = getattr(domains, "interface_normal", None)
    if ns is not None:  # w_F(a) = |n_s(a) . n_F| at each of the facet's vertices
        n_f = cross / (2.0 * area)[:, None]
        dof_n = np.take_along_axis(ns.function_space.dofmap.list[c_s], slot_s, axis=1)  # (n, 3)
        n_s = ns.x.array.reshape(-1, 3)[dof_n]  # (n, 3 vertices, 3 components)
        w = w * np.abs(np.einsum("fkc,fc->fk", n_s, n_f)).ravel()
    # submesh cells of the parent cells, then the P1 dofs at the facet's slots
    sub_s = np.asarray(domains.ncm.entity_map.sub_topology_to_topology(c_s, inverse=True))
    sub_e = np.asarray(domains.electrolyte.entity_map.sub_topology_to_topology(c_e, inverse=True))
    if (sub_s < 0).any() or (sub_e < 0).any():
        raise RuntimeError("interface facet next to a cell missing from its phase submesh")
    dof_s = np.take_along_axis(space_ncm.dofmap.list[sub_s], slot_s, axis=1).ravel()
    dof_e = np.take_along_axis(space_ely.dofmap.list[sub_e], slot_e, axis=1).ravel()
    ncm, inv = np.unique(dof_s, return_inverse=True)
    weight = np.bincount(inv, weights=w, minlength=ncm.size)
    ely = np.full(ncm.size, -1, np.int64)
    ely[inv] = dof_e
    if not np.array_equal(ely[inv], dof_e):
        raise RuntimeError("an NCM interface vertex paired with two electrolyte vertices")
    return InterfaceVertices(ncm.astype(np.int32), ely.astype(np.int32), weight)


class NodalInterface:
    """Adds the interface terms of the discharge residual/Jacobian node by node.

    ``row_coeff[r]``: the factor of ``j`` in field r's equation (theta_s: transport, psi_s: 1,
    phi_e: -1, theta_e: -transport (1 - t+)); weights in um2 and j in A/m2 give picoamperes.
    ``bc_dofs[k]``: local Dirichlet dofs of field k (rows and columns dropped, as DOLFINx does).
    """

    def __init__(self, verts: InterfaceVertices, params: ParameterSet, num_fields: int,
                 bc_dofs: dict[int, np.ndarray]):
        self.v = verts
        self.p = params
        self.nf = num_fields
        self.dofs = [verts.ncm_dof, verts.ncm_dof, verts.ely_dof, verts.ely_dof][:num_fields]
        self.keep = []
        for k in range(num_fields):
            bad = np.isin(self.dofs[k], bc_dofs.get(k, np.zeros(0, np.int32)))
            self.keep.append(~bad)

    def kinetics(self, fields: list, V: float) -> Kinetics:
        a = [u.x.array for u in fields]
        te = a[3][self.v.ely_dof] if self.nf > 3 else None
        return butler_volmer(self.p, a[0][self.v.ncm_dof], a[1][self.v.ncm_dof], a[2][self.v.ely_dof], te, V)

    def row_coeff(self, transport: float) -> list[float]:
        return [transport, 1.0, -1.0, -transport * (1.0 - self.p.t_plus)][: self.nf]

    @staticmethod
    def _columns(kin: Kinetics) -> list[np.ndarray]:
        return [kin.dj_dtheta_s, kin.dj_dphi_s, kin.dj_dphi_e, kin.dj_dtheta_e]

    def current_pA(self, kin: Kinetics) -> float:
        """This rank's share of int_Gamma j dS (pA; sum over ranks for the total)."""
        return float(np.dot(self.v.weight_um2, kin.j))

    def add_residual(self, arrays: list[np.ndarray], kin: Kinetics, transport: float):
        """Add W_a c_r j_a to each field's local vector array (owned + ghost; scatter after)."""
        wj = self.v.weight_um2 * kin.j
        for k, c in enumerate(self.row_coeff(transport)):
            arrays[k][self.dofs[k]] += c * wj

    def add_jacobian(self, blocks: list[list], kin: Kinetics, transport: float):
        """ADD W_a c_r dj/du_q into block (r, q) at (dof_r(a), dof_q(a)), Dirichlet rows and
        columns left out (the blocks need a final assembly afterwards)."""
        cols = self._columns(kin)
        add = PETSc.InsertMode.ADD_VALUES
        for r, c in enumerate(self.row_coeff(transport)):
            if c == 0.0:
                continue
            for q in range(self.nf):
                m = self.keep[r] & self.keep[q]
                rows = self.dofs[r][m].reshape(-1, 1)
                colq = self.dofs[q][m].reshape(-1, 1)
                vals = (c * self.v.weight_um2[m] * cols[q][m]).reshape(-1, 1, 1)
                blocks[r][q].setValuesLocalRCV(rows, colq, vals, addv=add)

    def add_dF_dV(self, arrays: list[np.ndarray], kin: Kinetics, transport: float):
        """Add dF_r/dV = W_a c_r dj/deta to each field's local vector array."""
        w = self.v.weight_um2 * kin.dj_dphi_s
        for k, c in enumerate(self.row_coeff(transport)):
            arrays[k][self.dofs[k]] += c * w

    def add_dg_du(self, arrays: list[np.ndarray], kin: Kinetics):
        """Add dg/du_q = W_a dj/du_q (g = int j dS) to each field's local vector array."""
        for k, col in enumerate(self._columns(kin)[: self.nf]):
            arrays[k][self.dofs[k]] += self.v.weight_um2 * col

    def dg_dV_pA(self, kin: Kinetics) -> float:
        """This rank's share of dg/dV (pA/V)."""
        return float(np.dot(self.v.weight_um2, kin.dj_dphi_s))
