"""``fem-twin study discharge``: the seed's rate study (Figs. 3-6) over compositions, C-rates and seeds.

For every case (NCM wt% x C-rate x seed) the structure is generated into ``DIR/ncm<W>_seed<S>/``
exactly like ``fem-twin generate --composition W:98-W:2 --seed S --size X,Y`` (kept when
``structure.npz`` exists; the same folder as ``study conductivity``, so both studies share it) and
discharged into ``DIR/ncm<W>_seed<S>/c<R>C/`` by its own ``mpirun -n RANKS python -m
fem_twin.commands.study_discharge ...`` (memory is freed after each case; a failing case is
recorded, the study goes on; its output goes to ``run.log`` in the case folder). A case whose
``discharge.json`` is complete is skipped; one interrupted (SIGTERM to the study is forwarded, a
checkpoint is written) or killed after a checkpoint continues with ``--restart``; a failed one
is run again. A case whose structure carries no current at all (no NCM cluster reaches the
collector, no LPSCl cluster reaches the separator, or the connected parts do not touch; small
pieces can be cut off like this) is not run: its row says 0 mAh/g, ``no current path: <why>``, and
it counts in the statistics (``n_no_current_path`` in the summary). Each case runs
``fem-twin discharge STRUCTURE --settings CASE/settings.json`` with the default settings of
:mod:`fem_twin.fem.settings` (the demo's and the command's) and the study's separator, mesher,
solver, ``--dt-max`` and fields.

Writes ``DIR/discharge_study.csv`` (one row per case), ``DIR/discharge_study_summary.csv`` (mean,
std, min, max over the seeds per composition and C-rate, complete cases only) and the seed's
Fig. 3 as ``DIR/discharge_study_by_rate.png`` (one panel per C-rate, one colour per composition;
rows: mAh/g NCM and mAh/cm2) and ``DIR/discharge_study_by_composition.png`` (the seed's layout:
one panel per composition, one colour per C-rate), each with the seed-to-seed band (min-max of
the curves on a common capacity grid) and the mean curve. XDMF fields are written for the first
seed only (``--fields``). A case that ends with fields keeps, next to them, its field numbers
(``field_metrics.json``/.csv, ``fem-twin metrics``) and pictures (``fields_dod0.50.png``,
``fields_dod1.00.png``, ``fem-twin render``) at DOD 0.5 and the end: the XDMF files stay out of git,
so a study that runs across machine restarts still has Figs. 4-6 (``fem-twin metrics DIR`` reads
the saved numbers of the cases whose fields are gone). ``--pictures 0.5,end`` renders the study's
pictures afterwards (``fem-twin render``; the saved pictures one row per case where fields are gone).

Cases run seed by seed (all compositions and C-rates of the first seed first), so the early part
of a long study already covers the whole table.
"""

from __future__ import annotations

import argparse
import math
import sys

from ..errors import FemTwinError, InputError
from ..fem import settings as S
from ..meshing.meshers import add_mesher_argument
from ..study.cases import (C_RATE_RANGE, CASE_SETTINGS, NCM_WT_RANGE, NO_PATH, Case,  # noqa: F401 (the API)
                           StudySettings, case_list, check_existing, check_settings, ensure_structure, mpirun_path,
                           parse_c_rates, parse_compositions, parse_float_list, parse_seeds, parse_size, read_summary,
                           run_state, settings_mismatch, structure_path_problem)
from ..study.runner import (CASE_RECORD, LOCK_FILE, RUN_LOG, _alive, acquire_lock, case_row,  # noqa: F401
                            finish_study, release_lock, run_study, worker_command)
from ..study.tables import (CSV_COLUMNS, STUDY_CSV, SUMMARY_COLUMNS, SUMMARY_CSV, read_study_csv,  # noqa: F401
                            summarise, summary_table, write_study_csv, write_summary_csv)
from .discharge import add_transport_argument
from .render import register  # noqa: F401 (fem-twin render, registered with this module until issue 17)


def register_study_discharge(kinds) -> None:
    """Add ``discharge`` to the sub-parsers of ``fem-twin study`` (``kinds``)."""
    doc = __doc__.split("\n\n")
    d = kinds.add_parser("discharge", help="discharge capacities and curves against composition, C-rate "
                                           "and seed (the seed's Figs. 3-6)",
                         description=doc[1], epilog="\n\n".join(doc[2:]),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--compositions", default="60,70,80", help="NCM wt%% list (default 60,70,80; NBR 2 wt%%)")
    d.add_argument("--c-rates", default="0.1,0.5,1", help="C-rate list (default 0.1,0.5,1)")
    d.add_argument("--seeds", default="1-5", help="seeds: a range 1-5 or a list 1,2,3 (default 1-5)")
    d.add_argument("--size", default="50", help="x (or x,y) extent of the structure in um (default 50: the "
                                                 "seed's cell, and the representative size by the size study of "
                                                 "docs/rate_study.md; >= 16: the largest particles)")
    d.add_argument("--separator", type=float, default=S.SEPARATOR_UM,
                   help=f"LPSCl separator thickness in um (default {S.SEPARATOR_UM:g})")
    d.add_argument("--separator-growth", type=float, default=S.SEPARATOR_GROWTH,
                   help="separator mesh layers grow by this factor away from the composite "
                        f"(default {S.SEPARATOR_GROWTH:g}; 1: voxel layers)")
    add_mesher_argument(d)
    add_transport_argument(d, default=S.DEFAULT_TRANSPORT)
    d.add_argument("--cutoff", type=float, default=S.CUTOFF_V,
                   help=f"discharge cut-off voltage in V (default {S.CUTOFF_V:g})")
    d.add_argument("--ranks", type=int, default=2, help="MPI ranks per case (default 2)")
    d.add_argument("--params", default=None, help="TOML file overriding cell parameters")
    d.add_argument("--voxel", type=float, default=0.5, help="voxel edge in um (default 0.5)")
    d.add_argument("--solver", default="auto", choices=["auto", "mumps", "fieldsplit"],
                   help="linear solver of each case (default auto)")
    d.add_argument("--dt-max", type=float, default=S.DT_MAX_H,
                   help=f"largest time step as a fraction of an hour at the C-rate (default {S.DT_MAX_H:g})")
    d.add_argument("--max-dod", type=float, default=None,
                   help="also stop each discharge after this fraction of an hour at its C-rate "
                        "(a cut-short protocol for trials; default: none)")
    d.add_argument("--lithiation-overshoot", type=float, default=S.LITHIATION_OVERSHOOT, metavar="TOL",
                   help="accept NCM node lithiations in (-TOL, 1 + TOL) (default 0: a node at c_max ends the "
                        "step); with the kinetics smoothed at c_max (saturation_smoothing in --params) the "
                        "cases run to the cut-off, see 'fem-twin discharge -h'")
    d.add_argument("--fields", default="first-seed", choices=["first-seed", "all", "none"],
                   help="which cases write XDMF fields (default first-seed: the smallest seed)")
    d.add_argument("--output-every", type=int, default=5, help="XDMF fields every N steps (default 5)")
    d.add_argument("--pictures", default=None, metavar="DODS",
                   help="after the study render the fields at these depths of discharge (time fractions "
                        "of the discharge, or 'end'), e.g. 0.5,end; see 'fem-twin render -h'")
    d.add_argument("--mpirun", default=None, help="mpirun executable (default: next to python, else on PATH)")
    d.add_argument("-o", "--output", required=True, help="study directory")
    d.set_defaults(func=cmd_study_discharge)


def settings_from_args(args) -> tuple[list[Case], StudySettings]:
    comps = parse_compositions(args.compositions)
    rates = parse_c_rates(args.c_rates)
    seeds = parse_seeds(args.seeds)
    sx, sy = parse_size(args.size)
    if not (math.isfinite(args.voxel) and args.voxel > 0):
        raise InputError("--voxel", "a voxel edge > 0 um", args.voxel)
    st = StudySettings(size_x_um=sx, size_y_um=sy, separator_um=args.separator,
                       separator_growth=args.separator_growth, mesher=args.mesher, transport=args.transport,
                       cutoff_V=args.cutoff,
                       ranks=args.ranks, voxel_um=args.voxel, params_file=args.params, solver=args.solver,
                       dt_max_h=args.dt_max, max_dod=args.max_dod, fields=args.fields,
                       output_every=args.output_every, mpirun=args.mpirun,
                       lithiation_overshoot=args.lithiation_overshoot)
    check_settings(st, comps)
    return case_list(comps, rates, seeds), st


def cmd_study_discharge(args) -> int:
    cases, st = settings_from_args(args)
    dods = None
    if args.pictures:
        from ..post.field_pictures import parse_dods

        dods = parse_dods(args.pictures)
    from ..outputs import output_dir

    root = output_dir(args.output)
    rows = run_study(root, cases, st)
    if dods:
        from ..post.field_pictures import render_study

        try:
            for p in render_study(root, dods):
                print(f"  picture {p}", flush=True)
        except FemTwinError as exc:
            print(f"fem-twin study discharge: pictures not written: {exc}", file=sys.stderr)
    return 0 if all(r["complete"] for r in rows) and len(rows) == len(cases) else 1
