"""Where one Jacobian of the discharge problem spends its time (mean of 3, seconds, max over ranks).

    mpirun -n 2 python benchmarks/discharge_jacobian_profile.py out/discharge_demo [--separator 5] [--ufl-reference]

Prints: the production Jacobian (``assemble_jacobian``: a copy of the linear part, the bulk
non-linear blocks, the interface node by node, into one AIJ matrix) and its parts -- the linear
part rebuilt for a new dt (nest additions and conversion, once per time step), its copy, the
interface kinetics, each bulk UFL block alone, the interface added node by node -- the border
vectors b, c, d and one residual; ``--ufl-reference``: also the whole Jacobian from its UFL forms
(``tests/reference_assembly.py``, the tests' reference; the interface from UFL costs ~15x more).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="directory holding structure.npz")
    ap.add_argument("--separator", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ufl-reference", action="store_true",
                    help="also the whole Jacobian from its UFL forms (the tests' reference)")
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
    pb = DischargeProblem(dom, params, num["eps_ncm"], num["i_1c_A"], LinearSolverSpec("fieldsplit"))
    pb.solve(num["i_1c_A"], 1.0, transport=False)
    pb.dt.value = 36.0
    ref = None
    if a.ufl_reference:
        sys.path.insert(0, str(ROOT / "tests"))
        from reference_assembly import UFLReference

        ref = UFLReference(pb)
    times: dict[str, float] = {}

    def timed(name, fn):
        comm.Barrier()
        t = time.perf_counter()
        fn()
        comm.Barrier()
        times[name] = times.get(name, 0.0) + comm.allreduce(time.perf_counter() - t, op=MPI.MAX)

    def new_dt():
        pb._lin_key = None  # (as after a change of dt)
        pb._update_linear_part()

    def interface_only():  # into the nest's blocks (rebuilt from scratch by the next new dt)
        pb.iface.add_jacobian(pb._blocks, kin, 1.0)
        pb.Anest.assemble()

    for _ in range(a.repeat):
        timed("Jacobian (production)", pb.assemble_jacobian)
        timed("  linear part, new dt", new_dt)
        timed("  linear part, copy", lambda: pb._Alin.copy(pb.A, PETSc.Mat.Structure.SAME_NONZERO_PATTERN))
        timed("  interface kinetics", pb._kinetics)
        kin = pb._kinetics()
        for i, row in enumerate(pb.Jnl_c):
            for j, form in enumerate(row):
                if form is None:
                    continue
                M = pb.Anest.getNestSubMatrix(i, j)
                timed(f"  bulk block [{i}][{j}] alone",
                      lambda: (assemble_matrix(M, form, pb.bcs, diag=1.0 if i == j else 0.0), M.assemble()))
        timed("  interface node by node", interface_only)
        timed("border vectors b, c, d", pb.assemble_border)
        timed("residual", lambda: pb._residual(None, pb.X, pb.R))
        if ref is not None:
            timed("Jacobian (UFL reference)", ref.jacobian)
    if comm.rank == 0:
        print(f"{pb.num_dofs} unknowns on {comm.size} rank(s); seconds per call:")
        for k, v in times.items():
            print(f"{k:32s} {v / a.repeat:7.3f}")
    if ref is not None:
        ref.destroy()
    pb.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
