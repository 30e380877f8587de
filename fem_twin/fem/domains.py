"""Phase submeshes and integration entities of the discharge model.

From a tagged voxel mesh (:class:`fem_twin.meshing.voxel_mesh.TaggedMesh`) this builds

- one submesh per conducting phase: NCM (cell tag NCM) and electrolyte (LPSCl + separator),
  created from owned *and* ghost cells so interface facets next to ghosts keep their cells;
- the NCM | LPSCl interface as interior-facet integration entities of the parent mesh, each
  ordered ``(NCM cell, local facet, electrolyte cell, local facet)`` on every rank, so that in
  the forms ``'+'`` is always the NCM side and ``'-'`` the electrolyte side (DOLFINx's own choice
  of sides through ``dS(subdomain_data=facet_tags)`` silently drops facets, see the facts sheet);
- exterior-facet entities of the collector (TOP facets of NCM cells) and of the Li | LPSCl plane
  (BOTTOM facets of electrolyte cells).

Clusters without a path to their electrode plane (NCM not touching the collector, LPSCl not
touching the Li side) carry no net current and make the matrices singular: remove them from the
voxel image first with :func:`prune_dead_clusters` (26-connectivity, like the P1 mesh).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import phases
from .._dolfinx import MPI, dolfinx
from ..analysis.connectivity import attached, live_phases, no_current_path
from ..errors import InputError

#: integration ids used in the forms
DX_NCM, DX_ELY = 1, 2
DS_COLLECTOR, DS_LI = 1, 2
DS_INTERFACE = 1


@dataclass(frozen=True)
class PruneReport:
    """Voxels removed from the image before meshing (they become PORE: inert, no flux)."""

    ncm_voxels: int  #: NCM voxels not connected to the collector
    lpscl_voxels: int  #: LPSCl voxels not connected to the separator / Li side
    ncm_total: int
    lpscl_total: int
    voxel_um: float
    #: NCM voxels attached to the collector / LPSCl voxels attached to the separator side through
    #: face contacts only (6-connectivity). The meshes conduct through edge and corner contacts
    #: too (26-connectivity), but P1's conductance of such a contact halves with each refinement:
    #: a phase that is live only through them has a capacity that does not converge (docs/fidelity.md).
    ncm_face_attached: int = -1
    lpscl_face_attached: int = -1

    def as_dict(self) -> dict:
        """Volumes in um^3 and fractions. ``*_face_attached_fraction`` is of all the phase's voxels,
        dead ones included (so it is at most 1 - ``dead_*_fraction``); ``*_edge_only_fraction_of_live``
        is the part of the live phase attached only through edge or corner contacts (the part whose
        conductance does not converge)."""
        v = self.voxel_um ** 3
        out = {"dead_ncm_um3": self.ncm_voxels * v, "dead_lpscl_um3": self.lpscl_voxels * v,
               "dead_ncm_fraction": self.ncm_voxels / max(self.ncm_total, 1),
               "dead_lpscl_fraction": self.lpscl_voxels / max(self.lpscl_total, 1),
               "ncm_face_attached_fraction": self.ncm_face_attached / max(self.ncm_total, 1),
               "lpscl_face_attached_fraction": self.lpscl_face_attached / max(self.lpscl_total, 1)}
        for name, face, total, dead in (("ncm", self.ncm_face_attached, self.ncm_total, self.ncm_voxels),
                                        ("lpscl", self.lpscl_face_attached, self.lpscl_total, self.lpscl_voxels)):
            if face >= 0:
                out[f"{name}_edge_only_fraction_of_live"] = (total - dead - face) / max(total - dead, 1)
        return out

    def edge_contact_warning(self, threshold: float = 0.9) -> str | None:
        """A sentence when less than ``threshold`` of the live NCM or LPSCl is attached through face
        contacts, else None."""
        parts = []
        for name, face, total, dead in (("NCM", self.ncm_face_attached, self.ncm_total, self.ncm_voxels),
                                        ("LPSCl", self.lpscl_face_attached, self.lpscl_total, self.lpscl_voxels)):
            live = total - dead
            if face >= 0 and live > 0 and face < threshold * live:
                parts.append(f"only {face / live:.1%} of the live {name} is attached through face contacts")
        if not parts:
            return None
        return ("; ".join(parts) + ": the rest conducts through voxels touching at an edge or a corner, "
                "whose conductance halves with each mesh refinement, so this structure's capacity will not "
                "converge (docs/fidelity.md section 4)")


def prune_dead_clusters(labels: np.ndarray, voxel_um: float, periodic_xy: bool = False) -> tuple[np.ndarray, PruneReport]:
    """Relabel NCM clusters not attached to the collector (k = nz-1) and LPSCl clusters not
    attached to the separator side (k = 0) as PORE. Raises InputError when nothing carries current
    (:func:`fem_twin.analysis.connectivity.no_current_path`: no NCM at the collector, no LPSCl at the
    separator, or no face between the two). ``periodic_xy``: clusters connect across the x and y
    faces (for a periodic mesh); else they do not (the cut mesh)."""
    lab = np.asarray(labels).copy()
    ncm_ok, ely_ok = live = live_phases(lab, periodic_xy)  # as the mesh: periodic or cut
    why = no_current_path(lab, live)
    if why is not None:
        raise InputError("structure", "NCM connected to the current collector (top layer, k = nz-1) touching "
                         "LPSCl connected to the separator (k = 0)", why)
    ncm = lab == phases.NCM
    ely = lab == phases.LPSCL
    dead_ncm = ncm & ~ncm_ok
    dead_ely = ely & ~ely_ok
    lab[dead_ncm | dead_ely] = phases.PORE
    walls = (bool(periodic_xy), bool(periodic_xy), False)
    ncm_face = attached(ncm, 2, "high", 6, walls).sum() if ncm.any() else 0
    ely_face = attached(ely, 2, "low", 6, walls).sum() if ely.any() else 0
    return lab, PruneReport(int(dead_ncm.sum()), int(dead_ely.sum()), int(ncm.sum()), int(ely.sum()),
                            float(voxel_um), int(ncm_face), int(ely_face))


@dataclass
class Phase:
    """A phase submesh: ``mesh``, its EntityMap to the parent, parent cells (owned + ghost)."""

    mesh: dolfinx.mesh.Mesh
    entity_map: object
    parent_cells: np.ndarray  #: local parent cell indices (owned first, then ghosts)
    owned_cells: np.ndarray  #: owned parent cells, for dx integration entities
    vertex_map: object = None  #: EntityMap of the vertices (submesh -> parent)


@dataclass
class Domains:
    parent: dolfinx.mesh.Mesh
    ncm: Phase
    electrolyte: Phase
    interface: np.ndarray  #: (n, 4) int32 rows (NCM cell, lf, electrolyte cell, lf), owned facets
    collector: np.ndarray  #: (n, 2) rows (NCM cell, lf) on the collector
    li_plane: np.ndarray  #: (n, 2) rows (electrolyte cell, lf) on the Li | LPSCl plane
    z_top_um: float
    z_bottom_um: float
    interface_area_um2: float
    ncm_volume_um3: float
    electrolyte_volume_um3: float
    collector_area_um2: float
    li_area_um2: float
    num_cells_global: int
    #: smoothed-normal interface weights (:func:`fem_twin.fem.interface_weights.attach_smoothed_normals`):
    #: P1 vector Function on the parent mesh, None for the plain facet areas
    interface_normal: object = None
    interface_sigma_vox: float | None = None
    interface_weighted_area_um2: float | None = None  #: int_Gamma |n_s . n| dS (vertex rule)
    #: phase label (fem_twin.phases) of every local parent cell, owned then ghost
    cell_labels: np.ndarray | None = None

    @property
    def entity_maps(self):
        return [self.ncm.entity_map, self.electrolyte.entity_map]

    def measures(self):
        """(dx, dS, ds) on the parent mesh with ids DX_NCM/DX_ELY, DS_INTERFACE, DS_COLLECTOR/DS_LI."""
        import ufl

        dx = ufl.Measure("dx", domain=self.parent,
                         subdomain_data=[(DX_NCM, self.ncm.owned_cells), (DX_ELY, self.electrolyte.owned_cells)])
        dS = ufl.Measure("dS", domain=self.parent,
                         subdomain_data=[(DS_INTERFACE, self.interface.reshape(-1))])
        ds = ufl.Measure("ds", domain=self.parent,
                         subdomain_data=[(DS_COLLECTOR, self.collector.reshape(-1)),
                                         (DS_LI, self.li_plane.reshape(-1))])
        return dx, dS, ds


def _phase(msh, cells_all: np.ndarray, n_owned: int) -> Phase:
    sub, emap, vmap, _ = dolfinx.mesh.create_submesh(msh, msh.topology.dim, cells_all)
    return Phase(sub, emap, cells_all, cells_all[cells_all < n_owned], vmap)


def _exterior(msh, facet_tags, tag: int, cell_ok: np.ndarray) -> np.ndarray:
    facets = facet_tags.find(tag)
    ent = dolfinx.fem.compute_integration_domains(dolfinx.fem.IntegralType.exterior_facet,
                                                  msh.topology, facets)
    ent = np.asarray(ent, np.int32).reshape(-1, 2)
    return ent[cell_ok[ent[:, 0]]] if ent.size else ent


def _global_sum(comm, form_value: float) -> float:
    return comm.allreduce(form_value, op=MPI.SUM)


def build_domains(tagged) -> Domains:
    """Submeshes and integration entities of a tagged mesh (see the module docstring)."""
    import ufl

    msh, ct, ft = tagged.mesh, tagged.cell_tags, tagged.facet_tags
    tdim = msh.topology.dim
    comm = msh.comm
    msh.topology.create_connectivity(tdim - 1, tdim)
    msh.topology.create_connectivity(tdim, tdim - 1)
    imap = msh.topology.index_map(tdim)
    n_owned, n_all = imap.size_local, imap.size_local + imap.num_ghosts
    lab = np.full(n_all, -1, np.int32)
    lab[ct.indices] = ct.values
    is_ncm = lab == phases.NCM
    is_ely = (lab == phases.LPSCL) | (lab == phases.SEPARATOR)
    if comm.allreduce(int(is_ncm[:n_owned].sum())) == 0:
        raise InputError("structure", "NCM cells in the mesh", "none")
    if comm.allreduce(int(is_ely[:n_owned].sum())) == 0:
        raise InputError("structure", "LPSCl cells in the mesh", "none")
    ncm = _phase(msh, np.flatnonzero(is_ncm).astype(np.int32), n_owned)
    ely = _phase(msh, np.flatnonzero(is_ely).astype(np.int32), n_owned)

    # interface: interior facets tagged NCM|LPSCl, NCM side first
    facets = ft.find(phases.NCM_LPSCL)
    ent = dolfinx.fem.compute_integration_domains(dolfinx.fem.IntegralType.interior_facet,
                                                  msh.topology, facets)
    ent = np.asarray(ent, np.int32).reshape(-1, 4)
    swap = ~is_ncm[ent[:, 0]]
    ent[swap] = ent[swap][:, [2, 3, 0, 1]]
    ok = is_ncm[ent[:, 0]] & is_ely[ent[:, 2]]
    ent = np.ascontiguousarray(ent[ok])

    collector = _exterior(msh, ft, phases.TOP, is_ncm)
    li_plane = _exterior(msh, ft, phases.BOTTOM, is_ely)
    x = msh.geometry.x
    z_top = comm.allreduce(float(x[:, 2].max()) if x.size else -np.inf, op=MPI.MAX)
    z_bot = comm.allreduce(float(x[:, 2].min()) if x.size else np.inf, op=MPI.MIN)
    if comm.allreduce(len(collector)) == 0:
        raise InputError("structure", "NCM touching the current collector", "no NCM facet on the top plane")

    d = Domains(msh, ncm, ely, ent, collector, li_plane, z_top, z_bot, 0, 0, 0, 0, 0,
                imap.size_global, cell_labels=lab)
    dx, dS, ds = d.measures()
    one = dolfinx.fem.Constant(msh, 1.0)

    def integ(expr):
        return _global_sum(comm, dolfinx.fem.assemble_scalar(dolfinx.fem.form(expr)))

    d.interface_area_um2 = integ(one * dS(DS_INTERFACE))
    d.ncm_volume_um3 = integ(one * dx(DX_NCM))
    d.electrolyte_volume_um3 = integ(one * dx(DX_ELY))
    d.collector_area_um2 = integ(one * ds(DS_COLLECTOR))
    d.li_area_um2 = integ(one * ds(DS_LI))
    del ufl
    return d


def top_dofs(space, z_top: float, tol: float) -> np.ndarray:
    """Dofs of a P1 space on a submesh lying on the plane z = z_top (local, owned + ghost)."""
    return dolfinx.fem.locate_dofs_geometrical(space, lambda x: np.abs(x[2] - z_top) < tol)
