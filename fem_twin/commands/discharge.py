"""``fem-twin discharge DIR``: galvanostatic discharge (or a protocol) of a generated electrode.

Reads DIR/structure.npz, removes dead clusters, meshes it with a separator, solves the coupled
potentials and concentrations (see :mod:`fem_twin.fem.discharge`) and writes DIR/discharge.csv,
DIR/discharge.json, DIR/discharge.png and XDMF fields (``--output`` to write elsewhere). Exit
code 0 when the protocol finished, 1 when a time step failed or the run was interrupted (files
hold what was computed), 2 on bad input.

Checkpoints: checkpoint.npz in the output directory every --checkpoint-every accepted steps and,
after a SIGTERM (e.g. kill of mpirun or a batch system's time limit), at the next accepted step;
the run then stops with exit code 1. --restart continues from that file (on any number of ranks)
with the same inputs and reproduces the uninterrupted run's voltage curve.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from ..errors import InputError
from ..meshing.meshers import add_mesher_argument


def register(sub) -> None:
    p = sub.add_parser("discharge", help="simulate a galvanostatic discharge (or a protocol)",
                       description=__doc__.split("\n\n")[1], epilog=__doc__.split("\n\n")[2])
    p.add_argument("dir", help="directory holding structure.npz (from 'fem-twin generate')")
    p.add_argument("--c-rate", type=float, default=1.0, help="discharge C-rate (default 1)")
    p.add_argument("--cutoff", type=float, default=3.0, help="cut-off voltage in V (default 3.0)")
    p.add_argument("--protocol", default=None,
                   help="steps instead of --c-rate/--cutoff, e.g. "
                        "'discharge 1C to 3.0 V; rest 10 min; charge 0.5C to 4.3 V'")
    p.add_argument("--params", default=None, help="TOML file overriding parameters (see fem_twin/parameters/cell.py)")
    p.add_argument("--separator", type=float, default=30.0, help="LPSCl separator thickness in um (default 30)")
    p.add_argument("--separator-growth", type=float, default=1.5, metavar="G",
                   help="grade the separator mesh: layers grow by G away from the composite, up to 8 voxels "
                        "thick (default 1.5: a 30 um separator in 11 layers instead of 60; 1: voxel layers)")
    add_mesher_argument(p)
    p.add_argument("--solver", default="auto", choices=["auto", "mumps", "fieldsplit"],
                   help="linear solver: mumps (direct), fieldsplit (GMRES + GAMG per field) or auto "
                        "(default: mumps up to 30k unknowns, fieldsplit above)")
    p.add_argument("--petsc", action="append", default=[], metavar="KEY=VALUE",
                   help="PETSc option, repeatable (prefixes discharge_ for SNES, discharge_inner_ for the "
                        "linear solver), e.g. --petsc discharge_snes_max_it=40")
    p.add_argument("--dt", type=float, default=None, help="initial time step in s (default: 1/200 h at the C-rate)")
    p.add_argument("--dt-max", type=float, default=None, help="largest time step in s (default: 1/50 h at the C-rate)")
    p.add_argument("--output-every", type=int, default=10, help="XDMF fields every N steps (default 10)")
    p.add_argument("--no-fields", action="store_true", help="skip the XDMF fields")
    p.add_argument("--checkpoint-every", type=int, default=10, metavar="N",
                   help="write OUTPUT/checkpoint.npz every N accepted time steps (default 10; 0: only on "
                        "SIGTERM). After SIGTERM the run writes a checkpoint at the next accepted step and "
                        "stops (exit code 1)")
    p.add_argument("--restart", action="store_true",
                   help="continue from OUTPUT/checkpoint.npz (same structure, parameters, protocol and "
                        "time-step options; any number of ranks): the CSV is continued from the "
                        "checkpoint time, fields go to fields_*_restartN.xdmf")
    p.add_argument("-o", "--output", default=None, help="output directory (default: DIR)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a complete result in the output directory (refused without it)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_discharge)


def build_inputs(args):
    """ParameterSet, Protocol, solver spec and stepping options from parsed arguments."""
    from ..fem.discharge_solvers import LinearSolverSpec
    from ..fem.stepping import SteppingOptions
    from ..parameters.cell import ParameterSet
    from ..protocol import Protocol

    params = ParameterSet.from_toml(args.params) if args.params else ParameterSet()
    if args.protocol is not None:
        if not args.protocol.strip():
            raise InputError("--protocol", "steps such as 'discharge 1C to 3.0 V; rest 10 min'", args.protocol)
        protocol = Protocol.parse(args.protocol)
    else:
        if not (math.isfinite(args.c_rate) and args.c_rate > 0):
            raise InputError("--c-rate", "a C-rate > 0", args.c_rate)
        protocol = Protocol.discharge(args.c_rate, args.cutoff)
    for name, v in (("--dt", args.dt), ("--dt-max", args.dt_max)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise InputError(name, "a time step > 0 s", v)
    if args.output_every < 1:
        raise InputError("--output-every", "an integer >= 1", args.output_every)
    stepping = SteppingOptions(dt_initial_s=args.dt, dt_max_s=args.dt_max, output_every=args.output_every)
    return params, protocol, LinearSolverSpec.parse(args.solver, args.petsc), stepping


def checkpoint_options(args):
    """CheckpointOptions from ``--checkpoint-every`` and ``--restart``."""
    from ..fem.checkpoint import CheckpointOptions

    every = getattr(args, "checkpoint_every", 10)
    if every is None or every < 0:
        raise InputError("--checkpoint-every", "an integer >= 0 (0: only on SIGTERM)", every)
    return CheckpointOptions(every=every, restart=bool(getattr(args, "restart", False)))


def check_output_dir(outdir: Path, overwrite: bool, restart: bool) -> None:
    """Refuse to destroy a complete result: without --overwrite or --restart an output directory
    whose discharge.json is complete is an input error (rank 0 looks, every rank raises)."""
    from .._dolfinx import MPI
    from ..fem.discharge_io import has_complete_result

    comm = MPI.COMM_WORLD
    from ..outputs import output_dir

    why = None
    if comm.rank == 0:
        try:
            output_dir(outdir)
        except InputError as exc:
            why = (exc.field, exc.expected, exc.got)
        if why is None and not (overwrite or restart) and has_complete_result(outdir):
            why = ("-o/--output", "a directory without a complete discharge result (--overwrite replaces it, "
                   "--restart continues it)", f"{outdir / 'discharge.json'} is complete")
    why = comm.bcast(why, root=0)
    if why:
        raise InputError(*why)


def cmd_discharge(args) -> int:
    from ..microstructure.image import VoxelImage

    params, protocol, solver, stepping = build_inputs(args)
    checkpoint = checkpoint_options(args)
    if args.output is not None and not args.output.strip():
        raise InputError("-o/--output", "a directory path", args.output)
    check_output_dir(Path(args.output or args.dir), args.overwrite, checkpoint.restart)
    image = VoxelImage.load(Path(args.dir))
    from ..fem.discharge_run import run_discharge

    result = run_discharge(image.labels, image.voxel_size_um, Path(args.output or args.dir), params=params,
                           protocol=protocol, separator_um=args.separator, solver=solver, stepping=stepping,
                           separator_growth=args.separator_growth, mesher=args.mesher,
                           write_fields=not args.no_fields, quiet=args.quiet, checkpoint=checkpoint)
    if not result.complete and result.summary.get("interrupted_at_time_s") is not None:
        from .._dolfinx import MPI

        if MPI.COMM_WORLD.rank == 0:
            print(f"fem-twin discharge: {result.message} at t = {result.summary['interrupted_at_time_s']:.6g} s; "
                  f"continue with --restart", file=sys.stderr)
        return 1
    if not result.complete:
        print(f"fem-twin discharge: error: {result.message}; results up to the last good step are in "
              f"{args.output or args.dir} (discharge.json marked incomplete)", file=sys.stderr)
        return 1
    return 0
