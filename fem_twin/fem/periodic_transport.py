"""Effective conductivity with periodic x and y faces: P1 on a periodic mesh and voxel finite volumes.

The ``fv-matched`` factors of a periodic discharge mesh (:mod:`fem_twin.fem.transport_matching`) are
found as on a cut mesh, P1 against extrapolated finite volumes per axis, but with the faces periodic on
both sides: measured on the 24 um 80 wt% seed-1 piece (``benchmarks/periodic_transport.py``) the cut
piece's LPSCl factors are 0.931 / 0.952 / 0.694 (x / y / z) against 0.925 / 0.749 / 0.853 periodic (NCM
within 1.9 %): the cut piece's x and y solves hold its side faces at fixed potentials, and its z solve
lacks the paths across the faces.

Along z (potentials on the planes z = lo and z = hi) only the clusters touching both planes count,
found with x and y periodic. Along x or y a periodic piece has no faces to hold potentials; the
potential is split into a macroscopic drop and a periodic part, phi = dV (lo - x_a) / L + u with u
periodic (the standard homogenisation cell problem):

    int sigma K grad(u) . grad(v) dx = (dV / L) int sigma K e_a . grad(v) dx   for every periodic v,

one value of u pinned per connected component (u is defined up to a constant in each), and the
current through the box I = (1 / L) int sigma K (-grad phi) . e_a dx, so sigma_eff / sigma = I L / (A dV)
as on a cut piece. A component that does not wrap around along a carries no current (u = x_a dV / L
+ c is admissible on it), so no cluster selection is needed. ``split`` (the dissipation per direction,
the derivative of the conductance with respect to each factor) is defined as in
:func:`fem_twin.fem.conductivity.solve_ohm`.

Finite volumes: two-point fluxes between face neighbours (conductance sigma_F h, sigma_F the harmonic
mean), the ``faces`` plane convention along z; along x or y every face is inside and the faces
crossing x_a = L carry the drop dV. Assembled with scipy on rank 0 and solved there with PETSc
(CG + GAMG on COMM_SELF); the other ranks wait and receive the number. Without the wrap the same code
gives ``conductivity_fv``'s value (to 2e-13 on the 24 um piece; the benchmark prints it).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._dolfinx import MPI, PETSc, dolfinx
from . import solvers
from .conductivity import OhmSolution, phase_components, solve_ohm


# -- finite volumes ------------------------------------------------------------------------------
def _pinned_components(n: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """One unknown per connected component of the graph (first index of each)."""
    from scipy.sparse.csgraph import connected_components

    g = sp.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    _, comp = connected_components(g, directed=False)
    _, first = np.unique(comp, return_index=True)
    return first


def _solve_spd_self(A: sp.csr_matrix, b: np.ndarray, rtol: float) -> np.ndarray:
    """Solve the SPD system with PETSc CG + GAMG on COMM_SELF."""
    A = A.tocsr()
    A.sort_indices()
    M = PETSc.Mat().createAIJ(size=A.shape, csr=(A.indptr.astype(PETSc.IntType), A.indices.astype(PETSc.IntType),
                                                 A.data), comm=MPI.COMM_SELF)
    M.assemble()
    ksp = PETSc.KSP().create(MPI.COMM_SELF)
    ksp.setOperators(M)
    ksp.setType("cg")
    ksp.getPC().setType("gamg")
    ksp.setTolerances(rtol=rtol, atol=0.0, max_it=5000)
    ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
    ksp.setErrorIfNotConverged(True)
    x, rhs = M.createVecs()
    rhs.array[:] = b
    ksp.solve(rhs, x)
    out = x.array.copy()
    for o in (ksp, M, x, rhs):
        o.destroy()
    return out


def fv_relative_periodic(mask: np.ndarray, h: float, axis: int, rtol: float = 1e-12,
                         periodic: bool = True) -> float:
    """sigma_eff / sigma of the voxels ``mask`` along ``axis`` with x and y periodic (``periodic``
    False, along z only: cut faces, as :mod:`fem_twin.fem.conductivity_fv`, for checks). Serial
    (call on one rank)."""
    from ..analysis.connectivity import spanning

    if not periodic and axis != 2:
        raise ValueError("fv_relative_periodic: cut faces only along z (use conductivity_fv)")
    mask = np.asarray(mask, bool)
    n = mask.shape
    wrap = (periodic, periodic, False)
    act = spanning(mask, axis=2, connectivity=6, periodic=wrap) if axis == 2 else mask.copy()
    m = int(act.sum())
    if m == 0:
        return 0.0
    idx = np.full(n, -1, np.int64)
    idx[act] = np.arange(m)
    rows, cols, jump = [], [], []
    for a in range(3):
        if wrap[a]:
            src, nb = idx, np.roll(idx, -1, axis=a)
            seam = np.zeros(n, bool)
            sl = [slice(None)] * 3
            sl[a] = n[a] - 1
            seam[tuple(sl)] = True  # the face between layer n-1 and layer 0 (at x_a = L)
        else:
            lo, hi = [slice(None)] * 3, [slice(None)] * 3
            lo[a], hi[a] = slice(0, -1), slice(1, None)
            src, nb = idx[tuple(lo)], idx[tuple(hi)]
            seam = np.zeros(src.shape, bool)
        both = (src >= 0) & (nb >= 0)
        rows.append(src[both])
        cols.append(nb[both])
        jump.append(seam[both] & (a == axis))
    r, c, jmp = np.concatenate(rows), np.concatenate(cols), np.concatenate(jump)
    t = h  # sigma_F h^2 / h per face, sigma = 1
    A = sp.coo_matrix((np.full(r.size, -t), (r, c)), shape=(m, m))
    A = (A + A.T).tocsr()
    diag = -np.asarray(A.sum(axis=1)).ravel()
    b = np.zeros(m)
    L = n[axis] * h
    area = float(np.prod([n[i] * h for i in range(3) if i != axis]))
    if axis == 2:
        lo_c, hi_c = idx[:, :, 0][act[:, :, 0]], idx[:, :, -1][act[:, :, -1]]
        diag[lo_c] += 2 * t
        diag[hi_c] += 2 * t
        b[lo_c] += 2 * t  # dV = 1 on the plane z = 0
        keep = np.arange(m)
    else:
        # phi(x + L e_a) = phi(x) - 1: across a seam face (i in layer n-1, j in layer 0) the flux
        # t (phi_i - phi_j + 1) leaves i and enters j
        np.add.at(b, r[jmp], -t)
        np.add.at(b, c[jmp], t)
        pin = _pinned_components(m, r, c)
        keep = np.setdiff1d(np.arange(m), pin)
    A = (A + sp.diags(diag)).tocsr()
    u = np.zeros(m)
    u[keep] = _solve_spd_self(A[keep][:, keep], b[keep], rtol)
    if axis == 2:
        current = float(np.sum(2 * t * (1.0 - u[lo_c])))
    else:  # every layer passes the same current; the seam's faces
        current = float(np.sum(t * (u[r[jmp]] - u[c[jmp]] + 1.0)))
    return current * L / area


# -- P1 on a periodic mesh ------------------------------------------------------------------------
def periodic_phase_meshes(tagged, label: int, lo: float, hi: float) -> list:
    """Per axis (x, y, z): (P1 mesh of phase ``label`` on the periodic mesh of ``tagged``, global
    vertex ids to pin). Along x and y one mesh of all the phase's cells, shared, with one pinned vertex
    per component; along z the cells in components touching both planes z = lo and z = hi, nothing
    pinned. (None, ...) where there are no cells."""
    msh = tagged.mesh
    comm = msh.comm
    cells = tagged.cell_tags.find(label).astype(np.int32)
    out = []
    for keep_z in (False, True):
        chosen = cells
        if keep_z:
            keep, _ = phase_components(msh, cells, lo, hi, axis=2)
            chosen = cells[keep]
        if comm.allreduce(int(chosen.size)) == 0:
            out.append((None, np.zeros(0, np.int64)))
            continue
        sub, *_ = dolfinx.mesh.create_submesh(msh, 3, chosen)
        pinned = np.zeros(0, np.int64)
        if not keep_z:
            n = sub.topology.index_map(3).size_local + sub.topology.index_map(3).num_ghosts
            _, pinned = phase_components(sub, np.arange(n, dtype=np.int32), lo, hi, axis=2)
        out.append((sub, pinned))
    return [out[0], out[0], out[1]]


def solve_ohm_periodic(msh, axis: int, length: float, cross_section_um2: float, pinned: np.ndarray,
                       lo: float = 0.0, cell_sigma: np.ndarray | None = None, tensor_diag: tuple | None = None,
                       split: bool = False, rtol: float = 1e-10) -> OhmSolution:
    """P1 effective conductivity of a periodic phase mesh along ``axis``: z as
    :func:`~fem_twin.fem.conductivity.solve_ohm` (planes lo and lo + length), x or y by the cell problem
    of the module docstring with the global vertices ``pinned`` held at 0. Collective."""
    import ufl

    if axis == 2:
        return solve_ohm(msh, 2, lo, lo + length, cross_section_um2, cell_sigma=cell_sigma,
                         tensor_diag=tensor_diag, split=split, rtol=rtol)
    comm = msh.comm
    V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    msh.topology.create_connectivity(0, 3)
    vmap = msh.topology.index_map(0)
    nv = vmap.size_local + vmap.num_ghosts
    gv = np.asarray(vmap.local_to_global(np.arange(nv, dtype=np.int32)), np.int64)
    local_pins = np.flatnonzero(np.isin(gv, pinned)).astype(np.int32)
    dofs = dolfinx.fem.locate_dofs_topological(V, 0, local_pins)
    bc = dolfinx.fem.dirichletbc(PETSc.ScalarType(0.0), dofs, V)
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    sigma = 1.0
    if cell_sigma is not None:
        sigma = dolfinx.fem.Function(dolfinx.fem.functionspace(msh, ("DG", 0)))
        sigma.x.array[:] = np.asarray(cell_sigma, dtype=float)
    f = np.ones(3) if tensor_diag is None else np.asarray(tensor_diag, dtype=float)
    K = ufl.diag(dolfinx.fem.Constant(msh, f.astype(PETSc.ScalarType)))
    e = ufl.as_vector([1.0 if i == axis else 0.0 for i in range(3)])
    dV = 1.0
    a = dolfinx.fem.form(sigma * ufl.inner(K * ufl.grad(u), ufl.grad(v)) * ufl.dx)
    rhs = dolfinx.fem.form(sigma * (dV / length) * ufl.inner(K * e, ufl.grad(v)) * ufl.dx)
    A = dolfinx.fem.petsc.assemble_matrix(a, bcs=[bc])
    A.assemble()
    b = dolfinx.fem.petsc.assemble_vector(rhs)
    dolfinx.fem.petsc.apply_lifting(b, [a], bcs=[[bc]])
    b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    dolfinx.fem.petsc.set_bc(b, [bc])
    P = solvers.drop_stored_zeros(A)
    A.destroy()
    w, its = solvers.solve_once(P, b, V, solvers.ksp_options("gamg", rtol=rtol), solvers.unique_prefix("ohm_periodic"))
    grad_phi = -(dV / length) * e + ufl.grad(w)

    def total(expr):
        return comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(expr * ufl.dx)), op=MPI.SUM)

    current = total(-sigma * f[axis] * grad_phi[axis]) / length
    relative = current * length / (cross_section_um2 * dV)
    parts = () if not split else tuple(total(sigma * grad_phi[k] ** 2) * length / (cross_section_um2 * dV ** 2)
                                       for k in range(3))
    return OhmSolution(float(relative), float(current), int(its), int(V.dofmap.index_map.size_global), w, parts)
