"""Cell-centred voxel finite volumes (two-point flux) for Ohm's law, on a DOLFINx DG0 space.

This is the discretisation of voxel conductivity solvers (GeoDict's ConductoDict, PoreSpy's
``tortuosity_fd``, TauFactor): one unknown per voxel (DG0 on the hexahedral mesh of the phase's
voxels, :func:`fem_twin.meshing.voxel_hex.voxel_hex_mesh`), fluxes between face neighbours only.

Scheme (coordinates in um, potential in V, sigma relative, h the voxel edge)::

    a(u, v) = int_{interior facets} (sigma_F / h) [u] [v] dS
            + int_{plane lo} (2 sigma / h) u v ds + int_{plane hi} (2 sigma / h) u v ds
    l(v)    = int_{plane lo} (2 sigma / h) dV v ds

- the interior facets of the hexahedral mesh are exactly the faces between two voxels of the
  phase (6-connectivity); ``sigma_F`` is the harmonic mean of the two cells' sigma (the series
  conductance of the two half cells), so each face contributes the two-point flux
  ``sigma_F h^2 / h (u_K - u_L)``;
- on the planes x_axis = 0 (phi = dV) and x_axis = L (phi = 0) the potential is imposed on the
  face, at half a voxel from the cell centre (conductance ``2 sigma h^2 / h``);
- every other face (side walls, faces towards other phases) carries no flux.

The matrix is symmetric positive definite when every cluster touches both planes (clusters that
do not are removed first with 6-connectivity), so CG + GAMG applies. The current through the
``lo`` plane is the sum of its face fluxes ``I = sum 2 sigma h (dV - u_K)`` (in V um for
sigma = 1), exact for the scheme; it equals the current through ``hi``, ``sum 2 sigma h u_K``, up
to the solver tolerance (discrete conservation). Then ``sigma_eff = I L / (A dV)``.

Assembly: ``assembly="direct"`` (default) builds this matrix row by row from the voxel
adjacency (each owned cell and its face neighbours, owned or ghost, vectorised numpy) straight
into a PETSc AIJ matrix with the DG0 space's parallel layout; ``assembly="form"`` assembles the
UFL form above with DOLFINx (the specification; a test checks both give the same matrix and
solution). The form route is slower: 3.3-4.0 s instead of 1.9-2.2 s for the seed-size NCM
solve (facet entities, facet permutations and the interior-facet kernel over ~0.9 M facets),
which would put the solve at about PoreSpy's time instead of 0.6x.

Plane convention (``planes``): ``"faces"`` (default, above; as TauFactor and the P1 path:
potentials on the composite's faces, length L) or ``"centres"`` (PoreSpy's ``tortuosity_fd``:
potentials imposed on the cells of the first and last voxel layers, current = reaction of the
first layer, length L - h), for comparisons. Both are exact for straight columns; on tortuous
structures they differ by O(h / L) through the two end layers (pinned layers are equipotential,
with no half-voxel resistance and no lateral transport inside them): measured up to 3 % at 16
voxel layers, up to 1.8 % at 32, 0.5-0.6 % at the seed's 78.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ufl

from .._dolfinx import MPI, PETSc, dolfinx
from ..errors import InputError
from . import solvers

LO_TAG, HI_TAG = 1, 2
UM = 1e-6  # m per um
PLANES = ("faces", "centres")
ASSEMBLY = ("direct", "form")


@dataclass
class FVSolution:
    relative: float  #: sigma_eff / sigma
    current_unit: float  #: I / sigma through the lo plane, in V um
    current_hi_unit: float  #: the same through the hi plane (equal up to the solver tolerance)
    iterations: int
    num_dofs: int
    phi: "dolfinx.fem.Function"  #: DG0 potential in V (voxel centres)
    adjacency: "VoxelAdjacency"
    cell_sigma: np.ndarray  #: relative sigma per local cell
    axis: int
    h: float  #: voxel edge in um
    voltage: float  #: V at the lo plane
    planes: str


def fv_ksp_options(solver: str, rtol: float) -> dict:
    """:func:`fem_twin.fem.solvers.ksp_options` with the GAMG threshold -1 (keep every graph
    edge): on the 7-point two-point-flux matrix this cut set-up + solve by ~30 % at the seed's
    size (13-14 CG iterations either way)."""
    opts = solvers.ksp_options(solver, rtol=rtol)
    if solver == "gamg":
        opts["pc_gamg_threshold"] = -1.0
    return opts


class VoxelAdjacency:
    """Face neighbours of the owned cells of a voxel hexahedral mesh, from the voxel indices.

    ``voxel_of_cell``: (k, j, i)-order voxel index of each local cell (owned first, then ghosts)
    of the mesh of an image of ``shape`` (nx, ny, nz); ``n_owned``: number of owned cells.
    ``nbr[axis, side]`` (side 0: towards -e_axis, 1: towards +e_axis) is, for each owned cell, the
    local cell across that face, -1 where there is no voxel of the mesh (another phase, or outside
    the image). With ghost mode shared_facet every face neighbour of an owned cell is local.
    ``ijk``: (3, n_local) voxel coordinates of every local cell.
    """

    def __init__(self, voxel_of_cell: np.ndarray, shape: tuple[int, int, int], n_owned: int):
        nx, ny, nz = (int(v) for v in shape)
        vox = np.asarray(voxel_of_cell, dtype=np.int64)
        self.shape = (nx, ny, nz)
        self.n_owned = int(n_owned)
        cell_of_voxel = np.full(nx * ny * nz, -1, dtype=np.int64)
        cell_of_voxel[vox] = np.arange(vox.size)
        self.ijk = np.stack([vox % nx, (vox // nx) % ny, vox // (nx * ny)])
        own = vox[:n_owned]
        strides = (1, nx, nx * ny)
        self.nbr = {}
        for a in range(3):
            for side, step in ((0, -1), (1, 1)):
                c = self.ijk[a, :n_owned] + step
                inside = (c >= 0) & (c < self.shape[a])
                nb = np.full(n_owned, -1, dtype=np.int64)
                nb[inside] = cell_of_voxel[own[inside] + step * strides[a]]
                self.nbr[a, side] = nb

    def layer(self, axis: int, side: int, owned: bool = True) -> np.ndarray:
        """Cells (owned, or all local) in the first (side 0) or last (side 1) voxel layer along
        ``axis``."""
        ijk = self.ijk[axis, :self.n_owned] if owned else self.ijk[axis]
        return np.flatnonzero(ijk == (0 if side == 0 else self.shape[axis] - 1))


def _face_sigma(s: np.ndarray, c: np.ndarray, nb: np.ndarray) -> np.ndarray:
    """Harmonic mean of the cell sigmas across the faces (c, nb)."""
    return 2.0 * s[c] * s[nb] / (s[c] + s[nb])


def _pinned(adj: VoxelAdjacency, axis: int, voltage: float, planes: str) -> np.ndarray:
    """Potential of every local cell pinned by the ``centres`` convention (NaN: free)."""
    fixed = np.full(adj.ijk.shape[1], np.nan)
    if planes == "centres":
        fixed[adj.layer(axis, 0, owned=False)] = voltage
        fixed[adj.layer(axis, 1, owned=False)] = 0.0
    return fixed


def assemble_direct(V, adj: VoxelAdjacency, axis: int, h: float, s: np.ndarray, voltage: float,
                    planes: str = "faces"):
    """Matrix and right-hand side (PETSc, DG0 layout of ``V``) of the scheme, built row by row
    from the voxel adjacency: ``t = sigma_F h`` per face, ``2 sigma h`` per plane face (faces
    convention). ``s``: relative sigma per local cell. With ``planes="centres"`` the rows of the
    first/last layer cells are identity rows with values dV / 0, and their couplings are moved to
    the right-hand side of the free cells (symmetric elimination). Collective."""
    imap = V.dofmap.index_map
    n_own = adj.n_owned
    dof = V.dofmap.list[:, 0].astype(np.int32)  # local dof of each local cell
    gdof = np.asarray(imap.local_to_global(dof), dtype=np.int64)
    fixed = _pinned(adj, axis, voltage, planes)
    free = np.isnan(fixed)
    own = np.arange(n_own)
    diag = np.zeros(n_own)
    b = np.zeros(n_own)
    rows, cols, vals = [], [], []
    for nb in adj.nbr.values():
        sel = (nb >= 0) & free[:n_own]
        c, n = own[sel], nb[sel]
        t = _face_sigma(s, c, n) * h
        diag[c] += t  # each cell once per direction
        coupled = free[n]
        rows.append(c[coupled])
        cols.append(n[coupled])
        vals.append(-t[coupled])
        b[c[~coupled]] += t[~coupled] * fixed[n[~coupled]]
    if planes == "faces":
        for side in (0, 1):
            c = adj.layer(axis, side)
            w = 2.0 * s[c] * h
            diag[c] += w
            if side == 0:
                b[c] += w * voltage
    pinned_own = ~free[:n_own]
    diag[pinned_own] = 1.0
    b[pinned_own] = fixed[:n_own][pinned_own]
    r = np.concatenate([own] + rows)
    cl = np.concatenate([own] + cols)
    v = np.concatenate([diag] + vals)

    # CSR in the local row order of the DG0 dofs, columns sorted in each row
    rloc = dof[r].astype(np.int64)
    cglob = gdof[cl]
    order = np.lexsort((cglob, rloc))
    n_rows = imap.size_local
    indptr = np.zeros(n_rows + 1, dtype=PETSc.IntType)
    np.cumsum(np.bincount(rloc, minlength=n_rows), out=indptr[1:])
    N = imap.size_global
    A = PETSc.Mat().createAIJ(size=((n_rows, N), (n_rows, N)),
                              csr=(indptr, cglob[order].astype(PETSc.IntType), v[order]),
                              comm=V.mesh.comm)
    A.assemble()
    rhs = dolfinx.fem.Function(V)
    rhs.x.array[dof[:n_own]] = b
    bvec = rhs.x.petsc_vec.copy()
    return A, bvec


def assemble_form(V, axis: int, length: float, h: float, s: np.ndarray, voltage: float):
    """The same matrix and right-hand side (faces convention) from the UFL form of the module
    docstring, assembled by DOLFINx over the interior facets and the two planes x_axis = 0 and
    x_axis = ``length`` (um). Collective."""
    msh = V.mesh
    msh.topology.create_entities(2)
    msh.topology.create_connectivity(2, 3)
    pd = plane_domains(msh, axis, 0.0, length)
    ds = ufl.Measure("ds", domain=msh, subdomain_data=pd)
    hc = dolfinx.fem.Constant(msh, PETSc.ScalarType(h))
    g = dolfinx.fem.Constant(msh, PETSc.ScalarType(voltage))
    sigma = dolfinx.fem.Function(V)
    sigma.x.array[:] = s
    sigma_f = 2 * sigma("+") * sigma("-") / (sigma("+") + sigma("-"))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    w = 2 * sigma / hc
    a = dolfinx.fem.form(sigma_f / hc * ufl.jump(u) * ufl.jump(v) * ufl.dS
                         + w * u * v * ds(LO_TAG) + w * u * v * ds(HI_TAG))
    L = dolfinx.fem.form(w * g * v * ds(LO_TAG))
    A = dolfinx.fem.petsc.assemble_matrix(a)
    A.assemble()
    b = dolfinx.fem.petsc.assemble_vector(L)
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    return A, b


def plane_domains(msh, axis: int, lo: float, hi: float) -> list[tuple[int, np.ndarray]]:
    """Exterior-facet integration domains ``[(LO_TAG, e_lo), (HI_TAG, e_hi)]`` (flattened
    (cell, local facet) pairs of owned facets) of the planes x_axis = lo and x_axis = hi, for
    ``ufl.Measure("ds", subdomain_data=...)`` (meshtags would make DOLFINx intersect every tag
    with all exterior facets of the porous phase, ~1 s per form at the seed's size)."""
    ext = dolfinx.mesh.exterior_facet_indices(msh.topology).astype(np.int32)
    xa = dolfinx.mesh.compute_midpoints(msh, 2, ext)[:, axis]
    tol = 1e-6 * (hi - lo)
    out = []
    for tag, x0 in ((LO_TAG, lo), (HI_TAG, hi)):
        facets = ext[np.abs(xa - x0) < tol]
        ents = dolfinx.fem.compute_integration_domains(dolfinx.fem.IntegralType.exterior_facet,
                                                       msh.topology, facets)
        out.append((tag, np.asarray(ents, dtype=np.int32).ravel()))
    return out


def solve_ohm_fv(msh, voxel_of_cell: np.ndarray, shape: tuple[int, int, int], axis: int, h: float,
                 solver: str = "gamg", rtol: float = 1e-10, voltage: float = 1.0,
                 cell_sigma: np.ndarray | None = None, planes: str = "faces",
                 assembly: str = "direct") -> FVSolution:
    """Solve the scheme of the module docstring on the voxel hexahedral mesh ``msh`` of an image
    of ``shape`` voxels (edge ``h`` um; ``voxel_of_cell`` from
    :func:`~fem_twin.meshing.voxel_hex.voxel_hex_mesh`) between the planes x_axis = 0
    (phi = ``voltage``, V) and x_axis = shape[axis] h (phi = 0), with sigma = 1 or the relative
    conductivity ``cell_sigma`` (one value per local cell, owned + ghost). Every cell must belong
    to a cluster touching both planes. ``planes``: "faces" or "centres"; ``assembly``: "direct"
    or "form" (faces only). Collective."""
    if planes not in PLANES:
        raise InputError("planes", "faces or centres", planes)
    if assembly not in ASSEMBLY:
        raise InputError("assembly", "direct or form", assembly)
    if assembly == "form" and planes != "faces":
        raise InputError("assembly", "direct with planes='centres'", assembly)
    if planes == "centres" and shape[axis] < 3:
        raise InputError("planes", "at least 3 voxel layers along the axis with planes='centres'",
                         shape[axis])
    comm = msh.comm
    V = dolfinx.fem.functionspace(msh, ("DG", 0))
    n_own = msh.topology.index_map(3).size_local
    adj = VoxelAdjacency(voxel_of_cell, shape, n_own)
    n_loc = adj.ijk.shape[1]
    s = np.ones(n_loc) if cell_sigma is None else np.asarray(cell_sigma, dtype=float)
    bad = s.shape != (n_loc,) or not np.all(s > 0)
    if comm.allreduce(int(bad), op=MPI.MAX):  # every rank raises, no rank waits in a collective
        raise InputError("cell_sigma", f"{n_loc} values > 0 (one per local cell) on every rank",
                         s.shape if bad else "bad values on another rank")
    if assembly == "direct":
        A, b = assemble_direct(V, adj, axis, h, s, voltage, planes)
    else:
        A, b = assemble_form(V, axis, shape[axis] * h, h, s, voltage)
    phi, its = solvers.solve_once(A, b, V, fv_ksp_options(solver, rtol), solvers.unique_prefix("conductivity_fv"))

    u = phi.x.array[V.dofmap.list[:, 0]]  # potential per local cell
    if planes == "faces":  # face fluxes of the two planes
        c0, c1 = adj.layer(axis, 0), adj.layer(axis, 1)
        cur_lo = float(np.sum(2.0 * s[c0] * h * (voltage - u[c0])))
        cur_hi = float(np.sum(2.0 * s[c1] * h * u[c1]))
        length = shape[axis] * h
    else:  # reactions of the pinned layers: their fluxes into the free cells
        cur_lo = cur_hi = 0.0
        for side in (0, 1):
            c = adj.layer(axis, side)
            for nb in adj.nbr.values():
                sel = nb[c] >= 0
                cc, n = c[sel], nb[c][sel]
                q = float(np.sum(_face_sigma(s, cc, n) * h * (u[cc] - u[n])))
                if side == 0:
                    cur_lo += q
                else:
                    cur_hi -= q
        length = (shape[axis] - 1) * h
    cur_lo = comm.allreduce(cur_lo, op=MPI.SUM)
    cur_hi = comm.allreduce(cur_hi, op=MPI.SUM)
    area = float(np.prod([shape[a] * h for a in range(3) if a != axis]))
    relative = cur_lo * length / (area * voltage)
    return FVSolution(float(relative), float(cur_lo), float(cur_hi), int(its),
                      int(V.dofmap.index_map.size_global), phi, adj, s, int(axis), float(h),
                      float(voltage), planes)


def current_density_fv(sol: FVSolution, sigma_S_per_m: float):
    """DG0 vector field j in A/m^2 per voxel: for each axis the mean of the current densities
    through the voxel's two faces normal to it (two-point fluxes; plane faces with the half-cell
    conductance, faces convention; 0 on no-flux faces). Its volume integral along the axis is
    exactly I L. Collective."""
    phi = sol.phi
    V = phi.function_space
    msh = V.mesh
    adj, s, h = sol.adjacency, sol.cell_sigma, sol.h
    n_own = adj.n_owned
    dof = V.dofmap.list[:, 0]
    u = phi.x.array[dof]
    own = np.arange(n_own)
    W = dolfinx.fem.functionspace(msh, ("DG", 0, (3,)))
    j = dolfinx.fem.Function(W, name="current_density_A_per_m2")
    wdof = W.dofmap.list[:n_own, 0]
    for a in range(3):
        q = np.zeros((2, n_own))  # outward flux density through the lower / upper face, / sigma
        for side in (0, 1):
            nb = adj.nbr[a, side]
            has = nb >= 0
            c, n = own[has], nb[has]
            q[side, c] = _face_sigma(s, c, n) * (u[c] - u[n]) / h
            if a == sol.axis and sol.planes == "faces":
                c = adj.layer(a, side)
                g = sol.voltage if side == 0 else 0.0
                q[side, c] = 2.0 * s[c] * (u[c] - g) / h
        j.x.array[3 * wdof + a] = 0.5 * (q[1] - q[0]) * sigma_S_per_m / UM
    j.x.scatter_forward()
    return j
