"""``fem-twin study sweep``: design sweeps (the seed's Fig. 7) over any design, cell or parameter key.

``--vary KEY=V1,V2,...`` (one per key; ``KEY=LO:HI:N`` for N evenly spaced values) makes the grid
(``--grid``, the default: the Cartesian product); ``--lhs N`` with ``--vary KEY=LO:HI`` (or
``LO:HI:log``) draws N Latin-hypercube points instead (``--lhs-seed``: the np.random.Generator's
seed). ``--set KEY=V`` fixes a key for every case. Each point is generated for every seed and
discharged at every C-rate.

Keys (aliases in brackets; see fem_twin/study/sweep_keys.py): design: ncm_wt [ncm] (NCM wt%, NBR
kept, LPSCl the rest), nbr_wt [binder_wt, nbr], composition (NCM:LPSCl:NBR), ncm_d50_um [ncm_d50],
lpscl_d50_um [lpscl_d50, se_d50_um] (the PSD scaled to this D50; its largest particle, 16 um at the
default D50 8.9 um, scales too), ncm_d_max_um, lpscl_d_max_um (the PSD cut there, the D50 kept),
thickness_um [thickness], loading_mg_cm2 [loading], electrode_density_g_cm3 [density],
particle_porosity, size_um [size] (x = y), size_x_um, size_y_um, voxel_um [voxel], the true
densities density_ncm_g_cm3 (also the parameter of that name), density_lpscl_g_cm3,
density_nbr_g_cm3, primary_d_min_um, primary_d_max_um; cell: separator_um [separator]; parameters
(fem_twin/parameters/cell.py, with their ranges): temperature_K [T], sigma_ncm_S_m [sigma_s],
sigma_lpscl_S_m [sigma_e], sigma_lpscl_slope_S_cm, sigma_lpscl_intercept_S_cm, d_ncm_m2_s [D_s],
d_lpscl_m2_s [D_e], k_ncm [k], alpha_a, alpha_c, c_ncm_max_mol_m3, c_lpscl_mol_m3, t_plus,
initial_lithiation, max_lithiation, practical_capacity_mAh_g [capacity], li_exchange_current_A_m2,
interface_normal_sigma_vox, li_contact, interface_area, freeze_electrolyte.

Folders: DIR/<design keys>_seed=<S>/ holds the structure (structure.npz, design.json, analysis.json,
with --conductivity conductivity_ncm.json and conductivity_lpscl.json along z by --method), made by
its own process (structure.log); DIR/<design keys>_seed=<S>/<cell and parameter keys>_c<R>C/ holds
the discharge: settings.json (fem_twin/fem/settings.py, run as 'fem-twin discharge --settings' like
'study discharge'), params.toml when a parameter key is set, run.log, discharge.csv/json. Up to
--jobs processes run at a time (each discharge on --ranks MPI ranks). Resumable: existing files are
kept, complete discharges reused, interrupted ones continued, failed ones run again; a directory
made with other --set/--size/--voxel values or other discharge settings is refused.

Writes DIR/sweep.csv (one row per case: the varied keys, seed, C-rate, volume fractions, dead
fractions, NCM|LPSCl contact area, active area density, geodesic tortuosities, sigma_eff and
tortuosity factors, capacities in mAh/g and mAh/cm2, status), DIR/sweep_summary.csv (mean, std,
min, max over the seeds per point and C-rate), DIR/sweep.json (the sweep's definition) and
DIR/sweep_capacity.png, sweep_conductivity.png, sweep_structure.png (against each varied key, one
line per value of the other keys, the seed band). --no-discharge: structures, descriptors and (with
--conductivity) sigma_eff only.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from ..errors import InputError
from ..fem import settings as S
from ..meshing.meshers import add_mesher_argument
from ..study.cases import StudySettings, check_settings, parse_c_rates, parse_seeds, parse_size
from ..study.sweep_cases import check_axes, grid_points, lhs_points, parse_axis, parse_fixed, sweep_cases
from ..study.sweep_keys import KEYS
from ..study.sweep_runner import SweepSettings, check_sweep, run_sweep, structures
from .discharge import add_transport_argument

SWEEP_JSON = "sweep.json"


def register_study_sweep(kinds) -> None:
    """Add ``sweep`` to the sub-parsers of ``fem-twin study`` (``kinds``)."""
    doc = __doc__.split("\n\n")
    p = kinds.add_parser("sweep", help="design sweeps over design, cell and parameter keys with seed bands "
                                       "(the seed's Fig. 7)", description="\n\n".join(doc[1:3]),
                         epilog="\n\n".join(doc[3:]), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vary", action="append", required=True, metavar="KEY=VALUES",
                   help="a key and its values: V1,V2,... or LO:HI:N (grid), LO:HI or LO:HI:log (--lhs)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="fix a key for every case")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--grid", action="store_true", help="the Cartesian product of the values (default)")
    mode.add_argument("--lhs", type=int, default=None, metavar="N", help="N Latin-hypercube points over the ranges")
    p.add_argument("--lhs-seed", type=int, default=0, help="seed of the Latin hypercube's generator (default 0)")
    p.add_argument("--seeds", default="1-3", help="structure seeds: a range 1-3 or a list 1,2 (default 1-3)")
    p.add_argument("--c-rates", default="1", help="C-rate list (default 1; not used with --no-discharge)")
    p.add_argument("--no-discharge", action="store_true", help="structures, descriptors (and --conductivity) only")
    p.add_argument("--conductivity", action="store_true", help="also sigma_eff of NCM and LPSCl along z per structure")
    p.add_argument("--method", default="fv", choices=["fv", "p1"], help="conductivity method (default fv)")
    p.add_argument("--jobs", type=int, default=1, help="processes at a time (default 1; each discharge on --ranks)")
    p.add_argument("--ranks", type=int, default=2, help="MPI ranks per discharge (default 2)")
    p.add_argument("--size", default="50", help="x (or x,y) extent in um unless a size key is set (default 50)")
    p.add_argument("--voxel", type=float, default=0.5, help="voxel edge in um unless voxel_um is set (default 0.5)")
    p.add_argument("--separator", type=float, default=S.SEPARATOR_UM,
                   help=f"separator in um unless separator_um is set (default {S.SEPARATOR_UM:g})")
    p.add_argument("--separator-growth", type=float, default=S.SEPARATOR_GROWTH,
                   help=f"separator mesh growth factor (default {S.SEPARATOR_GROWTH:g}; 1: voxel layers)")
    add_mesher_argument(p)
    add_transport_argument(p, default=S.DEFAULT_TRANSPORT)
    p.add_argument("--cutoff", type=float, default=S.CUTOFF_V, help=f"cut-off voltage in V (default {S.CUTOFF_V:g})")
    p.add_argument("--params", default=None, help="TOML file of cell parameters the parameter keys override")
    p.add_argument("--solver", default="auto", choices=["auto", "mumps", "fieldsplit"], help="linear solver")
    p.add_argument("--dt-max", type=float, default=S.DT_MAX_H,
                   help=f"largest time step, fraction of an hour at the C-rate (default {S.DT_MAX_H:g})")
    p.add_argument("--max-dod", type=float, default=None,
                   help="also stop each discharge after this fraction of an hour at its C-rate (trials)")
    p.add_argument("--fields", default="none", choices=["first-seed", "all", "none"],
                   help="which discharges write XDMF fields (default none)")
    p.add_argument("--output-every", type=int, default=5, help="XDMF fields every N steps (default 5)")
    p.add_argument("--mpirun", default=None, help="mpirun executable (default: next to python, else on PATH)")
    p.add_argument("-o", "--output", required=True, help="sweep directory")
    p.set_defaults(func=cmd_study_sweep)


def sweep_from_args(args):
    """(cases, SweepSettings, definition dict) from the parsed options; every bad value is an
    InputError naming the option and key, before anything is written."""
    lhs = args.lhs is not None
    if lhs and not (isinstance(args.lhs, int) and args.lhs >= 1):
        raise InputError("--lhs", "a number of points >= 1", args.lhs)
    axes = [parse_axis(t, lhs=lhs) for t in args.vary]
    fixed = parse_fixed(args.set)
    check_axes(axes, fixed)
    discharge = not args.no_discharge
    if not discharge:
        bad = [k for k in [a.key for a in axes] + list(fixed) if KEYS[k].kind != "design"]
        if bad:
            raise InputError("--vary/--set", "design keys only with --no-discharge (cell and parameter keys act "
                             "in the discharge)", bad)
    if not (isinstance(args.jobs, int) and args.jobs >= 1):
        raise InputError("--jobs", "an integer >= 1", args.jobs)
    if not (math.isfinite(args.voxel) and args.voxel > 0):
        raise InputError("--voxel", "a voxel edge > 0 um", args.voxel)
    seeds = parse_seeds(args.seeds)
    rates = parse_c_rates(args.c_rates) if discharge else None
    sx, sy = parse_size(args.size)
    points = lhs_points(axes, args.lhs, np.random.default_rng(args.lhs_seed)) if lhs else grid_points(axes)
    st = StudySettings(size_x_um=sx, size_y_um=sy, separator_um=args.separator,
                       separator_growth=args.separator_growth, mesher=args.mesher, transport=args.transport,
                       cutoff_V=args.cutoff,
                       ranks=args.ranks, voxel_um=args.voxel, params_file=args.params, solver=args.solver,
                       dt_max_h=args.dt_max, max_dod=args.max_dod, fields=args.fields,
                       output_every=args.output_every, mpirun=args.mpirun)
    if discharge:
        check_settings(st, [])
    sw = SweepSettings(study=st, fixed=tuple(fixed.items()), discharge=discharge, conductivity=args.conductivity,
                       method=args.method, jobs=args.jobs)
    cases = sweep_cases(points, seeds, rates)
    for s in structures(cases):
        sw.design(s)
    if discharge:
        for c in cases:
            sw.parameters(c)
    definition = {"vary": list(args.vary), "set": list(args.set), "mode": "lhs" if lhs else "grid",
                  "lhs": args.lhs, "lhs_seed": args.lhs_seed if lhs else None, "seeds": seeds, "c_rates": rates,
                  "discharge": discharge, "conductivity": args.conductivity, "method": args.method,
                  "points": points, "cases": len(cases), "structures": len(structures(cases))}
    return cases, sw, definition


def launched_ranks(environ=None) -> int:
    """The number of MPI ranks this process was started among (PMI_SIZE of MPICH's mpirun,
    OMPI_COMM_WORLD_SIZE of Open MPI; 1 without mpirun). Read from the environment: no MPI import."""
    import os

    env = os.environ if environ is None else environ
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        try:
            return max(1, int(env[name]))
        except (KeyError, ValueError):
            continue
    return 1


def cmd_study_sweep(args) -> int:
    from ..outputs import output_dir

    n = launched_ranks()
    if n > 1:  # every rank would run (and write) the whole sweep
        raise InputError("mpirun", "one process: 'fem-twin study sweep' starts each discharge on --ranks ranks "
                         "itself", f"{n} ranks")

    cases, sw, definition = sweep_from_args(args)
    root = output_dir(args.output)
    check_sweep(root, cases, sw)  # (files of another sweep: refused before anything is written)
    root.mkdir(parents=True, exist_ok=True)
    (root / SWEEP_JSON).write_text(json.dumps(definition, indent=2) + "\n")
    print(f"sweep: {len(definition['points'])} point(s) x {len(definition['seeds'])} seed(s)"
          + (f" x {len(definition['c_rates'])} C-rate(s)" if sw.discharge else "")
          + f" = {len(cases)} case(s), {definition['structures']} structure(s), {sw.jobs} job(s) at a time", flush=True)
    rows = run_sweep(root, cases, sw)
    expected = len(cases) if sw.discharge else definition["structures"]
    return 0 if len(rows) == expected and all(r["complete"] for r in rows) else 1
