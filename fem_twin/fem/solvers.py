"""Small PETSc helpers shared by the FE problems: option sets and the filtered preconditioner matrix.

Why a filtered matrix: on the Kuhn voxel mesh the P1 stiffness is a 7-point stencil stored in a
15-point pattern, so about half of the assembled entries are exact zeros. GAMG builds its coarse
grids from the stored pattern and they turn dense (setup 10-55 s and GBs at 1e5 unknowns, see the
facts sheet). :func:`drop_stored_zeros` rebuilds the matrix without those entries (keeping the
diagonal); passed as the preconditioner matrix P next to the operator A it makes GAMG setup
15-100x cheaper and leaves the Krylov method on the exact operator.
"""

from __future__ import annotations

import itertools

import numpy as np

from .._dolfinx import PETSc
from ..errors import InputError

_counter = itertools.count()

#: linear solver choices of the CLI
SOLVERS = ("gamg", "mumps")


def unique_prefix(name: str) -> str:
    """A PETSc options prefix unique in this process (``name_<n>_``): each problem its own."""
    return f"{name}_{next(_counter)}_"


def drop_stored_zeros(A: "PETSc.Mat") -> "PETSc.Mat":
    """Copy of the assembled AIJ matrix ``A`` without stored exact zeros (diagonal kept), same
    parallel layout. Collective."""
    indptr, indices, values = A.getValuesCSR()
    r0, r1 = A.getOwnershipRange()
    rows = np.repeat(np.arange(r0, r1, dtype=indices.dtype), np.diff(indptr))
    keep = (values != 0.0) | (indices == rows)
    counts = np.bincount(rows[keep] - r0, minlength=r1 - r0)
    new_ptr = np.zeros(r1 - r0 + 1, dtype=indptr.dtype)
    np.cumsum(counts, out=new_ptr[1:])
    P = PETSc.Mat().createAIJ(size=A.getSizes(), csr=(new_ptr, indices[keep], values[keep]),
                              comm=A.getComm())
    P.assemble()
    return P


def ksp_options(solver: str, rtol: float = 1e-10, atol: float = 0.0, max_it: int = 1000) -> dict:
    """PETSc options for a symmetric positive definite system: CG + GAMG (default; there is no
    hypre in the PyPI wheel) or a direct MUMPS factorisation (small cases)."""
    if solver == "gamg":
        return {
            "ksp_type": "cg",
            "ksp_rtol": rtol,
            "ksp_atol": atol,
            "ksp_max_it": max_it,
            "ksp_norm_type": "unpreconditioned",
            "pc_type": "gamg",
            "pc_gamg_type": "agg",
            "pc_gamg_agg_nsmooths": 1,
            "pc_gamg_threshold": 0.01,
            # two levels of aggressive coarsening and a 3000-row coarse grid: GAMG set-up is most
            # of the solve time here (measured at the seed's size: 12 CG iterations either way)
            "pc_gamg_aggressive_coarsening": 2,
            "pc_gamg_coarse_eq_limit": 3000,
            # one symmetric SOR sweep per level: no Chebyshev eigenvalue estimates in the set-up
            "mg_levels_ksp_type": "richardson",
            "mg_levels_pc_type": "sor",
            "mg_levels_ksp_max_it": 1,
            "ksp_error_if_not_converged": True,
        }
    if solver == "mumps":
        return {
            "ksp_type": "preonly",
            "pc_type": "lu",
            "pc_factor_mat_solver_type": "mumps",
            "ksp_error_if_not_converged": True,
        }
    raise InputError("--solver", f"one of {', '.join(SOLVERS)}", solver)


def make_ksp(A: "PETSc.Mat", P: "PETSc.Mat", options: dict, prefix: str) -> "PETSc.KSP":
    """A set-up KSP on operator ``A`` with preconditioner matrix ``P``, configured from
    ``options`` under the options ``prefix``. The preconditioner is built here (multigrid level
    options are only read during set-up); the options are removed from the database afterwards."""
    ksp = PETSc.KSP().create(A.getComm())
    ksp.setOptionsPrefix(prefix)
    ksp.setOperators(A, P)
    opts = PETSc.Options()
    for k, v in options.items():
        opts[f"{prefix}{k}"] = v
    try:
        ksp.setFromOptions()
        ksp.setUp()
    finally:
        for k in options:
            del opts[f"{prefix}{k}"]
    return ksp


def solve_once(A: "PETSc.Mat", b: "PETSc.Vec", V, options: dict, prefix: str, name: str = "potential_V"):
    """Solve ``A x = b`` once into a new Function on ``V`` (ghosts updated) with a KSP made from
    ``options``; ``A`` and ``b`` are destroyed. Returns (function, Krylov iterations)."""
    from .._dolfinx import dolfinx

    ksp = make_ksp(A, A, options, prefix)
    phi = dolfinx.fem.Function(V, name=name)
    ksp.solve(b, phi.x.petsc_vec)
    phi.x.scatter_forward()
    its = ksp.getIterationNumber()
    ksp.destroy()
    A.destroy()
    b.destroy()
    return phi, its
