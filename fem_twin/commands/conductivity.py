"""``fem-twin conductivity DIR --phase ncm|lpscl [--method fv|p1]``: effective conductivity by Ohm's law.

Default method ``fv``: cell-centred voxel finite volumes (one unknown per voxel, two-point fluxes
between face neighbours, potentials on the composite's faces), the discretisation of the voxel
tools this quantity is usually computed with (GeoDict's ConductoDict in the seed paper, PoreSpy,
TauFactor). Measured on the seed-size 70 wt% structure (``benchmarks/conductivity.py``, 1 rank)
it agrees with PoreSpy's ``tortuosity_fd`` within 2 % (NCM +0.5 %, LPSCl +0.6 %) and its solve
takes 0.6x PoreSpy's time (phase mesh + solve 0.8-1.0x).
``p1`` (P1 on the Kuhn tetrahedral mesh, 26-connected) is the discretisation of the discharge
model and is kept for consistency with it; on coarse tortuous images it overestimates sigma_eff
(a conforming method: +16 % LPSCl, +59 % NCM against PoreSpy at the seed's size).
``--method p1 --mesher smooth``: P1 on the smooth mesh of the image (smoothed interfaces, gmsh on
rank 0; clusters pruned on the mesh through shared vertices), the discharge's optional mesh.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..meshing.meshers import add_mesher_argument, check_mesher

#: default discretisation of the command (see the module docstring); the same as the library's
DEFAULT_METHOD = "fv"


def register(sub) -> None:
    p = sub.add_parser(
        "conductivity", help="effective electronic (ncm) or ionic (lpscl) conductivity of a structure",
        description="Solve Ohm's law on the phase (1 V between the two composite faces normal to "
                    "--axis, no flux elsewhere; clusters not connected to both faces removed first) and "
                    "write DIR/conductivity_<phase>.json and DIR/conductivity_<phase>.xdmf (potential in V, "
                    "current density in A/m2) for ParaView. --method fv (default): voxel finite volumes, "
                    "6-connected, as GeoDict/PoreSpy; --method p1: P1 on the Kuhn tetrahedral mesh, "
                    "26-connected, as the discharge model. For --axis x or y the files get a _x / _y "
                    "suffix. Runs under mpirun.")
    p.add_argument("dir", help="directory holding structure.npz")
    p.add_argument("--phase", required=True, help="ncm (electronic) or lpscl (ionic)")
    p.add_argument("--axis", default="z", help="x, y or z (default z: separator plane to collector)")
    p.add_argument("--sigma", type=float, default=None,
                   help="intrinsic conductivity in S/m (default [Park2020]: ncm 0.085; lpscl "
                        "100 * (-4.45e-3 eps_NCM + 4.64e-3))")
    p.add_argument("--method", default=DEFAULT_METHOD,
                   help="fv (voxel finite volumes, default) or p1 (P1 on a tetrahedral mesh, see --mesher)")
    add_mesher_argument(p, default="voxel")  # --method fv (the default) works on the voxels only
    p.add_argument("--solver", default="gamg", help="gamg (CG + GAMG, default) or mumps (direct, small cases)")
    p.add_argument("--rtol", type=float, default=1e-10, help="relative residual tolerance of CG (default 1e-10)")
    p.add_argument("--from-mesh", action="store_true",
                   help="p1 only: solve on the submesh of DIR/mesh.xdmf (from 'fem-twin mesh', with or "
                        "without a separator) instead of meshing the phase from the image (same result)")
    p.add_argument("--connectivity", type=int, default=None, choices=(6, 26),
                   help="p1 only: 26 (default; what a P1 mesh conducts through) or 6: phase cells that "
                        "touch only along an edge or at a corner do not conduct (the voxel mesh splits "
                        "such voxels, the smooth mesh cuts its pinch vertices), as fv and the analysis")
    p.add_argument("--no-fields", action="store_true", help="skip the XDMF of potential and current density")
    p.set_defaults(func=cmd_conductivity)


def output_stem(phase: str, axis: str) -> str:
    """``conductivity_<phase>`` (z) or ``conductivity_<phase>_<axis>``."""
    axis = str(axis).lower()
    return f"conductivity_{phase.lower()}" + ("" if axis == "z" else f"_{axis}")


def run_conductivity(d: Path, phase: str, axis: str = "z", sigma=None, solver: str = "gamg",
                     rtol: float = 1e-10, from_mesh: bool = False, fields: bool = True, comm=None,
                     method: str = DEFAULT_METHOD, mesher: str = "voxel", connectivity: int | None = None):
    """Compute and write one phase's effective conductivity for the structure in ``d`` with
    ``method`` 'fv' or 'p1' (on the ``mesher`` 'voxel' or 'smooth' mesh); ``sigma`` in S/m (None: [Park2020]). Returns the
    :class:`~fem_twin.fem.conductivity.ConductivityResult` (on every rank)."""
    from .._dolfinx import MPI
    from ..fem.conductivity import AXES, CONDUCTING, check_method, effective_conductivity
    from ..microstructure.image import VoxelImage

    comm = comm or MPI.COMM_WORLD
    if str(phase).lower() not in CONDUCTING:
        raise InputError("--phase", "ncm (electronic) or lpscl (ionic)", phase)
    if str(axis).lower() not in AXES:
        raise InputError("--axis", "one of x, y, z", axis)
    method = check_method(method)
    mesher = check_mesher(mesher)
    if mesher.startswith("smooth") and method != "p1":
        raise InputError("--mesher", "voxel with --method fv (finite volumes on the voxels)", mesher)
    if from_mesh and method != "p1":
        raise InputError("--from-mesh", "--method p1 (mesh.xdmf is tetrahedral; fv meshes the voxels "
                         "itself)", f"--method {method}")
    image = VoxelImage.load(d)
    tm = None
    if from_mesh:
        from ..meshing.io import MESH_XDMF, read_xdmf

        tm = read_xdmf(d / MESH_XDMF, comm)
    stem = output_stem(phase, axis)
    result = effective_conductivity(image.labels, image.voxel_size_um, phase, axis, sigma_S_per_m=sigma,
                                    solver=solver, rtol=rtol, tagged_mesh=tm, method=method, mesher=mesher,
                                    connectivity=connectivity,
                                    fields_path=(d / f"{stem}.xdmf") if fields else None, comm=comm)
    if comm.rank == 0:
        result.save_json(d / f"{stem}.json")
    return result


def cmd_conductivity(args) -> int:
    from .._dolfinx import MPI

    comm = MPI.COMM_WORLD
    d = Path(args.dir)
    r = run_conductivity(d, args.phase, args.axis, args.sigma, args.solver, args.rtol,
                         args.from_mesh, not args.no_fields, comm, method=args.method,
                         mesher=args.mesher, connectivity=args.connectivity)
    if comm.rank == 0:
        stem = output_stem(args.phase, args.axis)
        if r.percolates:
            print(f"{r.phase} along {r.axis} ({r.method}{', smooth mesh' if r.mesher == 'smooth' else ''}): sigma_eff = {r.sigma_eff_S_per_m:.6g} S/m "
                  f"(sigma = {r.sigma_intrinsic_S_per_m:.6g} S/m, eps = {r.volume_fraction:.4f}, "
                  f"active {r.active_volume_fraction:.4f}, tau = {r.tortuosity_factor:.4g}); "
                  f"{r.ksp_iterations} iterations, {r.num_dofs} unknowns, mesh {r.mesh_time_s:.1f} s, "
                  f"solve {r.solve_time_s:.1f} s on {r.num_ranks} rank(s)")
        else:
            print(f"{r.phase} along {r.axis}: {r.message}")
        print(f"  -> {d / (stem + '.json')}" + ("" if args.no_fields or not r.percolates
                                                 else f", {d / (stem + '.xdmf')}"))
    return 0
