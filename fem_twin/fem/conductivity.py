"""Effective electronic (NCM) or ionic (LPSCl) conductivity of a composite by Ohm's law.

Two discretisations (``method``), both with 1 V between the two composite faces normal to the
axis, no flux elsewhere, and ``sigma_eff = I L / (A dV)``, ``tau = eps sigma / sigma_eff``:

- ``"fv"`` (default): cell-centred voxel finite volumes, one unknown per voxel (DG0 on a
  hexahedral mesh of the phase's voxels), two-point fluxes between face neighbours
  (6-connectivity), potentials imposed on the two faces at half a voxel from the cell centres;
  see :mod:`fem_twin.fem.conductivity_fv`. This is the discretisation of the voxel tools
  (GeoDict's ConductoDict used by the seed paper, PoreSpy's ``tortuosity_fd``, TauFactor), hence
  the method of record for sigma_eff: on the seed-size 70 wt% structure it is within 0.5-0.6 % of
  PoreSpy for both phases (with PoreSpy's plane convention it reproduces PoreSpy to the solver
  tolerance) and its solve is faster than PoreSpy's (``benchmarks/conductivity.py``).
- ``"p1"``: continuous P1 on the Kuhn tetrahedral mesh, the discretisation of the discharge
  model, kept for consistency with it. It couples voxels that touch along an edge or at a corner
  (26-connectivity) and, as a conforming method, overestimates sigma_eff on coarse tortuous
  images (+16 % LPSCl, +59 % NCM against PoreSpy at the seed's size); the difference shrinks with
  resolution.

Clusters not connected to both planes carry no current and make the matrix singular; they are
removed first on the voxel image (:func:`active_mask`, all sides non-periodic) with the
connectivity of the method: 6 for fv, 26 for p1 (or 6 on request), so a phase the analysis calls
non-percolating does not conduct in the discrete problem, and the other way round.

P1 problem (on the phase's sub-domain Omega_p, coordinates in um)::

    -div(sigma grad(phi)) = 0                 in Omega_p
    phi = dV = 1 V   on the plane x_a = lo     phi = 0 on the plane x_a = hi
    sigma grad(phi) . n = 0                   on every other boundary of Omega_p

with ``a`` the axis (x, y or z; the planes are the composite's faces normal to it, never
periodic), L = hi - lo the composite's length along ``a`` and A its full cross-section. The current
is the reaction of the discrete problem at the ``lo`` plane, computed as a weighted volume
integral with the P1 function w = (hi - x_a) / L (1 on ``lo``, 0 on ``hi``)::

    I = int_Omega_p sigma grad(phi) . grad(w) dx = -(sigma / L) int_Omega_p d(phi)/dx_a dx

which is exact for the discrete solution (any w in V_h with those plane values gives the same
number; the plain facet integral of sigma grad(phi) . n is O(h) off, see the facts sheet). Then::

    sigma_eff = I L / (A dV)          tau = eps sigma / sigma_eff

Two ways to the phase's P1 mesh, the same cells and vertices, hence the same numbers:

- from a :class:`~fem_twin.meshing.voxel_mesh.TaggedMesh` (e.g. read from ``mesh.xdmf``, possibly
  with a separator): ``dolfinx.mesh.create_submesh`` of its owned + ghost cells of the phase
  that lie in spanning voxels;
- directly from the image (default of the CLI, 3-5x cheaper at the seed's size):
  :func:`fem_twin.meshing.voxel_mesh.voxel_tet_mesh` of the spanning voxels only.

``mesher="smooth"`` (p1 only): the same P1 problem on the smooth mesh of the whole image
(:func:`fem_twin.meshing.smooth_mesh.build_smooth_mesh`, no separator; gmsh on rank 0), its cells
of the phase, clusters pruned on the mesh (:func:`smooth_phase_submesh`: components of the phase's
cells through shared vertices, i.e. of the P1 matrix graph, that touch both planes); the box
planes stay planes in that mesh, so the Dirichlet nodes and w are as above and the current is
exact for the discrete solution too. Volume fractions are then the mesh's.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import ufl

from .. import phases
from .._dolfinx import MPI, PETSc, dolfinx
from ..analysis.connectivity import spanning
from ..errors import InputError
from ..meshing.meshers import check_mesher
from ..meshing.voxel_hex import voxel_hex_mesh
from ..meshing.voxel_mesh import TaggedMesh, voxel_tet_mesh
from ..parameters import park2020
from . import solvers
from .conductivity_fv import current_density_fv, solve_ohm_fv

AXES = {"x": 0, "y": 1, "z": 2}
CONDUCTING = ("ncm", "lpscl")
UM = 1e-6  # m per um
#: discretisations: voxel finite volumes (6-connected) and P1 on Kuhn tetrahedra (26-connected)
METHODS = ("fv", "p1")
DEFAULT_METHOD = "fv"


@dataclass(frozen=True)
class ConductivityResult:
    """Effective conductivity of one phase along one axis (SI units unless named)."""

    phase: str
    axis: str
    percolates: bool
    sigma_intrinsic_S_per_m: float
    sigma_eff_S_per_m: float
    relative_conductivity: float  #: sigma_eff / sigma (= eps / tau)
    volume_fraction: float  #: phase volume / composite volume
    active_volume_fraction: float  #: part connected to both planes
    tortuosity_factor: float | None  #: eps sigma / sigma_eff; None when it does not percolate
    current_A: float  #: through the cross-section at dV = 1 V
    voltage_V: float
    length_um: float
    cross_section_um2: float
    solver: str
    method: str  #: "fv" (voxel finite volumes) or "p1" (P1 on Kuhn tetrahedra or on the smooth mesh)
    connectivity: int  #: 6 (fv; p1 with edge/corner contacts cut) or 26 (p1; smooth: the mesh's vertex connectivity)
    ksp_iterations: int
    num_dofs: int  #: unknowns: voxels (fv) or mesh vertices (p1)
    num_cells: int  #: hexahedra = active voxels (fv) or tetrahedra (p1)
    num_ranks: int
    mesh_time_s: float  #: building the phase's mesh (or submesh)
    solve_time_s: float  #: spaces, assembly, preconditioner set-up, solve and current
    wall_time_s: float
    message: str
    #: mesh of p1: "voxel" (Kuhn tetrahedra of the voxels) or "smooth" (smoothed interfaces, gmsh;
    #: volume fractions are then the mesh's); fv: "voxel" (hexahedra)
    mesher: str = "voxel"

    def to_dict(self) -> dict:
        return asdict(self)

    def save_json(self, path: str | Path) -> Path:
        """Write the result as JSON (call on one rank)."""
        p = Path(path)
        p.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return p


def axis_index(axis: str | int) -> int:
    """0, 1, 2 for 'x', 'y', 'z' (or an int 0-2)."""
    if isinstance(axis, (int, np.integer)) and 0 <= int(axis) <= 2:
        return int(axis)
    try:
        return AXES[str(axis).lower()]
    except KeyError:
        raise InputError("--axis", "one of x, y, z", axis) from None


def phase_label(phase: str) -> int:
    if str(phase).lower() not in CONDUCTING:
        raise InputError("--phase", "ncm (electronic) or lpscl (ionic)", phase)
    return phases.label_of(phase)


def intrinsic_sigma(phase: str, labels: np.ndarray) -> float:
    """Default intrinsic conductivity (S/m) of ``phase`` for this image [Park2020]; the LPSCl
    value depends on the image's NCM volume fraction."""
    eps_ncm = float(np.count_nonzero(labels == phases.NCM)) / labels.size
    return park2020.intrinsic_sigma_S_per_m(phase.lower(), eps_ncm)


def active_mask(labels: np.ndarray, label: int, axis: int, connectivity: int = 26) -> np.ndarray:
    """Voxels of ``label`` connected (26- or 6-connectivity, non-periodic) to both planes normal
    to ``axis``."""
    return spanning(labels == label, axis=axis, connectivity=connectivity, periodic=(False, False, False))


# -- phase meshes ----------------------------------------------------------------------------
def phase_mesh_from_image(active: np.ndarray, voxel_um: float, comm=MPI.COMM_WORLD,
                          connectivity: int = 26):
    """Mesh of the active voxels only (composite coordinates: z = 0 at the separator plane)."""
    msh, _ = voxel_tet_mesh(active, voxel_um, comm, connectivity=connectivity)
    return msh


def phase_submesh(tm: TaggedMesh, label: int, active: np.ndarray):
    """Submesh of ``tm`` made of its cells tagged ``label`` that lie in active voxels (owned and
    ghost cells; the cell's voxel is found from its midpoint, z shifted by the separator)."""
    msh = tm.mesh
    cells = tm.cell_tags.find(label).astype(np.int32)
    mid = dolfinx.mesh.compute_midpoints(msh, 3, cells)
    ijk = np.floor((mid - np.array([0.0, 0.0, tm.separator_um])) / tm.voxel_um).astype(np.int64)
    n = np.array(active.shape)
    inside = np.all((ijk >= 0) & (ijk < n), axis=1)
    if not np.all(inside):
        raise InputError("mesh", f"cells of phase {label} inside the image ({n.tolist()} voxels of "
                         f"{tm.voxel_um} um)", f"{int((~inside).sum())} cells outside")
    keep = active[ijk[:, 0], ijk[:, 1], ijk[:, 2]]
    sub, *_ = dolfinx.mesh.create_submesh(msh, 3, cells[keep])
    return sub


def smooth_phase_submesh(tm: TaggedMesh, label: int, axis: int, lo: float, hi: float,
                         connectivity: int = 26):
    """Submesh of the cells tagged ``label`` of a (smooth) tagged mesh that lie in components
    touching both planes x_axis = lo and x_axis = hi, and (phase volume, active volume) in um^3.

    ``connectivity=6``: the phase's pinch contacts (cells that meet only at a vertex or along an
    edge, :func:`fem_twin.meshing.pinches.unglue_pinches`) are cut first, so the phase conducts
    through facets only, as the image's 6-connectivity and the finite volumes do; the result is
    then a new mesh of the phase (built on rank 0 and distributed), not a submesh.

    The components are those of the P1 matrix graph: cells of the phase connected through shared
    vertices (what the mesh's own vertex connectivity couples; on a voxel image its analogue is
    26-connectivity). They are found on the mesh, not on the image, because a smoothed cell has no
    voxel of its own (the surface moves up to h/2 from the voxel corners) and because a component is
    singular in the discrete problem exactly when it has no vertex on a plane
    (:func:`phase_components`)."""
    msh = tm.mesh
    comm = msh.comm
    cmap = msh.topology.index_map(3)
    n_own = cmap.size_local
    cells = tm.cell_tags.find(label).astype(np.int32)  # owned + ghost
    own = cells[cells < n_own]
    nodes = msh.geometry.dofmaps[0][own]  # (m, 4) local geometry nodes = vertices (P1 geometry)
    p = msh.geometry.x[nodes]  # (m, 4, 3)
    vol = np.abs(np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]),
                           p[:, 3] - p[:, 0])) / 6.0
    vol_phase = comm.allreduce(float(vol.sum()), op=MPI.SUM)
    if connectivity == 6:
        gnode = np.asarray(msh.geometry.input_global_indices, dtype=np.int64)[nodes]
        return _unglued_phase_mesh(comm, gnode, p, vol, axis, lo, hi, vol_phase)
    keep, _ = phase_components(msh, cells, lo, hi, axis)
    keep_own = keep[cells < n_own]
    vol_active = comm.allreduce(float(vol[keep_own].sum()), op=MPI.SUM)
    if vol_active == 0.0:
        return None, vol_phase, 0.0
    sub, *_ = dolfinx.mesh.create_submesh(msh, 3, cells[keep])
    return sub, vol_phase, vol_active


def phase_components(msh, cells: np.ndarray, lo: float, hi: float, axis: int = 2):
    """The connected components of the local cells ``cells`` (owned and ghost) of ``msh`` through
    shared vertices (the P1 matrix graph; on a periodic mesh across its joined faces too): per
    cell, whether its component touches both planes x_axis = lo and x_axis = hi, and the smallest
    global (topological) vertex number of every component, the same on every rank. Collective:
    every rank sends the global vertex numbers of its owned cells to rank 0 (which built the whole
    mesh with gmsh already), rank 0 labels the components (scipy) and answers each rank for its
    owned and ghost cells."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    comm = msh.comm
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim, 0)
    cmap, vmap = msh.topology.index_map(tdim), msh.topology.index_map(0)
    n_own = cmap.size_local
    c2v = msh.topology.connectivity(tdim, 0).array.reshape(-1, tdim + 1)
    own = cells[cells < n_own]
    gv = np.asarray(vmap.local_to_global(c2v[own].ravel().astype(np.int32)), np.int64).reshape(-1, tdim + 1)
    xa = msh.geometry.x[msh.geometry.dofmaps[0][own]][:, :, axis]
    tol = 1e-6 * (hi - lo)
    touch = np.column_stack([np.any(np.abs(xa - lo) < tol, axis=1), np.any(np.abs(xa - hi) < tol, axis=1)])
    gcell_own = np.asarray(cmap.local_to_global(own.astype(np.int32)), np.int64)
    gcell_all = np.asarray(cmap.local_to_global(cells.astype(np.int32)), np.int64)
    sent = comm.gather((gcell_own, gv, touch, gcell_all), root=0)
    if comm.rank == 0:
        gc = np.concatenate([s[0] for s in sent])
        gn = np.concatenate([s[1] for s in sent])
        tc = np.concatenate([s[2] for s in sent])
        m = gc.size
        keep_global = np.zeros(int(cmap.size_global), bool)
        first = np.zeros(0, np.int64)
        if m:
            vids, vinv = np.unique(gn.ravel(), return_inverse=True)
            # bipartite graph cells (0..m-1) -- vertices (m..m+nv-1)
            rows = np.repeat(np.arange(m), tdim + 1)
            g = sp.coo_matrix((np.ones(rows.size, np.int8), (rows, m + vinv.ravel())), shape=(m + vids.size,) * 2)
            _, comp = connected_components(g, directed=False)
            k = int(comp[:m].max()) + 1
            both = (np.bincount(comp[:m], weights=tc[:, 0], minlength=k) > 0) & \
                   (np.bincount(comp[:m], weights=tc[:, 1], minlength=k) > 0)
            keep_global[gc] = both[comp[:m]]
            first = np.full(k, np.iinfo(np.int64).max)
            np.minimum.at(first, comp[m:], vids)
        answers = [keep_global[s[3]] for s in sent]
    else:
        answers, first = None, None
    return comm.scatter(answers, root=0), comm.bcast(first, root=0)


def _unglued_phase_mesh(comm, gnode: np.ndarray, p: np.ndarray, vol: np.ndarray, axis: int, lo: float,
                        hi: float, vol_phase: float):
    """The phase's owned cells (global vertex numbers ``gnode`` (m, 4), corner coordinates ``p``
    (m, 4, 3), volumes ``vol``) gathered on rank 0, pinch contacts cut, components touching both
    planes kept, distributed again. Returns (mesh or None, phase volume, active volume)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    from ..meshing.pinches import unglue_pinches
    from ..meshing.smooth_mesh import _distribute

    sent = comm.gather((gnode, p, vol), root=0)
    x, cells, vol_active = np.zeros((0, 3)), np.zeros((0, 4), np.int64), 0.0
    if comm.rank == 0:
        gn = np.concatenate([s[0] for s in sent]).reshape(-1, 4)
        pts = np.concatenate([s[1] for s in sent]).reshape(-1, 3)
        vv = np.concatenate([s[2] for s in sent])
        m = gn.shape[0]
        if m:
            new, source = unglue_pinches(gn)
            xs = np.empty((source.size, 3))
            xs[new.ravel()] = pts
            rows = np.repeat(np.arange(m), 4)
            nv = source.size
            g = sp.coo_matrix((np.ones(rows.size, np.int8), (rows, m + new.ravel())), shape=(m + nv, m + nv))
            _, comp = connected_components(g, directed=False)
            tol = 1e-6 * (hi - lo)
            cv = comp[m:]
            both = np.intersect1d(cv[np.abs(xs[:, axis] - lo) < tol], cv[np.abs(xs[:, axis] - hi) < tol])
            keep = np.isin(comp[:m], both)
            used, inv = np.unique(new[keep].ravel(), return_inverse=True)
            x, cells = xs[used], inv.reshape(-1, 4).astype(np.int64)
            vol_active = float(vv[keep].sum())
    vol_active = comm.bcast(vol_active, root=0)
    if vol_active == 0.0:
        return None, vol_phase, 0.0
    msh, _ = _distribute(comm, x, cells, np.zeros(cells.shape[0], np.int32))
    return msh, vol_phase, vol_active


# -- the solve -------------------------------------------------------------------------------
@dataclass
class OhmSolution:
    relative: float  #: sigma_eff / sigma
    current_unit: float  #: I / sigma in V um (sigma = 1)
    iterations: int
    num_dofs: int
    phi: "dolfinx.fem.Function"
    #: relative = sum_b f_b split_b with split_b = L int (d phi / d x_b)^2 dx / (A dV^2): the
    #: dissipation along each direction b (the derivative of ``relative`` with respect to f_b)
    split: tuple = ()


def solve_ohm(msh, axis: int, lo: float, hi: float, cross_section_um2: float,
              solver: str = "gamg", rtol: float = 1e-10, voltage: float = 1.0,
              cell_sigma: np.ndarray | None = None, tensor_diag: tuple | None = None,
              split: bool = False) -> OhmSolution:
    """Solve the problem of the module docstring on ``msh`` between the planes x_axis = lo
    (phi = voltage) and x_axis = hi (phi = 0) with sigma = 1, or with the relative conductivity
    ``cell_sigma`` (one value per local cell, owned + ghost) of a heterogeneous conductor; the
    result is then sigma_eff relative to the unit of ``cell_sigma``; ``tensor_diag`` (fx, fy, fz):
    the conductivity is the tensor sigma diag(f) (an anisotropic conductor; the result is then the
    axis's effective conductivity relative to sigma; f enters as a Constant, so new values need no
    new compiled form); ``split``: also the dissipation per direction (:attr:`OhmSolution.split`).
    Collective."""
    comm = msh.comm
    V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    tol = 1e-6 * (hi - lo)
    xa = V.tabulate_dof_coordinates()[:, axis]  # P1: dofs at the vertices (owned + ghost)
    dofs_lo = np.flatnonzero(np.abs(xa - lo) < tol).astype(np.int32)
    dofs_hi = np.flatnonzero(np.abs(xa - hi) < tol).astype(np.int32)
    bcs = [dolfinx.fem.dirichletbc(PETSc.ScalarType(voltage), dofs_lo, V),
           dolfinx.fem.dirichletbc(PETSc.ScalarType(0.0), dofs_hi, V)]
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    if cell_sigma is None:
        sigma = 1.0
    else:
        sigma = dolfinx.fem.Function(dolfinx.fem.functionspace(msh, ("DG", 0)))
        sigma.x.array[:] = np.asarray(cell_sigma, dtype=float)
    if tensor_diag is None:
        a = dolfinx.fem.form(sigma * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)
    else:
        kd = dolfinx.fem.Constant(msh, np.asarray(tensor_diag, dtype=PETSc.ScalarType))
        a = dolfinx.fem.form(sigma * ufl.inner(ufl.diag(kd) * ufl.grad(u), ufl.grad(v)) * ufl.dx)
    A = dolfinx.fem.petsc.assemble_matrix(a, bcs=bcs)
    A.assemble()
    b = dolfinx.fem.petsc.create_vector(V)
    b.set(0.0)
    dolfinx.fem.petsc.apply_lifting(b, [a], bcs=[bcs])
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    dolfinx.fem.petsc.set_bc(b, bcs)

    # the operator without its stored zeros is the same operator: use it for CG and GAMG alike
    P = solvers.drop_stored_zeros(A)
    A.destroy()
    phi, its = solvers.solve_once(P, b, V, solvers.ksp_options(solver, rtol=rtol), solvers.unique_prefix("conductivity"))

    # I / sigma = int grad(phi) . grad(w) dx with w = (hi - x_a) / L (with diag(f): f_a times that)
    L = hi - lo
    flux = dolfinx.fem.form(-sigma * phi.dx(axis) / L * ufl.dx)
    current = comm.allreduce(dolfinx.fem.assemble_scalar(flux), op=MPI.SUM)
    if tensor_diag is not None:
        current *= float(tensor_diag[axis])
    relative = current * L / (cross_section_um2 * voltage)
    split = () if not split else tuple(comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(sigma * phi.dx(b) ** 2 * ufl.dx)),
                                 op=MPI.SUM) * L / (cross_section_um2 * voltage ** 2) for b in range(3))
    return OhmSolution(float(relative), float(current), int(its), int(V.dofmap.index_map.size_global), phi, split)


def current_density(phi, sigma_S_per_m: float):
    """DG0 vector field j = -sigma grad(phi) in A/m^2 (grad in V/um -> x 1e6)."""
    msh = phi.function_space.mesh
    W = dolfinx.fem.functionspace(msh, ("DG", 0, (3,)))
    j = dolfinx.fem.Function(W, name="current_density_A_per_m2")
    expr = dolfinx.fem.Expression(-sigma_S_per_m / UM * ufl.grad(phi),
                                  W.element.interpolation_points)
    j.interpolate(expr)
    return j


def write_fields(path: str | Path, phi, j) -> Path:
    """XDMF (+ .h5) with the potential (V; P1 vertex data, or DG0 cell data for fv) and the
    current density (DG0, A/m^2), for ParaView. Collective."""
    with dolfinx.io.XDMFFile(phi.function_space.mesh.comm, str(path), "w") as f:
        f.write_mesh(phi.function_space.mesh)
        f.write_function(phi)
        f.write_function(j)
    return Path(path)


def check_method(method: str) -> str:
    m = str(method).lower()
    if m not in METHODS:
        raise InputError("--method", "fv (voxel finite volumes, 6-connected) or p1 (P1 on Kuhn "
                         "tetrahedra, 26-connected)", method)
    return m


def effective_conductivity(labels: np.ndarray, voxel_um: float, phase: str, axis: str | int = "z",
                           sigma_S_per_m: float | None = None, solver: str = "gamg",
                           rtol: float = 1e-10, tagged_mesh: TaggedMesh | None = None,
                           fields_path: str | Path | None = None, connectivity: int | None = None,
                           method: str = DEFAULT_METHOD, fv_planes: str = "faces",
                           mesher: str = "voxel", comm=MPI.COMM_WORLD) -> ConductivityResult:
    """Effective conductivity of ``phase`` ('ncm' or 'lpscl') of the composite ``labels``
    (uint8 (nx, ny, nz), voxel ``voxel_um`` um) along ``axis``. Collective; every rank passes the
    same image and gets the same result.

    ``method``: ``"fv"`` (default; voxel finite volumes, see the module docstring) or ``"p1"``;
    ``sigma_S_per_m``: intrinsic conductivity in S/m (default [Park2020]); ``rtol``: relative
    residual tolerance of CG; ``tagged_mesh`` (p1 only): solve on its submesh (it must mesh this
    image, optionally below a separator) instead of meshing the phase directly; ``fields_path``:
    write potential (V) and current density (A/m^2) there (XDMF); ``connectivity``: clusters not
    connected to both planes with this connectivity are removed. It is 6 for fv (the scheme
    couples face neighbours only); for p1 26 (default, the Kuhn mesh's and the analysis'
    convention) or 6 (voxels touching only along edges or at corners do not conduct; meshing
    from the image, or on the smooth mesh with its pinch contacts cut, see
    :func:`smooth_phase_submesh`); ``fv_planes``: ``"faces"`` (default: potentials on the composite's faces) or
    ``"centres"`` (PoreSpy's convention, for comparisons; see
    :func:`fem_twin.fem.conductivity_fv.solve_ohm_fv`); ``mesher`` (p1 only): ``"voxel"``
    (default, Kuhn tetrahedra of the voxels) or ``"smooth"``: the smooth mesh of the whole image
    (:func:`fem_twin.meshing.smooth_mesh.build_smooth_mesh`, no separator; or ``tagged_mesh``, a
    smooth mesh of this image), its cells of the phase, clusters pruned on the mesh (see
    :func:`smooth_phase_submesh`); volume fractions are then the mesh's phase volumes.
    """
    t_start = time.perf_counter()
    label = phase_label(phase)
    phase = phase.lower()
    ax = axis_index(axis)
    method = check_method(method)
    mesher = check_mesher(str(mesher).lower())
    from ..meshing.meshers import PERIODIC_MESHERS

    if mesher in PERIODIC_MESHERS or getattr(tagged_mesh, "unjoined", None) is not None:
        raise InputError("--mesher", "voxel, smooth or smooth-coarse (the potential difference is applied "
                         "between two faces of the box, which a periodic mesh joins)", mesher)
    smooth = mesher.startswith("smooth")
    if smooth:
        if method != "p1":
            raise InputError("--mesher", "voxel with --method fv (finite volumes on the voxels)", mesher)
        if connectivity not in (None, 6, 26):
            raise InputError("--connectivity", "26 (the smooth mesh's vertex connectivity) or 6 (its pinch "
                             "contacts cut) with --mesher smooth", connectivity)
    if solver not in solvers.SOLVERS:
        raise InputError("--solver", f"one of {', '.join(solvers.SOLVERS)}", solver)
    if connectivity is None:
        connectivity = 6 if method == "fv" else 26
    if method == "fv":
        if connectivity != 6:
            raise InputError("--connectivity", "6 with --method fv (two-point fluxes couple face "
                             "neighbours only)", connectivity)
        if tagged_mesh is not None:
            raise InputError("--from-mesh", "--method p1 (the tagged mesh is tetrahedral; fv meshes "
                             "the phase's voxels as hexahedra itself)", "--method fv")
    elif connectivity not in (6, 26) or (connectivity == 6 and tagged_mesh is not None and not smooth):
        raise InputError("--connectivity", "26, or 6 when meshing from the image", connectivity)
    labels = np.asarray(labels)
    sigma = intrinsic_sigma(phase, labels) if sigma_S_per_m is None else float(sigma_S_per_m)
    if not (np.isfinite(sigma) and sigma > 0):
        raise InputError("--sigma", "a conductivity > 0 (S/m)", sigma_S_per_m)
    if not (np.isfinite(voxel_um) and voxel_um > 0):
        raise InputError("voxel_um", "a voxel edge > 0 (um)", voxel_um)
    h = float(voxel_um)
    n = labels.shape
    length = n[ax] * h
    area = float(np.prod([n[i] * h for i in range(3) if i != ax]))
    eps = float(np.count_nonzero(labels == label)) / labels.size
    t0 = time.perf_counter()
    lo = 0.0
    if smooth and eps > 0.0:
        if tagged_mesh is None:
            from ..meshing.meshers import get_mesher

            tagged_mesh = get_mesher(mesher)(labels, h, 0.0, comm)
        lo = tagged_mesh.separator_um if ax == 2 else 0.0
        msh, vol_phase, vol_active = smooth_phase_submesh(tagged_mesh, label, ax, lo, lo + length, connectivity)
        eps, eps_active = vol_phase / (area * length), vol_active / (area * length)
    else:
        active = active_mask(labels, label, ax, connectivity)
        eps_active = float(np.count_nonzero(active)) / labels.size
    common = dict(phase=phase, axis="xyz"[ax], sigma_intrinsic_S_per_m=sigma, volume_fraction=eps,
                  active_volume_fraction=eps_active, voltage_V=1.0, length_um=length,
                  cross_section_um2=area, solver=solver, method=method, connectivity=connectivity,
                  num_ranks=comm.size, mesher=mesher)
    if eps_active == 0.0:
        how = (("facet connectivity of the smooth mesh (pinch contacts cut)" if connectivity == 6 else
                "vertex connectivity of the smooth mesh") if smooth else f"{connectivity}-connectivity")
        msg = (f"{phase} does not percolate along {'xyz'[ax]}: no cluster connects the two planes "
               f"({how}); sigma_eff = 0")
        return ConductivityResult(percolates=False, sigma_eff_S_per_m=0.0, relative_conductivity=0.0,
                                  tortuosity_factor=None, current_A=0.0, ksp_iterations=0, num_dofs=0,
                                  num_cells=0, mesh_time_s=0.0, solve_time_s=0.0,
                                  wall_time_s=time.perf_counter() - t_start, message=msg, **common)

    if smooth:
        pass
    elif method == "fv":
        msh, voxel_of_cell = voxel_hex_mesh(active, h, comm)
    elif tagged_mesh is None:
        msh = phase_mesh_from_image(active, h, comm, connectivity)
    else:
        msh = phase_submesh(tagged_mesh, label, active)
        lo = tagged_mesh.separator_um if ax == 2 else 0.0
    comm.Barrier()
    t1 = time.perf_counter()
    if method == "fv":
        sol = solve_ohm_fv(msh, voxel_of_cell, active.shape, ax, h, solver=solver, rtol=rtol,
                           planes=fv_planes)
    else:
        sol = solve_ohm(msh, ax, lo, lo + length, area, solver=solver, rtol=rtol)
    comm.Barrier()
    t2 = time.perf_counter()
    if fields_path is not None:
        j = current_density_fv(sol, sigma) if method == "fv" else current_density(sol.phi, sigma)
        write_fields(fields_path, sol.phi, j)
    rel = sol.relative
    msg = (f"{phase} percolates along {'xyz'[ax]}: {eps_active / eps:.1%} of its volume is active"
           if eps_active < eps else f"{phase} percolates along {'xyz'[ax]}; every cluster is active")
    return ConductivityResult(
        percolates=True, sigma_eff_S_per_m=sigma * rel, relative_conductivity=rel,
        tortuosity_factor=eps / rel if rel > 0 else None, current_A=sigma * sol.current_unit * UM,
        ksp_iterations=sol.iterations, num_dofs=sol.num_dofs,
        num_cells=int(msh.topology.index_map(3).size_global), mesh_time_s=t1 - t0,
        solve_time_s=t2 - t1, wall_time_s=time.perf_counter() - t_start, message=msg, **common)
