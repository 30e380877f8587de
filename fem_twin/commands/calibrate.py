"""``fem-twin calibrate DIR``: fit one (or two) cell parameters to a capacity or a measured curve.

Each evaluation is a full discharge of DIR/structure.npz with the 3D model (the settings of
``fem-twin discharge``: --settings, --c-rate, --params, --mesher, ...) in OUT/eval_NN/ (OUT:
DIR/calibration). --target-capacity Q: the value of --parameter (one) whose capacity in mAh/g
NCM is Q within --tol, by both ends of --bracket and then Illinois (regula falsi) steps, usually
3-5 runs. --curve CSV (columns capacity_mAh_per_g, voltage_V): the value(s) minimising the RMS
voltage difference at the measured capacities (one parameter: bounded Brent; two: bounded least
squares), at most --max-evals runs.

Writes OUT/calibration.json (target, parameter, bracket, every evaluation: values, capacity,
residual, wall time; converged and tolerance), OUT/calibrated_parameters.toml (the base
parameters with the fitted value and a [calibration] note naming its source; load it with
--params) and OUT/calibration.png. Run the same command again to continue: finished evaluations
of the same parameters and settings are reused, an interrupted one continues from its checkpoint.
The runs share one mesh and one set of conductance factors, kept in DIR/.fem_twin_cache
(fem_twin/setup_cache.py; also used by the studies' runs of the same structure).
Exit code 0: converged; 1: not converged within --max-evals, or an evaluation failed or was
interrupted (calibration.json says so); 2: bad input (including a target the bracket cannot
reach: the message gives the capacities at both ends, which are kept for the next try).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..errors import InputError
from ..meshing.meshers import add_mesher_argument
from ..setup_cache import CACHE_DIRNAME
from .discharge import add_transport_argument


def register(sub) -> None:
    from ..fem import settings as S

    doc = __doc__.split("\n\n")
    p = sub.add_parser("calibrate", help="fit cell parameters to a target capacity or a measured curve",
                       description=doc[1], epilog="\n\n".join(doc[2:]),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", help="directory holding structure.npz (from 'fem-twin generate')")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--target-capacity", type=float, default=None, metavar="Q",
                      help="target discharge capacity in mAh/g NCM (of the first protocol step)")
    what.add_argument("--curve", default=None, metavar="CSV",
                      help="measured curve: a CSV with columns capacity_mAh_per_g, voltage_V")
    p.add_argument("--parameter", action="append", default=None, metavar="NAME",
                   help="parameter to fit (fem_twin/parameters/cell.py; default initial_lithiation); "
                        "twice for two parameters (--curve only)")
    p.add_argument("--bracket", action="append", default=None, metavar="LO,HI",
                   help="search interval of each --parameter, in the same order (defaults: initial_lithiation "
                        "0.27,0.6; k_ncm 1e-9,1e-5; d_ncm_m2_s 1e-16,1e-13; max_lithiation 0.7,0.999)")
    p.add_argument("--tol", type=float, default=0.5,
                   help="capacity tolerance in mAh/g of --target-capacity (default 0.5)")
    p.add_argument("--xtol", type=float, default=None,
                   help="stop when the bracket is narrower than this (in the parameter; default 1e-4 of the "
                        "bracket for a target, 1e-3 of it for a curve)")
    p.add_argument("--max-evals", type=int, default=None,
                   help="at most this many discharges (default 8 for a target, 10 for a curve)")
    p.add_argument("--scale", default="auto", choices=["auto", "linear", "log"],
                   help="search in the value or its log10 (default auto: log for conductivities, diffusion "
                        "and rate constants)")
    p.add_argument("--source", default=None,
                   help="what the target or curve is, for the fitted value's note (e.g. 'Park et al. 2020, "
                        "Fig. 3a, 60 wt%%, 0.1C')")
    p.add_argument("--settings", default=None, metavar="JSON", help="discharge settings (as fem-twin discharge)")
    p.add_argument("--c-rate", type=float, default=None, help=f"discharge C-rate (default {S.C_RATE:g})")
    p.add_argument("--cutoff", type=float, default=None, help=f"cut-off voltage in V (default {S.CUTOFF_V:g})")
    p.add_argument("--protocol", default=None, help="protocol instead of --c-rate/--cutoff")
    p.add_argument("--params", default=None, help="TOML file of the base parameters (fem_twin/parameters/cell.py)")
    p.add_argument("--separator", type=float, default=None,
                   help=f"LPSCl separator thickness in um (default {S.SEPARATOR_UM:g})")
    p.add_argument("--separator-growth", type=float, default=None, metavar="G",
                   help=f"separator mesh growth (default {S.SEPARATOR_GROWTH:g}; 1: voxel layers)")
    add_mesher_argument(p)
    p.set_defaults(mesher=None)
    add_transport_argument(p)
    p.add_argument("--solver", default=None, choices=list(S.SOLVERS), help="linear solver (default auto)")
    p.add_argument("--fields", action="store_true", help="write the XDMF fields of every evaluation (default: none)")
    p.add_argument("-o", "--output", default=None, help="calibration directory (default DIR/calibration)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines of the discharges")
    p.set_defaults(func=cmd_calibrate)


def _settings(args):
    """The discharge settings of every evaluation, as ``fem-twin discharge`` builds them."""
    from .discharge import settings_from_args

    ns = argparse.Namespace(**vars(args))
    for k in ("dt", "dt_max", "output_every", "checkpoint_every", "max_wall_time", "petsc"):
        setattr(ns, k, None)
    ns.no_fields = not args.fields
    return settings_from_args(ns)


def cmd_calibrate(args) -> int:
    from .. import calibration as C
    from .._dolfinx import MPI
    from ..microstructure.image import VoxelImage

    comm = MPI.COMM_WORLD
    rank0 = comm.rank == 0
    settings = _settings(args)
    base = settings.parameters()
    names = args.parameter or ["initial_lithiation"]
    for n in names:
        C.check_parameter(n)
    if len(set(names)) != len(names):
        raise InputError("--parameter", "different parameters", names)
    if len(names) > 2:
        raise InputError("--parameter", "one or two parameters", names)
    if args.target_capacity is not None and len(names) != 1:
        raise InputError("--parameter", "one parameter with --target-capacity (two only with --curve)", names)
    texts = args.bracket or [None] * len(names)
    if len(texts) != len(names):
        raise InputError("--bracket", f"one LO,HI per --parameter ({len(names)})", args.bracket)
    brackets = [C.parse_bracket(t, n, base) for t, n in zip(texts, names)]
    from ..fem.discharge_run import check_protocol

    for n, b in zip(names, brackets):  # the protocol must be runnable at both ends (OCV above the cut-off)
        for v in b:
            try:
                check_protocol(settings.protocol_object(), base.with_overrides({n: v}))
            except InputError as exc:
                raise InputError("--bracket", f"ends at which the protocol can run ({n} = {v:g}: {exc})",
                                 f"{b[0]:g},{b[1]:g}") from None
    scales = [C.default_scale(n, *b) if args.scale == "auto" else args.scale for n, b in zip(names, brackets)]
    for n, b, s in zip(names, brackets, scales):
        if s == "log" and b[0] <= 0:
            raise InputError("--scale", f"linear for {n} (its bracket reaches {b[0]:g})", s)
    if args.tol is None or not (math.isfinite(args.tol) and args.tol > 0):
        raise InputError("--tol", "a capacity tolerance > 0 mAh/g", args.tol)
    if args.max_evals is not None and args.max_evals < 2:
        raise InputError("--max-evals", "an integer >= 2", args.max_evals)
    if args.xtol is not None and not (math.isfinite(args.xtol) and args.xtol >= 0):
        raise InputError("--xtol", "a width >= 0", args.xtol)
    meas = None
    if args.curve is not None:
        meas = C.read_curve(args.curve)
        mode = "curve"
    else:
        t = args.target_capacity
        if not (math.isfinite(t) and 0 < t <= 400):
            raise InputError("--target-capacity", "a capacity in (0, 400] mAh/g NCM", t)
        mode = "capacity"
    image = VoxelImage.load(Path(args.dir))
    outdir = Path(args.output) if args.output else Path(args.dir) / "calibration"
    if args.output is not None and not args.output.strip():
        raise InputError("-o/--output", "a directory path", args.output)

    from ..study.runner import acquire_lock, release_lock

    busy = acquire_lock(outdir) if rank0 else None  # (one calibration per folder: eval_NN numbers)
    busy = comm.bcast(busy, root=0)
    if busy:
        raise InputError("-o/--output", "a calibration folder in which no other calibration runs", busy)
    try:
        return _calibrate(args, C, comm, names, brackets, scales, settings, base, meas, mode, image, outdir)
    finally:
        if rank0:
            release_lock(outdir)


def _calibrate(args, C, comm, names, brackets, scales, settings, base, meas, mode, image, outdir) -> int:
    rank0 = comm.rank == 0
    evaluator = C.DischargeEvaluator(image.labels, image.voxel_size_um, outdir, settings, base, comm=comm,
                                     cache_dir=Path(args.dir) / CACHE_DIRNAME)
    report = {"mode": mode, "structure": str(Path(args.dir).resolve()), "parameters": names,
              "bracket": {n: list(b) for n, b in zip(names, brackets)}, "scale": dict(zip(names, scales)),
              "protocol": settings.protocol_object().describe(), "base_parameters_file": settings.params,
              "settings": settings.replace(params=None).to_dict(), "ranks": comm.size}
    if mode == "capacity":
        report.update(target_capacity_mAh_per_g=args.target_capacity, tolerance_mAh_per_g=args.tol)
    else:
        report.update(curve=str(Path(args.curve).resolve()), curve_points=int(meas[0].size))
    report["source"] = args.source
    try:
        if mode == "capacity":
            (lo, hi), name = brackets[0], names[0]
            xtol = args.xtol if args.xtol is not None else 1e-4 * (hi - lo)
            res, evs = C.calibrate_to_capacity(evaluator, name, (lo, hi), args.target_capacity, args.tol,
                                               args.max_evals or 8, scales[0], xtol=xtol)
            fitted_values = {name: res.value}
            report.update(converged=res.converged, message=res.message, fitted_values=fitted_values,
                          capacity_mAh_per_g=res.capacity, final_bracket={name: list(res.bracket)}, xtol=xtol)
            what = f"{args.target_capacity:g} mAh/g NCM within {args.tol:g}, {report['protocol']}"
        else:
            xtol = args.xtol if args.xtol is not None else 1e-3
            res, evs = C.calibrate_to_curve(evaluator, names, brackets, meas[0], meas[1], args.max_evals or 10,
                                            scales, xtol=xtol)
            fitted_values = dict(zip(names, res.values))
            report.update(converged=res.converged, message=res.message, fitted_values=fitted_values,
                          rms_residual_V=res.rms_V, xtol_fraction_of_bracket=xtol)
            what = f"RMS {1e3 * res.rms_V:.1f} mV over {meas[0].size} points of {Path(args.curve).name}, " \
                   f"{report['protocol']}" + ("" if res.converged else f"; not converged: {res.message}")
    except C.TargetOutOfRange as exc:
        if rank0:
            report.update(converged=False, message=str(exc), fitted_values=None)
            C.write_report(outdir, report, None, getattr(exc, "evaluations", []), meas)
        comm.Barrier()  # (every rank returns after the files are written)
        raise
    except C.CalibrationError as exc:
        if rank0:
            report.update(converged=False, message=str(exc), fitted_values=None)
            C.write_report(outdir, report, None, getattr(exc, "evaluations", []), meas)
            print(f"fem-twin calibrate: {exc}", file=sys.stderr)
        comm.Barrier()
        return 1
    best = min(evs, key=lambda e: abs(e.residual)) if evs else None
    report["best_folder"] = Path(best.folder).name if best else None
    source = args.source or (f"a target capacity of {args.target_capacity:g} mAh/g" if mode == "capacity"
                             else f"the curve {Path(args.curve).name}")
    note = C.calibration_note(source, what, str(Path(args.dir)))
    if rank0:
        note = C.note_of_the_same_fit(outdir, note, fitted_values, evs)
    note = comm.bcast(note, root=0)
    report["note"] = note
    fitted = None
    if res.converged or mode == "curve":
        notes = dict(base.calibration)
        notes.update({n: note for n in names})
        fitted = base.with_overrides({**fitted_values, "calibration": notes})
    if rank0:
        written = C.write_report(outdir, report, fitted, evs, meas)
        vals = ", ".join(f"{k} = {v:.6g}" for k, v in fitted_values.items())
        got = (f"{report['capacity_mAh_per_g']:.2f} mAh/g, target {args.target_capacity:g} ± {args.tol:g}"
               if mode == "capacity" else f"RMS {1e3 * res.rms_V:.1f} mV")
        new = sum(not e.reused for e in evs)
        print(f"fem-twin calibrate: {vals} ({got}); {'converged' if res.converged else 'NOT converged: ' + res.message}"
              f"; {len(evs)} runs ({new} new, {sum(e.wall_s for e in evs if not e.reused):.0f} s)", flush=True)
        print("-> " + ", ".join(str(p) for p in written), flush=True)
    comm.Barrier()
    return 0 if res.converged else 1
