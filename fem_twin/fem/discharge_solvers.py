"""Linear algebra of the discharge problem: a bordered Newton system behind one small interface.

The galvanostatic cell has one global unknown besides the fields, the collector potential V.
Newton's linear system is bordered::

    [ A    b ] [dx]     [r_f]        A = dF/dx (the assembled block Jacobian of the fields)
    [ c^T  d ] [dV] = - [r_V]        b = dF/dV, c = dg/dx, d = dg/dV, g = total current condition

and is solved by block elimination with two solves of A (one factorisation with a direct solver):
``A z1 = r_f``, ``A z2 = b``, ``dV = (r_V - c.z1) / (d - c.z2)``, ``dx = z1 - z2 dV``. SNES sees a
shell Jacobian (its action) and a shell preconditioner doing this elimination, so SNES's Newton
with line search runs on the augmented vector unchanged, and the solver for A is swappable:

- ``mumps`` (default): ``preonly`` + LU with MUMPS;
- ``fieldsplit``: Krylov (GMRES; the concentration blocks make A non-symmetric) preconditioned by
  an additive fieldsplit with one GAMG per field, built on a copy of A with the stored zeros
  dropped (see the facts sheet: GAMG on the Kuhn mesh's zero-padded pattern is 15-100x slower).

Any PETSc option for the inner solver can be given with the prefix ``discharge_inner_`` (e.g.
``--petsc discharge_inner_ksp_rtol=1e-10``) and for SNES with ``discharge_`` (``discharge_snes_rtol``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._dolfinx import MPI, PETSc
from ..errors import InputError

SOLVERS = ("mumps", "fieldsplit")


@dataclass(frozen=True)
class LinearSolverSpec:
    """Which solver for A and extra PETSc options (keys without the leading dash)."""

    name: str = "mumps"
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.name not in SOLVERS:
            raise InputError("--solver", " or ".join(SOLVERS), self.name)

    @classmethod
    def parse(cls, name: str = "mumps", petsc: list[str] | None = None) -> "LinearSolverSpec":
        """``petsc`` entries are ``KEY=VALUE`` or ``KEY`` (value ''), with or without a leading dash."""
        opts = {}
        for item in petsc or []:
            key, _, val = str(item).partition("=")
            key = key.strip().lstrip("-")
            if not key:
                raise InputError("--petsc", "KEY=VALUE", item)
            opts[key] = val.strip()
        return cls(name, opts)


def inner_options(spec: LinearSolverSpec) -> dict:
    """Default options of the solver for A (prefix ``discharge_inner_``), user options on top."""
    if spec.name == "mumps":
        base = {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps",
                "mat_mumps_icntl_14": "200", "mat_mumps_icntl_24": "1"}
    else:
        base = {"ksp_type": "gmres", "ksp_rtol": "1e-10", "ksp_atol": "1e-14", "ksp_max_it": "500",
                "ksp_gmres_restart": "100", "ksp_norm_type": "unpreconditioned",
                "pc_type": "fieldsplit", "pc_fieldsplit_type": "additive"}
    base.update({k.removeprefix("discharge_inner_"): v for k, v in spec.options.items()
                 if k.startswith("discharge_inner_")})
    return base


def _set_options(prefix: str, opts: dict):
    o = PETSc.Options()
    for k, v in opts.items():
        o[f"{prefix}{k}"] = v


def drop_zeros(A: PETSc.Mat) -> PETSc.Mat:
    """Copy of an assembled AIJ matrix without its stored exact zeros (diagonal kept)."""
    indptr, indices, vals = A.getValuesCSR()
    r0, r1 = A.getOwnershipRange()
    rows = np.repeat(np.arange(r0, r1, dtype=np.int64), np.diff(indptr))
    keep = (vals != 0.0) | (indices == rows)
    counts = np.add.reduceat(keep.astype(np.int64), indptr[:-1]) if len(indptr) > 1 else np.zeros(0, np.int64)
    counts[np.diff(indptr) == 0] = 0
    new_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(PETSc.IntType)
    P = PETSc.Mat().createAIJ(A.getSizes(), csr=(new_ptr, indices[keep].astype(PETSc.IntType), vals[keep]),
                              comm=A.comm)
    P.assemble()
    return P


class BorderedSystem:
    """Jacobian action and block-elimination preconditioner of the bordered Newton system.

    ``n`` local field unknowns (the owned part of the DOLFINx block vector) plus V on rank 0.
    """

    def __init__(self, comm, spec: LinearSolverSpec, field_sizes: list[int], prefix: str):
        self.comm = comm
        self.A = None  # set before each update()
        self.spec = spec
        self.n = int(sum(field_sizes))
        mk = lambda: PETSc.Vec().createMPI((self.n, PETSc.DETERMINE), comm=comm)  # noqa: E731
        self.b, self.c, self.z1, self.z2, self.rf = mk(), mk(), mk(), mk(), mk()
        self.d = 0.0
        self.s = 1.0
        self.linear_its = 0
        self.ksp = PETSc.KSP().create(comm)
        self.ksp.setOptionsPrefix(prefix)
        _set_options(prefix, inner_options(spec))
        self.P = None
        self.field_sizes = field_sizes
        self._ksp_configured = False

    # -- called by the Jacobian callback after A, b, c, d were assembled --------------------
    def update(self):
        P = self.A
        if self.spec.name == "fieldsplit":
            if self.P is not None:
                self.P.destroy()
            self.P = drop_zeros(self.A)
            self.P.setBlockSize(1)
            P = self.P
        self.ksp.setOperators(self.A, P)
        if not self._ksp_configured:
            self.ksp.setFromOptions()
            if self.spec.name == "fieldsplit":
                self._set_fields()
            self._ksp_configured = True
        self.ksp.setUp()
        self._solve(self.b, self.z2)
        self.s = self.d - self.c.dot(self.z2)

    def _set_fields(self):
        r0 = self.A.getOwnershipRange()[0]
        pc = self.ksp.getPC()
        splits, off = [], r0
        for i, nloc in enumerate(self.field_sizes):
            iset = PETSc.IS().createStride(nloc, first=off, step=1, comm=self.A.comm)
            splits.append((str(i), iset))
            off += nloc
        pc.setFieldSplitIS(*splits)
        o = PETSc.Options()
        pfx = self.ksp.getOptionsPrefix()
        for i in range(len(self.field_sizes)):
            key = f"{pfx}fieldsplit_{i}_"
            if not o.hasName(key + "ksp_type"):
                o[key + "ksp_type"] = "preonly"
            if not o.hasName(key + "pc_type"):
                o[key + "pc_type"] = "gamg"
        pc.setFromOptions()

    def _solve(self, rhs, out):
        self.ksp.solve(rhs, out)
        self.linear_its += self.ksp.getIterationNumber()
        if self.ksp.getConvergedReason() < 0:
            raise PETSc.Error(91)  # PETSC_ERR_NOT_CONVERGED: the step is cut back

    # -- vector helpers ---------------------------------------------------------------------
    def split(self, X):
        """(field part as numpy view, V broadcast from rank 0)."""
        arr = X.getArray(readonly=True)
        v = arr[self.n] if self.comm.rank == 0 else None
        return arr[: self.n], self.comm.bcast(v, root=0)

    # -- PETSc python-context methods --------------------------------------------------------
    def mult(self, mat, X, Y):
        xf, xv = self.split(X)
        with self.rf as a:
            a[:] = xf
        self.A.mult(self.rf, self.z1)
        cx = self.c.dot(self.rf)
        with Y as y:
            y[: self.n] = self.z1.getArray(readonly=True) + self.b.getArray(readonly=True) * xv
            if self.comm.rank == 0:
                y[self.n] = cx + self.d * xv

    def apply(self, pc, X, Y):
        rf, rv = self.split(X)
        with self.rf as a:
            a[:] = rf
        self._solve(self.rf, self.z1)
        dv = (rv - self.c.dot(self.z1)) / self.s
        with Y as y:
            y[: self.n] = self.z1.getArray(readonly=True) - self.z2.getArray(readonly=True) * dv
            if self.comm.rank == 0:
                y[self.n] = dv

    def free(self):
        for o in (self.ksp, self.b, self.c, self.z1, self.z2, self.rf, self.P):
            if o is not None:
                o.destroy()


def augmented_vector(comm, n_local: int) -> PETSc.Vec:
    """A vector of the n_local field unknowns of each rank plus V at the end of rank 0's part."""
    extra = 1 if comm.rank == 0 else 0
    v = PETSc.Vec().createMPI((n_local + extra, PETSc.DETERMINE), comm=comm)
    return v


def global_sum(comm, x: float) -> float:
    return comm.allreduce(float(x), op=MPI.SUM)
