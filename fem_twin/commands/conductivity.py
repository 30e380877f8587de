"""``fem-twin conductivity DIR --phase ncm|lpscl``: effective conductivity by Ohm's law."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError


def register(sub) -> None:
    p = sub.add_parser(
        "conductivity", help="effective electronic (ncm) or ionic (lpscl) conductivity of a structure",
        description="Solve Ohm's law on the phase's mesh (1 V between the two composite faces normal to "
                    "--axis, no flux elsewhere; clusters not connected to both faces removed first, "
                    "26-connectivity like the mesh) and write DIR/conductivity_<phase>.json and "
                    "DIR/conductivity_<phase>.xdmf (potential in V, current density in A/m2) for ParaView. "
                    "For --axis x or y the files get a _x / _y suffix. Runs under mpirun.")
    p.add_argument("dir", help="directory holding structure.npz")
    p.add_argument("--phase", required=True, help="ncm (electronic) or lpscl (ionic)")
    p.add_argument("--axis", default="z", help="x, y or z (default z: separator plane to collector)")
    p.add_argument("--sigma", type=float, default=None,
                   help="intrinsic conductivity in S/m (default [Park2020]: ncm 0.085; lpscl "
                        "100 * (-4.45e-3 eps_NCM + 4.64e-3))")
    p.add_argument("--solver", default="gamg", help="gamg (CG + GAMG, default) or mumps (direct, small cases)")
    p.add_argument("--rtol", type=float, default=1e-10, help="relative residual tolerance of CG (default 1e-10)")
    p.add_argument("--from-mesh", action="store_true",
                   help="solve on the submesh of DIR/mesh.xdmf (from 'fem-twin mesh', with or without a "
                        "separator) instead of meshing the phase from the image (same cells, same result)")
    p.add_argument("--no-fields", action="store_true", help="skip the XDMF of potential and current density")
    p.set_defaults(func=cmd_conductivity)


def output_stem(phase: str, axis: str) -> str:
    """``conductivity_<phase>`` (z) or ``conductivity_<phase>_<axis>``."""
    axis = str(axis).lower()
    return f"conductivity_{phase.lower()}" + ("" if axis == "z" else f"_{axis}")


def run_conductivity(d: Path, phase: str, axis: str = "z", sigma=None, solver: str = "gamg",
                     rtol: float = 1e-10, from_mesh: bool = False, fields: bool = True, comm=None):
    """Compute and write one phase's effective conductivity for the structure in ``d``; returns
    the :class:`~fem_twin.fem.conductivity.ConductivityResult` (on every rank)."""
    from .._dolfinx import MPI
    from ..fem.conductivity import AXES, CONDUCTING, effective_conductivity
    from ..microstructure.image import VoxelImage

    comm = comm or MPI.COMM_WORLD
    if str(phase).lower() not in CONDUCTING:
        raise InputError("--phase", "ncm (electronic) or lpscl (ionic)", phase)
    if str(axis).lower() not in AXES:
        raise InputError("--axis", "one of x, y, z", axis)
    image = VoxelImage.load(d)
    tm = None
    if from_mesh:
        from ..meshing.io import MESH_XDMF, read_xdmf

        tm = read_xdmf(d / MESH_XDMF, comm)
    stem = output_stem(phase, axis)
    result = effective_conductivity(image.labels, image.voxel_size_um, phase, axis, sigma_S_per_m=sigma,
                                    solver=solver, rtol=rtol, tagged_mesh=tm,
                                    fields_path=(d / f"{stem}.xdmf") if fields else None, comm=comm)
    if comm.rank == 0:
        result.save_json(d / f"{stem}.json")
    return result


def cmd_conductivity(args) -> int:
    from .._dolfinx import MPI

    comm = MPI.COMM_WORLD
    d = Path(args.dir)
    r = run_conductivity(d, args.phase, args.axis, args.sigma, args.solver, args.rtol,
                         args.from_mesh, not args.no_fields, comm)
    if comm.rank == 0:
        stem = output_stem(args.phase, args.axis)
        if r.percolates:
            print(f"{r.phase} along {r.axis}: sigma_eff = {r.sigma_eff_S_per_m:.6g} S/m "
                  f"(sigma = {r.sigma_intrinsic_S_per_m:.6g} S/m, eps = {r.volume_fraction:.4f}, "
                  f"active {r.active_volume_fraction:.4f}, tau = {r.tortuosity_factor:.4g}); "
                  f"{r.ksp_iterations} iterations, {r.num_dofs} dofs, mesh {r.mesh_time_s:.1f} s, "
                  f"solve {r.solve_time_s:.1f} s on {r.num_ranks} rank(s)")
        else:
            print(f"{r.phase} along {r.axis}: {r.message}")
        print(f"  -> {d / (stem + '.json')}" + ("" if args.no_fields or not r.percolates
                                                 else f", {d / (stem + '.xdmf')}"))
    return 0
