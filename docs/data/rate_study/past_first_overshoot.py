"""Continue a rate-study case past the node that ended it, to the 3.0 V cut-off (issue 19; session 37).

    mpirun -n R .venv/bin/python docs/data/rate_study/past_first_overshoot.py --tolerance 0.05 \\
        STRUCTURE --settings RUN/settings.json -o RUN --cache STRUCTURE/.fem_twin_cache --restart

(the arguments after ``--tolerance`` are ``fem-twin discharge``'s; run it on a *copy* of a case folder
whose ``checkpoint.npz`` holds the state the study's run ended in, or without ``--restart`` from t = 0).

Why. A discharge step is rejected when any NCM node's lithiation x leaves (0, 1) after Newton
(``DischargeProblem.concentrations_ok``); below ``saturation_dt`` that ends the discharge ("NCM surface
lithiation reached c_max" / "surface saturation at ..."). The lumped scheme keeps x < 1 only when the
NCM stiffness is an M-matrix (the voxel mesh's Kuhn tetrahedra: fem_twin/fem/discharge.py); on the smooth
gmsh mesh 27 % of the NCM edges couple with K_ij > 0 (``nonmonotone_edges.py``), diffusion can push a
node past 1, and the run ends at the first such node although the rest of the electrode still takes
the current. This script changes only the acceptance test, for this process: x in (-tol, 1 + tol)
is accepted (the kinetics already see x clipped to (1e-10, 1 - 1e-10)), and it appends after every
Newton solve the number of owned NCM nodes above 1 and the largest x to ``RUN/overshoot.csv``, so
the size of what was let through is on file. Nothing in fem_twin is changed; the study's runs are not
affected. The voltage curve continues in ``RUN/discharge.csv``.
"""

from __future__ import annotations

import sys
from pathlib import Path


def relaxed_concentrations_ok(tolerance: float, log: Path):
    """A replacement for ``DischargeProblem.concentrations_ok``: accepts NCM lithiation in
    (-tolerance, 1 + tolerance) (c_e must stay > 0 as before) and appends one row per call to ``log``
    (rank 0). Collective."""
    import numpy as np

    from fem_twin._dolfinx import MPI

    def concentrations_ok(self) -> bool:
        xs = self.theta_s.x.array
        own = xs[: self.theta_s.function_space.dofmap.index_map.size_local]
        good = bool(np.all(np.isfinite(xs)) and np.all(xs > -tolerance) and np.all(xs < 1 + tolerance))
        if not self.frozen_ce:
            xe = self.theta_e.x.array
            good = good and bool(np.all(np.isfinite(xe)) and np.all(xe > 0))
        above = self.comm.allreduce(int((own > 1).sum()))
        below = self.comm.allreduce(int((own < 0).sum()))
        x_max = self.comm.allreduce(float(own.max()) if own.size else -np.inf, op=MPI.MAX)
        x_min = self.comm.allreduce(float(own.min()) if own.size else np.inf, op=MPI.MIN)
        good = bool(self.comm.allreduce(int(good), op=MPI.MIN))
        if self.comm.rank == 0:
            new = not log.exists()
            with log.open("a") as f:
                if new:
                    f.write("voltage_V,nodes_above_1,x_max,nodes_below_0,x_min,accepted_bounds\n")
                f.write(f"{float(self.V.value):.6f},{above},{x_max:.8f},{below},{x_min:.3e},{int(good)}\n")
        return good

    return concentrations_ok


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] != "--tolerance":
        raise SystemExit("usage: past_first_overshoot.py --tolerance TOL <fem-twin discharge arguments>")
    tolerance = float(argv[1])
    if not 0 <= tolerance < 0.5:
        raise SystemExit(f"--tolerance: expected a lithiation tolerance in [0, 0.5), got {argv[1]}")
    rest = argv[2:]
    out = Path(rest[rest.index("-o") + 1]) if "-o" in rest else Path(rest[0])
    out.mkdir(parents=True, exist_ok=True)
    from fem_twin.cli import main as cli
    from fem_twin.fem import discharge

    discharge.DischargeProblem.concentrations_ok = relaxed_concentrations_ok(tolerance, out / "overshoot.csv")

    return cli(["discharge", *rest])


if __name__ == "__main__":
    sys.exit(main())
