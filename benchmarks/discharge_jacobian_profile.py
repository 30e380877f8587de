"""Where one Jacobian of the discharge problem spends its time (mean of 3, seconds, max over ranks).

    mpirun -n 2 python benchmarks/discharge_jacobian_profile.py out/discharge_demo [--separator 5] [--ufl-interface]

Prints: the non-linear part assembled into the nest (all blocks; by default the interface node by
node, ``--ufl-interface``: every block from its UFL form), each UFL block alone, the cached linear
blocks' additions, the nest -> AIJ copy, the border vectors b, c, d and one residual.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="directory holding structure.npz")
    ap.add_argument("--separator", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ufl-interface", action="store_true", help="the interface terms from UFL forms")
    a = ap.parse_args(argv)

    from fem_twin._dolfinx import MPI, PETSc  # (first: loads dolfinx_solver's MPI before dolfinx)

    from dolfinx.fem.petsc import assemble_matrix  # noqa: I001
    from fem_twin.fem.box_mesh import tagged_mesh
    from fem_twin.fem.discharge import DischargeProblem
    from fem_twin.fem.discharge_run import electrode_numbers
    from fem_twin.fem.discharge_solvers import LinearSolverSpec
    from fem_twin.fem.domains import build_domains, prune_dead_clusters
    from fem_twin.microstructure.image import VoxelImage
    from fem_twin.parameters.cell import ParameterSet

    comm = MPI.COMM_WORLD
    image = VoxelImage.load(Path(a.dir))
    params = ParameterSet()
    num = electrode_numbers(image.labels, image.voxel_size_um, params)
    pruned, _ = prune_dead_clusters(image.labels, image.voxel_size_um)
    dom = build_domains(tagged_mesh(pruned.astype("uint8"), image.voxel_size_um, a.separator, comm))
    pb = DischargeProblem(dom, params, num["eps_ncm"], num["i_1c_A"], LinearSolverSpec("fieldsplit"),
                          nodal_interface=not a.ufl_interface)
    pb.solve(num["i_1c_A"], 1.0, transport=False)  # (creates the AIJ copy pb.A)
    pb.dt.value = 36.0
    times: dict[str, float] = {}

    def timed(name, fn):
        comm.Barrier()
        t = time.perf_counter()
        fn()
        comm.Barrier()
        times[name] = times.get(name, 0.0) + comm.allreduce(time.perf_counter() - t, op=MPI.MAX)

    def nonlinear():
        pb.Anest.zeroEntries()
        if pb.nodal:
            pb._assemble_nonlinear_nodal(None)
        else:
            assemble_matrix(pb.Anest, pb.Jnl_c, pb.bcs, diag=1.0)
        pb.Anest.assemble()

    def linear():
        for k, scale, M in pb.lin_mats:
            pb.Anest.getNestSubMatrix(k, k).axpy(scale(36.0, 1.0), M, PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        pb.Anest.assemble()

    def border():
        pb.assemble_border()

    for _ in range(a.repeat):
        timed("non-linear part, all blocks", nonlinear)
        timed("cached linear blocks (axpy)", linear)
        timed("nest -> AIJ copy", lambda: pb.Anest.convert("aij", out=pb.A))
        timed("border vectors b, c, d", border)
        timed("residual", lambda: pb._residual(None, pb.X, pb.R))
        for i, row in enumerate(pb.Jnl_c):
            for j, form in enumerate(row):
                if form is None:
                    continue
                M = pb.Anest.getNestSubMatrix(i, j)
                timed(f"  block [{i}][{j}] alone",
                      lambda: (assemble_matrix(M, form, pb.bcs, diag=1.0 if i == j else 0.0), M.assemble()))
    if comm.rank == 0:
        print(f"{pb.num_dofs} unknowns on {comm.size} rank(s); seconds per call:")
        for k, v in times.items():
            print(f"{k:32s} {v / a.repeat:7.3f}")
    pb.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
