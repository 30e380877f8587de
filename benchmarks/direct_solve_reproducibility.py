"""Is a direct solve on several ranks the same bits every run? (the discharge's small-system solver)

    mpirun -n 2 python benchmarks/direct_solve_reproducibility.py [--n 22] [--repeats 12]

Assembles one non-symmetric P1 system on the unit cube (n^3 cells: -div(k grad u) + b.grad u
+ 1e-3 u, k = 1 + 100 sin^2(7x); 12,167 unknowns at n = 22), then for each linear solver factors it
anew ``--repeats`` times (a new KSP each time, as in separate runs) and prints how many of the
repeats differ from the first solution in at least one entry, the differing entries, and the mean
time per factorisation + solve. Solvers: MUMPS distributed over the ranks (what ``pc_type lu``
does), SuperLU_dist, and PETSc's ``redundant`` preconditioner with sequential MUMPS on each rank
(the discharge's layout below 30k unknowns on more than one rank, see
``fem_twin/fem/discharge_solvers.lu_layout``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

MUMPS = {"mat_mumps_icntl_14": "200", "mat_mumps_icntl_24": "1"}
CONFIGS = {
    "mumps distributed": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps", **MUMPS},
    "superlu_dist": {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "superlu_dist"},
    "redundant + sequential mumps": {"ksp_type": "preonly", "pc_type": "redundant", "redundant_ksp_type": "preonly",
                                     "redundant_pc_type": "lu", "redundant_pc_factor_mat_solver_type": "mumps",
                                     **{f"redundant_{k}": v for k, v in MUMPS.items()}},
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=22, help="cells per edge of the unit cube (default 22)")
    ap.add_argument("--repeats", type=int, default=12, help="factorisations per solver (default 12)")
    args = ap.parse_args()

    from conftest import nonsymmetric_p1_system

    from fem_twin._dolfinx import MPI, PETSc

    comm = MPI.COMM_WORLD
    A, b, _, V = nonsymmetric_p1_system(comm, args.n)  # V keeps the mesh (and A's communicator) alive
    if comm.rank == 0:
        print(f"{A.getSize()[0]:,} unknowns on {comm.size} rank(s), {args.repeats} factorisations per solver")
    opts = PETSc.Options()
    for name, cfg in CONFIGS.items():
        sols, t0 = [], time.perf_counter()
        for rep in range(args.repeats):
            prefix = f"bench_repro_{rep}_"
            for key, val in cfg.items():
                opts[prefix + key] = val
            ksp = PETSc.KSP().create(comm)
            ksp.setOptionsPrefix(prefix)
            ksp.setOperators(A)
            ksp.setFromOptions()
            sol = A.createVecRight()
            ksp.solve(b, sol)
            sols.append(sol.getArray(readonly=True).copy())
            ksp.destroy()
            sol.destroy()
            for key in cfg:
                del opts[prefix + key]
        seconds = (time.perf_counter() - t0) / args.repeats
        per_repeat = [comm.allreduce(int(np.count_nonzero(s != sols[0])), op=MPI.SUM) for s in sols[1:]]
        if comm.rank == 0:
            print(f"{name:30s} repeats differing from the first: {sum(d > 0 for d in per_repeat)} of "
                  f"{len(per_repeat)} (entries {per_repeat}); {seconds:.3f} s per factorisation + solve", flush=True)


if __name__ == "__main__":
    main()
