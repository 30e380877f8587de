"""``fem-twin p2d DIR``: a P2D (PyBaMM DFN) half cell built from the structure's own numbers.

Reads DIR/design.json, DIR/analysis.json and DIR/conductivity_{ncm,lpscl}.json (runs the analysis
and the P1 conductivities, the discharge's discretisation, when they are missing unless --no-run),
builds PyBaMM's DFN half cell (Li metal | LPSCl separator | composite; mapping in
:mod:`fem_twin.p2d`), runs the protocol and writes OUTPUT/p2d_<rate>.csv, OUTPUT/p2d_<rate>.png and
OUTPUT/p2d.json (inputs with their sources, capacities, and with --discharge the comparison with
the 3D run's discharge.csv: capacities and max |dV| to 90 % of the capacity). Serial (no mpirun).
Exit code 0 done, 1 PyBaMM's solver failed (nothing written), 2 bad input (one line).
PyBaMM is an optional extra: pip install fem_twin[p2d].
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from ..errors import InputError

AREA_CHOICES = ("auto", "raw", "corrected", "3d-run")
CONDUCTANCE_CHOICES = ("auto", "files", "3d-run")


def register(sub) -> None:
    p = sub.add_parser("p2d", help="P2D (PyBaMM DFN) cross-check built from the structure's numbers",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("dir", help="directory holding structure.npz and design.json (from 'fem-twin generate')")
    p.add_argument("--c-rate", type=float, default=1.0, help="discharge C-rate (default 1)")
    p.add_argument("--cutoff", type=float, default=3.0, help="cut-off voltage in V (default 3.0)")
    p.add_argument("--protocol", default=None,
                   help="steps instead of --c-rate/--cutoff, e.g. 'discharge 1C to 3.0 V; rest 10 min'")
    p.add_argument("--discharge", default=None, metavar="RUN_DIR",
                   help="a 3D run's folder (discharge.csv, discharge.json): plot over its curve, compare, and "
                        "take its separator thickness")
    p.add_argument("--separator", type=float, default=None,
                   help="LPSCl separator thickness in um (default: the 3D run's, else 30 as 'fem-twin discharge')")
    p.add_argument("--area", default="auto", choices=AREA_CHOICES,
                   help="reacting area: raw (voxel faces) or corrected (x 2/3) from analysis.json, 3d-run (the area "
                        "the --discharge run's kinetics integrated over, from its discharge.json), or auto (default: "
                        "3d-run for a --discharge run on a smooth mesh or with interface_area = 'smoothed-normal'; "
                        "else raw for interface_area = 'mesh', corrected for 'smoothed-normal')")
    p.add_argument("--conductances", default="auto", choices=CONDUCTANCE_CHOICES,
                   help="sigma_eff / sigma of NCM and LPSCl along z: files (DIR/conductivity_{ncm,lpscl}.json, "
                        "computed with the P1 method when missing), 3d-run (the matched finite-volume targets in "
                        "the --discharge run's discharge.json, transport fv-matched), or auto (default: 3d-run for a "
                        "--discharge run with fv-matched transport, else files)")
    p.add_argument("--params", default=None, help="TOML file overriding parameters (as for 'fem-twin discharge')")
    p.add_argument("--points", type=int, default=30, help="P2D mesh points across the electrode (default 30)")
    p.add_argument("--no-run", action="store_true",
                   help="do not compute a missing analysis.json or conductivity_*.json (error instead)")
    p.add_argument("-o", "--output", default=None, help="output directory (default: DIR)")
    p.set_defaults(func=cmd_p2d)


def _protocol(args):
    from ..protocol import Protocol

    if args.protocol is not None:
        if not args.protocol.strip():
            raise InputError("--protocol", "steps such as 'discharge 1C to 3.0 V; rest 10 min'", args.protocol)
        return Protocol.parse(args.protocol)
    if not (math.isfinite(args.c_rate) and args.c_rate > 0):
        raise InputError("--c-rate", "a C-rate > 0", args.c_rate)
    if not (math.isfinite(args.cutoff) and 0 < args.cutoff < 10):
        raise InputError("--cutoff", "a voltage in (0, 10) V", args.cutoff)
    return Protocol.discharge(args.c_rate, args.cutoff)


def run_label(protocol) -> str:
    """``1C``, ``0.1C`` for one CC discharge; ``protocol`` otherwise (file names p2d_<label>.*)."""
    s = protocol.steps[0]
    return f"{s.c_rate:g}C" if len(protocol.steps) == 1 and s.kind == "discharge" else "protocol"


def _separator(args, run_dir: Path | None) -> tuple[float, str]:
    if args.separator is not None:
        if not (math.isfinite(args.separator) and args.separator > 0):
            raise InputError("--separator", "a thickness > 0 um", args.separator)
        return float(args.separator), "--separator"
    if run_dir is not None:
        try:
            s = json.loads((run_dir / "discharge.json").read_text())
            v = s.get("mesh", {}).get("separator_um", s.get("separator_um"))
            if isinstance(v, (int, float)) and v > 0:
                return float(v), f"{run_dir / 'discharge.json'}: separator_um"
        except (OSError, ValueError):
            pass
    return 30.0, "default 30 um ('fem-twin discharge' default)"


def ensure_inputs(d: Path, image, method: str = "p1", say=print, phases=("ncm", "lpscl")) -> list[str]:
    """Compute DIR/analysis.json and DIR/conductivity_<phase>.json of ``phases`` (along z,
    ``method``) when missing; returns what was computed."""
    from .._dolfinx import MPI
    from ..analysis.report import analyse
    from ..fem.conductivity import effective_conductivity
    from ..p2d import CONDUCTIVITY_FILES

    done = []
    if not (d / "analysis.json").exists():
        say(f"fem-twin p2d: computing {d / 'analysis.json'}")
        analyse(image).save(d / "analysis.json")
        done.append("analysis.json")
    for phase, name in CONDUCTIVITY_FILES.items():
        if phase in phases and not (d / name).exists():
            say(f"fem-twin p2d: computing {d / name} (method {method}, along z)")
            r = effective_conductivity(image.labels, image.voxel_size_um, phase, "z", method=method,
                                       comm=MPI.COMM_SELF)
            r.save_json(d / name)
            done.append(name)
    return done


def cmd_p2d(args) -> int:
    from .. import p2d
    from ..microstructure.image import VoxelImage
    from ..outputs import output_dir
    from ..parameters.cell import ParameterSet
    from ..post.discharge_plots import read_curve

    from .._dolfinx import MPI

    if MPI.COMM_WORLD.size > 1:
        raise InputError("mpirun", "a serial run (fem-twin p2d runs PyBaMM on one process)",
                         f"{MPI.COMM_WORLD.size} ranks")
    protocol = _protocol(args)
    if args.points < 5:
        raise InputError("--points", "an integer >= 5", args.points)
    params = ParameterSet.from_toml(args.params) if args.params else ParameterSet()
    d = Path(args.dir)
    out = output_dir(args.output) if args.output is not None else d
    run_dir = Path(args.discharge) if args.discharge is not None else None
    curve_3d = None
    if run_dir is not None:
        curve_3d = read_curve(run_dir)
        if curve_3d is None:
            raise InputError("--discharge", "a 3D run's folder with a discharge.csv holding a discharge",
                             str(run_dir))
    if args.area == "3d-run" and run_dir is None:
        raise InputError("--area", "--discharge RUN with --area 3d-run", "no --discharge")
    if args.conductances == "3d-run" and run_dir is None:
        raise InputError("--conductances", "--discharge RUN with --conductances 3d-run", "no --discharge")
    conductances = None
    if run_dir is not None and args.conductances != "files":
        conductances = p2d.conductances_of_3d_run(run_dir)
        if conductances is None and args.conductances == "3d-run":
            raise InputError("--conductances", f"a --discharge run with transport fv-matched "
                             f"({run_dir / 'discharge.json'}: transport.<phase>.fv)", "a plain-P1 run")
    p2d._pybamm()  # fail early (exit 2) when PyBaMM is missing
    image = VoxelImage.load(d)
    if not args.no_run:
        ensure_inputs(d, image, phases=[ph for ph in p2d.CONDUCTIVITY_FILES if ph not in (conductances or {})])
    sep, sep_src = _separator(args, run_dir)
    area_um2 = None
    if args.area == "3d-run" or (args.area == "auto" and run_dir is not None and (
            params.interface_area == "smoothed-normal" or p2d.mesher_of_3d_run(run_dir) != "voxel")):
        area_um2 = p2d.area_of_3d_run(run_dir)
    inputs = p2d.inputs_from_directory(d, sep, params, None if args.area in ("auto", "3d-run") else args.area,
                                       sep_src, area_um2, conductances)
    label = run_label(protocol)
    t0 = time.perf_counter()
    try:
        curve = p2d.run(inputs, params, protocol, n_x=args.points)
    except p2d.P2DSolverError as exc:
        print(f"fem-twin p2d: error: {exc} (nothing written)", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    p2d.write_csv(out / f"p2d_{label}.csv", curve)
    comparison = None
    if curve_3d is not None:
        m = curve.step == 0
        comparison = p2d.compare_curves(curve_3d["capacity_mAh_per_g"], curve_3d["voltage_V"],
                                        curve.capacity_mAh_per_g[m], curve.voltage_V[m])
        comparison["discharge_dir"] = str(run_dir)
    p2d.plot(out / f"p2d_{label}.png", curve, f"{d.name} {protocol.describe()}", curve_3d, comparison)
    summary_path = out / "p2d.json"
    try:
        summary = json.loads(summary_path.read_text())
        runs = summary.get("runs", {}) if isinstance(summary, dict) else {}
    except (OSError, ValueError):
        runs = {}
    runs[label] = {"protocol": protocol.describe(), "capacity_mAh_per_g": curve.step_capacity_mAh_per_g[0],
                   "step_capacities_mAh_per_g": curve.step_capacity_mAh_per_g,
                   "end_voltage_V": float(curve.voltage_V[curve.step == 0][-1]),
                   "one_c_current_A": p2d.one_c_current_A(inputs, params), "comparison": comparison,
                   "mesh_points": p2d.mesh_points(args.points), "seconds": seconds,
                   "files": [f"p2d_{label}.csv", f"p2d_{label}.png"], "inputs": inputs.to_dict()}
    summary = {"model": "PyBaMM DFN half cell (working electrode positive, Li metal counter electrode)",
               "structure_dir": str(d), "inputs": inputs.to_dict(), "parameters": params.to_dict(), "runs": runs}
    summary_path.write_text(json.dumps(summary, indent=2, default=float) + "\n")
    msg = (f"P2D {protocol.describe()}: {curve.step_capacity_mAh_per_g[0]:.2f} mAh/g "
           f"(eps_NCM {inputs.eps_ncm_active:.3f}, eps_LPSCl {inputs.eps_lpscl:.3f}, B_NCM {inputs.b_ncm:.4f}, "
           f"B_LPSCl {inputs.b_lpscl:.4f}, a {inputs.area_per_volume_per_m:.4g} 1/m ({inputs.area_estimate}), "
           f"R {inputs.radius_um:.2f} um, separator {inputs.separator_um:g} um) in {seconds:.1f} s")
    if comparison:
        msg += (f"; 3D {comparison['capacity_3d_mAh_g']:.2f} mAh/g ({100 * comparison['capacity_difference_rel']:+.2f} %), "
                f"max |dV| {1e3 * comparison['max_dV_V']:.1f} mV to {comparison['max_dV_up_to_mAh_g']:.1f} mAh/g")
    print(msg)
    print(f"  -> {out / f'p2d_{label}.csv'}, {out / f'p2d_{label}.png'}, {summary_path}")
    return 0
