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
    from ..fem import settings as S

    p = sub.add_parser("discharge", help="simulate a galvanostatic discharge (or a protocol)",
                       description=__doc__.split("\n\n")[1], epilog=__doc__.split("\n\n")[2])
    p.add_argument("dir", help="directory holding structure.npz (from 'fem-twin generate')")
    p.add_argument("--settings", default=None, metavar="JSON",
                   help="run settings (fem_twin/fem/settings.py: protocol, params, mesher, separator, stepping, "
                        "solver, outputs, checkpoints); the options below override them")
    p.add_argument("--c-rate", type=float, default=None, help=f"discharge C-rate (default {S.C_RATE:g})")
    p.add_argument("--cutoff", type=float, default=None, help=f"cut-off voltage in V (default {S.CUTOFF_V:g})")
    p.add_argument("--protocol", default=None,
                   help="steps instead of --c-rate/--cutoff, e.g. "
                        "'discharge 1C to 3.0 V; rest 10 min; charge 0.5C to 4.3 V'")
    p.add_argument("--params", default=None, help="TOML file overriding parameters (see fem_twin/parameters/cell.py)")
    p.add_argument("--temperature", default=None, metavar="T",
                   help="cell temperature in kelvin (303.15), or in degrees Celsius with a C suffix (30C); "
                        "k, D_s, D_e and kappa follow the parameters' activation energies (default: none, "
                        "only RT/F changes)")
    p.add_argument("--separator", type=float, default=None,
                   help=f"LPSCl separator thickness in um (default {S.SEPARATOR_UM:g})")
    p.add_argument("--separator-growth", type=float, default=None, metavar="G",
                   help="grade the separator mesh: layers grow by G away from the composite, up to 8 voxels "
                        f"thick (default {S.SEPARATOR_GROWTH:g}: a 30 um separator in 11 layers instead of 60; "
                        "1: voxel layers)")
    add_mesher_argument(p)
    p.set_defaults(mesher=None)  # (the settings' mesher unless given)
    add_transport_argument(p)
    p.add_argument("--solver", default=None, choices=list(S.SOLVERS),
                   help="linear solver: mumps (direct), fieldsplit (GMRES + GAMG per field) or auto "
                        "(default: mumps up to 30k unknowns, fieldsplit above)")
    p.add_argument("--petsc", action="append", default=None, metavar="KEY=VALUE",
                   help="PETSc option, repeatable (prefixes discharge_ for SNES, discharge_inner_ for the "
                        "linear solver), e.g. --petsc discharge_snes_max_it=40")
    p.add_argument("--dt", type=float, default=None,
                   help=f"initial time step in s (default: {S.DT_INITIAL_H:g} h at the C-rate)")
    p.add_argument("--dt-max", type=float, default=None,
                   help=f"largest time step in s (default: {S.DT_MAX_H:g} h at the C-rate)")
    p.add_argument("--lithiation-overshoot", type=float, default=None, metavar="TOL",
                   help="accept time steps whose NCM nodes' lithiation stays inside (-TOL, 1 + TOL) (default 0: "
                        "the first node at c_max rejects the step; on the smooth mesh diffusion can push one node "
                        "past it early, see fem_twin/fem/settings.py); the largest x per step is in the CSV")
    p.add_argument("--output-every", type=int, default=None,
                   help=f"XDMF fields every N steps (default {S.OUTPUT_EVERY})")
    p.add_argument("--no-fields", action="store_true", help="skip the XDMF fields")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                   help=f"write OUTPUT/checkpoint.npz every N accepted time steps (default {S.CHECKPOINT_EVERY}; "
                        "0: only on SIGTERM). After SIGTERM the run writes a checkpoint at the next accepted "
                        "step and stops (exit code 1)")
    p.add_argument("--max-wall-time", type=float, default=None, metavar="S",
                   help="after S seconds of this run: a checkpoint at the next accepted step, then stop as "
                        "after SIGTERM (exit code 1; continue with --restart)")
    p.add_argument("--restart", action="store_true",
                   help="continue from OUTPUT/checkpoint.npz (same structure, parameters, protocol and "
                        "time-step options; any number of ranks): the CSV is continued from the "
                        "checkpoint time, fields go to fields_*_restartN.xdmf")
    p.add_argument("-o", "--output", default=None, help="output directory (default: DIR)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a complete result in the output directory (refused without it)")
    p.add_argument("--cache", default=None, metavar="CACHE_DIR",
                   help="reuse the smooth mesh and the conductance factors from CACHE_DIR when a run of the same "
                        "structure, settings and code made them (else make and store them there): the same "
                        "results without the set-up time (~7 min on a 50 um piece); e.g. DIR/.fem_twin_cache, as "
                        "the studies and 'fem-twin calibrate' use")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_discharge)


def add_transport_argument(parser, default=None) -> None:
    """``--transport fv-matched|p1`` (``default`` None: the settings')."""
    from ..fem.transport_matching import DEFAULT_TRANSPORT, TRANSPORTS

    parser.add_argument("--transport", default=default, choices=TRANSPORTS,
                        help="conductivities of the P1 transport: fv-matched (each phase's conductivity a "
                             "diagonal tensor such that the mesh's conductances along x, y and z equal the voxel "
                             "finite-volume ones, which P1 overestimates by 20-75 %% at these resolutions; "
                             "fem_twin/fem/transport_matching.py) or p1 (plain P1, as runs before this option) "
                             f"(default {DEFAULT_TRANSPORT})")


def parse_temperature(text: str) -> float:
    """``--temperature``: kelvin (``303.15``, ``303.15K``) or degrees Celsius (``30C``) -> K."""
    import re

    m = re.fullmatch(r"\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(k|c|°c)?\s*", str(text).lower())
    if not m:
        raise InputError("--temperature", "a temperature in K (303.15) or in degC with a C suffix (30C)", text)
    t = float(m.group(1)) + (273.15 if m.group(2) in ("c", "°c") else 0.0)
    if not 200 <= t <= 400:
        raise InputError("--temperature", "a temperature in [200, 400] K", text)
    return t


def settings_from_args(args):
    """The :class:`~fem_twin.fem.settings.DischargeSettings` of a command line: ``--settings``
    (or the defaults) with the options given on the command line replacing theirs."""
    from ..fem.settings import DischargeSettings, default_protocol_text

    st = DischargeSettings.load(args.settings) if getattr(args, "settings", None) else DischargeSettings()
    ch = {}
    if args.protocol is not None:
        if not args.protocol.strip():
            raise InputError("--protocol", "steps such as 'discharge 1C to 3.0 V; rest 10 min'", args.protocol)
        ch["protocol"] = args.protocol
    elif args.c_rate is not None or args.cutoff is not None:
        from ..fem.settings import C_RATE, CUTOFF_V

        c_rate = C_RATE if args.c_rate is None else args.c_rate
        if not (math.isfinite(c_rate) and c_rate > 0):
            raise InputError("--c-rate", "a C-rate > 0", c_rate)
        ch["protocol"] = default_protocol_text(c_rate, CUTOFF_V if args.cutoff is None else args.cutoff)
    for name, v, what in (("--dt", args.dt, "a time step > 0 s"), ("--dt-max", args.dt_max, "a time step > 0 s"),
                          ("--max-wall-time", args.max_wall_time, "a time > 0 s")):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise InputError(name, what, v)
    tol = getattr(args, "lithiation_overshoot", None)
    if tol is not None and not (math.isfinite(tol) and 0 <= tol < 0.5):
        raise InputError("--lithiation-overshoot", "a lithiation in [0, 0.5)", tol)
    for name, v, lo in (("--output-every", args.output_every, 1), ("--checkpoint-every", args.checkpoint_every, 0)):
        if v is not None and v < lo:
            raise InputError(name, f"an integer >= {lo}" + (" (0: only on SIGTERM)" if lo == 0 else ""), v)
    for flag, key in (("--separator", "separator"), ("--separator-growth", "separator_growth")):
        v = getattr(args, key)
        if v is not None and not (math.isfinite(v) and v >= (0 if key == "separator" else 1)):
            raise InputError(flag, "a thickness >= 0 um" if key == "separator" else "a factor >= 1", v)
    if getattr(args, "temperature", None) is not None:
        ch["temperature_K"] = parse_temperature(args.temperature)
    for key, v in (("params", args.params), ("mesher", args.mesher), ("transport", getattr(args, "transport", None)),
                   ("separator__thickness_um", args.separator),
                   ("separator__growth", args.separator_growth), ("solver__name", args.solver),
                   ("solver__petsc", tuple(args.petsc) if args.petsc is not None else None),
                   ("stepping__dt_initial_s", args.dt), ("stepping__dt_max_s", args.dt_max),
                   ("stepping__lithiation_overshoot", getattr(args, "lithiation_overshoot", None)),
                   ("outputs__output_every", args.output_every), ("checkpoints__every", args.checkpoint_every),
                   ("checkpoints__max_wall_s", args.max_wall_time)):
        if v is not None:
            ch[key] = v
    if args.no_fields:
        ch["outputs__fields"] = False
    if args.quiet:
        ch["outputs__quiet"] = True
    st = st.replace(**ch) if ch else st
    st.parameters()  # (bad parameter files before the output folder is touched)
    st.solver.spec()
    return st


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

    settings = settings_from_args(args)
    if args.output is not None and not args.output.strip():
        raise InputError("-o/--output", "a directory path", args.output)
    check_output_dir(Path(args.output or args.dir), args.overwrite, args.restart)
    image = VoxelImage.load(Path(args.dir))
    from ..fem.discharge_run import discharge
    from ..meshing.meshers import check_periodic_image

    check_periodic_image(settings.mesher, image.source, Path(args.dir) / "structure.npz")

    if args.cache is not None and not args.cache.strip():
        raise InputError("--cache", "a directory path", args.cache)
    result = discharge(image.labels, image.voxel_size_um, Path(args.output or args.dir), settings,
                       restart=args.restart, cache_dir=Path(args.cache) if args.cache else None)
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
