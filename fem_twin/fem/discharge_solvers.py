"""Linear algebra of the discharge problem: a bordered Newton system behind one small interface.

The galvanostatic cell has one global unknown besides the fields, the collector potential V.
Newton's linear system is bordered::

    [ A    b ] [dx]     [r_f]        A = dF/dx (the assembled block Jacobian of the fields)
    [ c^T  d ] [dV] = - [r_V]        b = dF/dV, c = dg/dx, d = dg/dV, g = total current condition

Block elimination with an operator M ~ A^{-1}: ``z2 = M b`` (once per Jacobian),
``s = d - c.z2``; per application ``z1 = M r_f``, ``dV = (r_V - c.z1) / s``, ``dx = z1 - z2 dV``.
This is the exact inverse of the bordered matrix with A replaced by M^{-1}. SNES sees a shell
Jacobian (its action) and this elimination as a shell preconditioner, so SNES's Newton with line
search runs on the augmented vector unchanged, and the solver for A is swappable:

- ``mumps``: M = A^{-1} by an LU factorisation (MUMPS); the outer KSP is ``preonly``: the
  elimination is the exact solve (two triangular solves per Newton system plus one for ``z2``).
  Up to :data:`REDUNDANT_LU_MAX` unknowns on more than one rank every rank factors a copy of
  the whole A with sequential MUMPS (PETSc's ``redundant`` preconditioner): MUMPS's own
  parallel factorisation schedules its work dynamically and is not bit-reproducible run to run
  (``mpirun -n 2 python benchmarks/direct_solve_reproducibility.py``: of 11 repeated
  factorisations of one 12k-unknown system 4-5 differed from the first in 1 entry; with the
  redundant copy, and with SuperLU_dist, none did). Options for that copy's factorisation
  take the prefix ``discharge_inner_redundant_``; :func:`inner_options` moves a user's
  ``discharge_inner_pc_factor_*`` / ``discharge_inner_mat_mumps_*`` there.
- ``fieldsplit``: M = one application of an additive field split with one preconditioner per
  field (GAMG with SOR-Chebyshev smoothing for the potentials phi_s, phi_e and the
  concentrations), built on a copy of A
  without its stored zeros (the Kuhn mesh stores a 7-point stencil in a 15-point pattern; GAMG
  on the padded pattern is 15-100x slower, see the facts sheet). The outer Krylov method (GMRES,
  right preconditioning, unpreconditioned residual norm; the Jacobian is not symmetric) runs on
  the whole bordered system, so V costs one extra preconditioner application per Jacobian and
  does not spoil the preconditioner. The GAMG interpolation is reused while the pattern stays.
  Newton's directions are solved to ``discharge_ksp_rtol`` (1e-6), the extra solves of SNES's
  ``nleqerr`` line search to ``discharge_linesearch_ksp_rtol`` (1e-2; :class:`KrylovRoles`).

Options: prefix ``discharge_`` for SNES and the outer KSP (``discharge_ksp_rtol``), prefix
``discharge_inner_`` for M (e.g. ``discharge_inner_fieldsplit_1_pc_type=lu``). The problem
removes every option it put into PETSc's database when it is destroyed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .._dolfinx import MPI, PETSc
from ..errors import InputError

SOLVERS = ("auto", "mumps", "fieldsplit")
#: "auto": mumps up to this many unknowns, fieldsplit above (see :func:`choose_solver`)
AUTO_THRESHOLD = 30_000

#: ``mumps`` on more than one rank: every rank factors the whole A (reproducible) up to this
#: many unknowns, MUMPS's distributed factorisation above (see :func:`lu_layout`)
REDUNDANT_LU_MAX = AUTO_THRESHOLD

#: GAMG settings of each field split (the conductivity solver's tuned set; on the demo
#: electrode they cut the set-up time ~2x at the same iteration count), with SOR inside the
#: Chebyshev smoother instead of Jacobi. Measured on the 16 um piece (70:28:2 seed 1, 5 um
#: separator, 1 rank; GMRES iterations of the initial solve / of the first 36 s step at 1C):
#: smooth mesh Jacobi 1006 / 919, SOR 433 / 422 (exact LU on both potential fields instead:
#: 55 / 460; GAMG threshold 0.05 without aggressive coarsening 972; 4 smoothing steps 697 / 735);
#: voxel mesh Jacobi 119 / 188, SOR 90 / 166 (and 30 % less time).
GAMG = {"pc_type": "gamg", "pc_gamg_type": "agg", "pc_gamg_agg_nsmooths": "1", "pc_gamg_threshold": "0.01",
        "pc_gamg_aggressive_coarsening": "2", "pc_gamg_coarse_eq_limit": "3000",
        "pc_gamg_reuse_interpolation": "true",
        "mg_levels_ksp_type": "chebyshev", "mg_levels_pc_type": "sor", "mg_levels_ksp_max_it": "2"}


@dataclass(frozen=True)
class LinearSolverSpec:
    """Which solver for A and extra PETSc options (keys without the leading dash)."""

    name: str = "auto"
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.name not in SOLVERS:
            raise InputError("--solver", " or ".join(SOLVERS), self.name)
        key = "discharge_" + LINESEARCH_RTOL_KEY
        if key in self.options:
            check_correction_rtol(self.options[key])

    def krylov_roles_apply(self) -> bool:
        """False when the user's options manage the outer Krylov tolerances themselves
        (Eisenstat-Walker) or skip Jacobians (a lagged Jacobian: a direction without a new
        Jacobian would be taken for a line-search solve): then :class:`KrylovRoles` stays off."""
        o = self.options
        ew = str(o.get("discharge_snes_ksp_ew", "false")).lower() not in ("false", "0", "no")
        lag = str(o.get("discharge_snes_lag_jacobian", "1")).strip() not in ("1", "-1")
        return self.name != "mumps" and not ew and not lag

    @classmethod
    def parse(cls, name: str = "auto", petsc: list[str] | None = None) -> "LinearSolverSpec":
        """``petsc`` entries are ``KEY=VALUE`` or ``KEY`` (value ''), with or without a leading dash."""
        opts = {}
        for item in petsc or []:
            key, sep, val = str(item).partition("=")
            key, val = key.strip().lstrip("-"), val.strip()
            if not key or not sep or any(c.isspace() for c in key):
                raise InputError("--petsc", "KEY=VALUE (KEY= for a flag), e.g. discharge_snes_max_it=40", item)
            kind = _petsc_value_kind(key)
            if kind is not None:
                try:
                    kind(val)
                except ValueError:
                    raise InputError(f"--petsc {key}", f"{'an integer' if kind is int else 'a number'}",
                                     val) from None
            opts[key] = val
        return cls(name, opts)


def _petsc_value_kind(key: str):
    """int or float for PETSc options whose value must be a number (checked here: PETSc itself
    would print a long error dump), else None."""
    import re

    if re.search(r"(max_it|maxit|max_funcs|_restart|_levels|icntl_\d+|_lag_\w*|_its)$", key):
        return int
    if re.search(r"(rtol|atol|stol|divtol|threshold|_damping|cntl_\d+)$", key):
        return float
    return None


def choose_solver(num_unknowns: int, threshold: int = AUTO_THRESHOLD) -> str:
    """``mumps`` for small systems (fast and exact), ``fieldsplit`` above ``threshold`` unknowns."""
    return "mumps" if num_unknowns <= threshold else "fieldsplit"


def lu_layout(num_unknowns: int, num_ranks: int) -> str:
    """How the ``mumps`` solver factors A: ``distributed`` (MUMPS over all ranks; also on 1 rank)
    or ``redundant`` (each rank factors a copy of all of A: bit-reproducible, for small A)."""
    return "redundant" if num_ranks > 1 and num_unknowns <= REDUNDANT_LU_MAX else "distributed"


#: option groups of the LU factorisation itself (moved under ``redundant_`` with that layout)
_FACTOR_KEYS = ("pc_factor_", "mat_mumps_")


def inner_options(spec: LinearSolverSpec, num_fields: int = 4, layout: str = "distributed") -> dict:
    """Default options of M (prefix ``discharge_inner_``), user options on top. ``layout``
    (``mumps`` only): see :func:`lu_layout`."""
    user = {k.removeprefix("discharge_inner_"): v for k, v in spec.options.items()
            if k.startswith("discharge_inner_")}
    if spec.name == "mumps":
        lu = {"pc_factor_mat_solver_type": "mumps", "mat_mumps_icntl_14": "200", "mat_mumps_icntl_24": "1"}
        if layout == "redundant":
            lu.update({k: v for k, v in user.items() if k.startswith(_FACTOR_KEYS)})
            user = {k: v for k, v in user.items() if not k.startswith(_FACTOR_KEYS)}
            base = {"ksp_type": "preonly", "pc_type": "redundant", "redundant_ksp_type": "preonly",
                    "redundant_pc_type": "lu", **{f"redundant_{k}": v for k, v in lu.items()}}
        elif layout == "distributed":
            base = {"ksp_type": "preonly", "pc_type": "lu", **lu}
        else:
            raise ValueError(f"LU layout {layout!r}: expected 'distributed' or 'redundant'")
    else:
        base = {"ksp_type": "preonly", "pc_type": "fieldsplit", "pc_fieldsplit_type": "additive"}
        for i in range(num_fields):
            base[f"fieldsplit_{i}_ksp_type"] = "preonly"
            base.update({f"fieldsplit_{i}_{k}": v for k, v in GAMG.items()})
    base.update(user)
    return base


def outer_ksp_options(spec: LinearSolverSpec, i_ref_pA: float) -> dict:
    """Options of SNES's KSP (prefix ``discharge_``) on the bordered system.

    GMRES keeps at most ``ksp_gmres_restart`` = 100 basis vectors: a solve that needed 272
    iterations held 272 vectors (190 MB at 2e5 unknowns on 1 rank, ~4 GB per rank at the seed's
    full cell on 2 ranks); typical solves take 10-60 iterations and never restart."""
    if spec.name == "mumps":
        return {"ksp_type": "preonly"}
    # the linear residual is in pA like the Newton residual; atol well below SNES's atol
    return {"ksp_type": "gmres", "ksp_pc_side": "right", "ksp_norm_type": "unpreconditioned",
            "ksp_rtol": "1e-6", "ksp_atol": f"{1e-13 * i_ref_pA:.6g}", "ksp_max_it": "300",
            "ksp_gmres_restart": "100", LINESEARCH_RTOL_KEY: f"{LINESEARCH_RTOL:g}"}


#: option (prefix ``discharge_``; ours, not PETSc's) for the relative tolerance of the line
#: search's Krylov solves, see :class:`KrylovRoles`
LINESEARCH_RTOL_KEY = "linesearch_ksp_rtol"
#: its default. Measured on whole 16 um size-study discharges (docs/dolfinx-facts.md): 28-36 %
#: fewer preconditioner applications than at the direction's 1e-6, capacities within 0.03 mAh/g
#: (1e-3: 23 %, 0.07 mAh/g).
LINESEARCH_RTOL = 1e-2


class KrylovRoles:
    """Tells the two kinds of outer Krylov solve of a Newton step apart and gives each its
    relative tolerance.

    SNES's ``nleqerr`` line search solves once more per Newton step, with SNES's own KSP and
    the Jacobian of the step: J(x_k) w = F(x_k + lambda dx) (the simplified Newton correction).
    It uses w for its monotonicity test theta = |w| / |dx| < 1 and for the Lipschitz estimate
    of the next Newton step (from |w - dx_next|; it adds w to the iterate only when |w| <=
    ``snes_stol``, 1e-14 here), which need a few digits, not the direction's 1e-6; at the direction's tolerance these solves cost
    as much as the directions themselves. The first solve after each Jacobian is the direction
    (``direction_rtol``), every later one before the next Jacobian a correction
    (``correction_rtol``). Attach with :meth:`attach`; call :meth:`jacobian_updated` after each
    Jacobian. ``iterations`` counts the Krylov iterations of each kind (failed attempts included).
    The hooks replace any other KSP pre/post-solve hooks (Eisenstat-Walker's):
    :meth:`LinearSolverSpec.krylov_roles_apply` keeps them off where they would conflict.
    """

    def __init__(self, direction_rtol: float, correction_rtol: float):
        self.direction_rtol = float(direction_rtol)
        self.correction_rtol = check_correction_rtol(correction_rtol)
        self.next_is_direction = True
        self._current = "direction"
        self.iterations = {"direction": 0, "correction": 0}
        self.solves = {"direction": 0, "correction": 0}
        #: Krylov iterations of the last direction solve (the preconditioner-reuse rule's measure)
        self.last_direction_its: int | None = None

    def attach(self, ksp: PETSc.KSP) -> None:
        ksp.setPreSolve(self._pre)
        ksp.setPostSolve(self._post)

    def jacobian_updated(self) -> None:
        self.next_is_direction = True

    def _pre(self, ksp, b, x):
        self._current = "direction" if self.next_is_direction else "correction"
        self.next_is_direction = False
        ksp.setTolerances(rtol=self.direction_rtol if self._current == "direction" else self.correction_rtol)

    def _post(self, ksp, b, x):
        its = ksp.getIterationNumber()
        self.iterations[self._current] += its
        self.solves[self._current] += 1
        if self._current == "direction":
            self.last_direction_its = its


def check_correction_rtol(value) -> float:
    """``discharge_linesearch_ksp_rtol`` as a float in (0, 1), else :class:`InputError`."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not (0.0 < v < 1.0):
        raise InputError(f"--petsc discharge_{LINESEARCH_RTOL_KEY}", "a relative tolerance in (0, 1)", value)
    return v


def set_options(prefix: str, opts: dict) -> list[str]:
    """Put ``opts`` under ``prefix`` into PETSc's database; returns the full keys (to clear later)."""
    o = PETSc.Options()
    keys = []
    for k, v in opts.items():
        o[f"{prefix}{k}"] = v
        keys.append(f"{prefix}{k}")
    return keys


def clear_options(keys):
    o = PETSc.Options()
    for k in keys:
        if o.hasName(k):
            o.delValue(k)


def drop_zeros(A: PETSc.Mat) -> PETSc.Mat:
    """Copy of an assembled AIJ matrix without its stored exact zeros (diagonal kept)."""
    P, _ = _filtered(A, None)
    return P


def _filtered(A: PETSc.Mat, keep_prev):
    indptr, indices, vals = A.getValuesCSR()
    r0, r1 = A.getOwnershipRange()
    rows = np.repeat(np.arange(r0, r1, dtype=indices.dtype), np.diff(indptr))
    keep = (vals != 0.0) | (indices == rows)
    if keep_prev is not None and len(keep_prev) == len(keep):
        keep |= keep_prev
    counts = np.bincount(rows[keep] - r0, minlength=r1 - r0)
    new_ptr = np.zeros(r1 - r0 + 1, dtype=indptr.dtype)
    np.cumsum(counts, out=new_ptr[1:])
    P = PETSc.Mat().createAIJ(A.getSizes(), csr=(new_ptr, indices[keep], vals[keep]), comm=A.comm)
    P.assemble()
    return P, keep


class FilteredMatrix:
    """The preconditioner matrix P = A without stored zeros, updated in place while the set of
    non-zero positions stays inside the first one's (else rebuilt with the union pattern)."""

    def __init__(self):
        self.P = None
        self.keep = None
        self.ptr = None
        self.idx = None
        self.rebuilt = 0

    def update(self, A: PETSc.Mat) -> bool:
        """Returns True when P is a new matrix (pattern changed; decided on all ranks together,
        the new P is created collectively)."""
        if self.P is not None:
            indptr, indices, vals = A.getValuesCSR()
            fits = len(vals) == len(self.keep) and not np.any(vals[~self.keep] != 0.0)
            if A.getComm().tompi4py().allreduce(fits, op=MPI.LAND):
                self.P.setValuesCSR(self.ptr, self.idx, vals[self.keep])
                self.P.assemble()
                return False
        old = self.keep
        if self.P is not None:
            self.P.destroy()
        self.P, self.keep = _filtered(A, old)
        indptr, indices, _ = A.getValuesCSR()
        r0, r1 = A.getOwnershipRange()
        rows = np.repeat(np.arange(r0, r1, dtype=indices.dtype), np.diff(indptr))
        counts = np.bincount(rows[self.keep] - r0, minlength=r1 - r0)
        self.ptr = np.zeros(r1 - r0 + 1, dtype=indptr.dtype)
        np.cumsum(counts, out=self.ptr[1:])
        self.idx = indices[self.keep].copy()
        self.rebuilt += 1
        return True

    def destroy(self):
        if self.P is not None:
            self.P.destroy()
            self.P = None


class BorderedSystem:
    """Jacobian action and block-elimination preconditioner of the bordered Newton system.

    ``n`` local field unknowns (the owned part of the DOLFINx block vector) plus V on rank 0.
    ``timings`` accumulates the preconditioner set-up (``setup_s``: filtering, factorisation or
    GAMG set-up, z2) and applications (``apply_s``).
    """

    def __init__(self, comm, spec: LinearSolverSpec, field_sizes: list[int], prefix: str):
        self.comm = comm
        self.A = None  # set before each update()
        self.spec = spec
        self.exact = spec.name == "mumps"
        self.n = int(sum(field_sizes))
        mk = lambda: PETSc.Vec().createMPI((self.n, PETSc.DETERMINE), comm=comm)  # noqa: E731
        self.b, self.c, self.z1, self.z2, self.rf = mk(), mk(), mk(), mk(), mk()
        self.d = 0.0
        self.s = 1.0
        self.linear_its = 0  # solves with M (direct) / preconditioner applications (fieldsplit)
        self.prefix = prefix
        self.ksp = None
        self._new_ksp()
        #: ``mumps`` only: how A is factored (:func:`lu_layout`), else None
        self.lu_layout = (lu_layout(comm.allreduce(self.n, op=MPI.SUM), comm.size) if self.exact else None)
        self.option_keys = set_options(prefix, inner_options(spec, len(field_sizes), self.lu_layout or "distributed"))
        self.filtered = None if self.exact else FilteredMatrix()
        self.field_sizes = field_sizes
        self.timings = {"setup_s": 0.0, "apply_s": 0.0, "setups": 0, "applies": 0}
        #: fieldsplit: build P and GAMG at the first Jacobian of each Newton solve; later
        #: Jacobians of the same solve reuse them (the Krylov method still sees the new A, so
        #: Newton's iterates are unchanged; ~1 s less per Newton step at 2e5 unknowns) while the
        #: last Krylov solve took at most ``rebuild_factor`` x (+5) the iterations of the first one
        #: after the last build. In a step where the NCM surfaces approach saturation the Jacobian
        #: drifts within the solve: with a stale preconditioner GMRES needed 24 -> 212 -> 300 (failed)
        #: iterations over 8 Newton steps, with rebuilt ones 11 Newton steps of 10-25 iterations.
        self.reuse_within_solve = True
        self.rebuild_factor = 1.5
        self.rebuilds = 0
        self._fresh = True
        self._ref_its = None
        #: the outer solves' roles (set by the problem for Krylov outer solvers)
        self.roles: KrylovRoles | None = None

    def _new_ksp(self):
        """A fresh (unconfigured) KSP for M; configured at the next update()."""
        if self.ksp is not None:
            self.ksp.destroy()
        self.ksp = PETSc.KSP().create(self.comm)
        self.ksp.setOptionsPrefix(self.prefix)
        self._ksp_configured = False

    def new_solve(self):
        """Called before each Newton solve: the next Jacobian rebuilds the preconditioner."""
        self._fresh = True

    # -- called by the Jacobian callback after A, b, c, d were assembled --------------------
    def update(self, last_krylov_its: int | None = None):
        """``last_krylov_its``: iterations of the last outer Krylov solve, the last Newton
        direction's when :class:`KrylovRoles` is on (decides the reuse)."""
        t0 = time.perf_counter()
        P = self.A
        reuse = not self.exact and self.reuse_within_solve and not self._fresh
        if reuse and last_krylov_its is not None:
            if self._ref_its is None:
                self._ref_its = last_krylov_its
            elif last_krylov_its > self.rebuild_factor * self._ref_its + 5:
                reuse = False
                self.rebuilds += 1
        if not self.exact:
            if not reuse:
                if self.filtered.update(self.A) and self._ksp_configured:
                    # a P with another pattern: PETSc compares the new matrix's non-zero state
                    # counter with the old one's, which can be equal, and then keeps the field
                    # sub-matrices or GAMG hierarchies of the old pattern (the first Jacobian,
                    # with transport off, has no concentration stiffness: theta_e's GAMG stayed
                    # a Jacobi sweep for whole runs). A new KSP builds everything from the new P.
                    self._new_ksp()
                self._ref_its = None
            P = self.filtered.P
        self.ksp.setOperators(self.A, P)
        self.ksp.getPC().setReusePreconditioner(reuse)
        self._fresh = False
        if not self._ksp_configured:
            if not self.exact:
                self._set_fields(P)
            self.ksp.setFromOptions()
            self._ksp_configured = True
        self.ksp.setUp()
        self._solve(self.b, self.z2)
        self.s = self.d - self.c.dot(self.z2)
        self.timings["setup_s"] += time.perf_counter() - t0
        self.timings["setups"] += 1
        if self.roles is not None:
            self.roles.jacobian_updated()

    def _set_fields(self, P):
        r0 = P.getOwnershipRange()[0]
        pc = self.ksp.getPC()
        pc.setType("fieldsplit")
        splits, off = [], r0
        for i, nloc in enumerate(self.field_sizes):
            iset = PETSc.IS().createStride(nloc, first=off, step=1, comm=P.comm)
            splits.append((str(i), iset))
            off += nloc
        pc.setFieldSplitIS(*splits)

    def _solve(self, rhs, out):
        self.ksp.solve(rhs, out)
        self.linear_its += 1
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
        t0 = time.perf_counter()
        rf, rv = self.split(X)
        with self.rf as a:
            a[:] = rf
        self._solve(self.rf, self.z1)
        dv = (rv - self.c.dot(self.z1)) / self.s
        with Y as y:
            y[: self.n] = self.z1.getArray(readonly=True) - self.z2.getArray(readonly=True) * dv
            if self.comm.rank == 0:
                y[self.n] = dv
        self.timings["apply_s"] += time.perf_counter() - t0
        self.timings["applies"] += 1

    def free(self):
        for o in (self.ksp, self.b, self.c, self.z1, self.z2, self.rf):
            if o is not None:
                o.destroy()
        if self.filtered is not None:
            self.filtered.destroy()
        clear_options(self.option_keys)


def augmented_vector(comm, n_local: int) -> PETSc.Vec:
    """A vector of the n_local field unknowns of each rank plus V at the end of rank 0's part."""
    extra = 1 if comm.rank == 0 else 0
    v = PETSc.Vec().createMPI((n_local + extra, PETSc.DETERMINE), comm=comm)
    return v


def global_sum(comm, x: float) -> float:
    return comm.allreduce(float(x), op=MPI.SUM)


def monolithic_local_to_global(comm, index_maps) -> tuple[np.ndarray, np.ndarray]:
    """Local-to-global map of the monolithic matrix/vector layout of several fields (the layout of
    ``create_vector(spaces, kind="mpi")`` and of a MatNest converted to AIJ: each rank owns one
    contiguous range holding its owned dofs of field 0, then field 1, ...).

    Local numbering: field 0's local dofs (owned, then ghosts), then field 1's, ... (DOLFINx's
    stacked local numbering). Returns (global index of every local index, int32 start of each
    field in the local numbering)."""
    nf = len(index_maps)
    sizes = np.array([im.size_local for im in index_maps], np.int64)
    all_sizes = np.array(comm.allgather(sizes), np.int64).reshape(comm.size, nf)
    field_start = np.vstack([np.zeros((1, nf), np.int64), np.cumsum(all_sizes, axis=0)[:-1]])
    rank_total = all_sizes.sum(axis=1)
    mono_start = np.concatenate([[0], np.cumsum(rank_total)[:-1]])
    field_off = np.hstack([np.zeros((comm.size, 1), np.int64), np.cumsum(all_sizes, axis=1)[:, :-1]])
    parts, bases, base = [], [], 0
    me = comm.rank
    for k, im in enumerate(index_maps):
        owned = mono_start[me] + field_off[me, k] + np.arange(sizes[k], dtype=np.int64)
        ghosts = np.asarray(im.ghosts, np.int64)
        owners = np.asarray(im.owners, np.int64)
        g = mono_start[owners] + field_off[owners, k] + (ghosts - field_start[owners, k])
        parts += [owned, g]
        bases.append(base)
        base += sizes[k] + ghosts.size
    return np.concatenate(parts).astype(PETSc.IntType), np.array(bases, np.int32)
