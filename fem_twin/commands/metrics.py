"""``fem-twin metrics``: the numbers behind the seed's Figs. 4-6 from the XDMF output."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError

METRICS_DOC = """Statistics of the written discharge fields, so the seed's Figs. 4-6 statements can be checked
by a number (fem_twin/post/field_metrics.py): NCM lithiation (volume mean, std, CV, percentiles,
volume fraction above --threshold, the same per depth band of the composite, band 1 at the
separator), Li+ flux |i_e|/F in the composite's LPSCl (mol/(m2 s): mean, std, CV), surface
overpotential eta (V) and current density j (A/m2) on the NCM|LPSCl interface (area statistics),
and two checks: the area integral of j against the cell current, the volume mean of the
lithiation against discharge.csv's mean_lithiation.

DIR is a discharge output folder with fields_*.xdmf (a run without --no-fields) or a 'study
discharge' folder (every case with fields, and every case whose fields are gone but whose
field_metrics.json holds the depths asked for: 'study discharge' writes it at the end of each case
with fields, and the XDMF files do not go into git). Writes OUT/field_metrics.json (every
statistic) and OUT/field_metrics.csv (one row per case and depth of discharge) and prints a
Markdown table."""


def register(sub) -> None:
    """Add the top-level ``metrics`` command."""
    m = sub.add_parser("metrics", help="numbers of the discharge fields (the seed's Figs. 4-6)",
                       description=METRICS_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("dirs", nargs="+", metavar="DIR", help="discharge output folder(s) or a study folder")
    m.add_argument("--dod", default="end",
                   help="depths of discharge: fractions of the discharge's duration or 'end' (default end)")
    m.add_argument("--threshold", type=float, default=None,
                   help="lithiation counted as 'lithiated' (default 0.8, the seed's Fig. S16)")
    m.add_argument("--bands", type=int, default=None, help="depth bands of the composite (default 3)")
    m.add_argument("-o", "--output", default=None,
                   help="folder for field_metrics.json/.csv (default: the study folder, or the only DIR, "
                        "or the first DIR's parent)")
    m.set_defaults(func=cmd_metrics)


def cmd_metrics(args) -> int:
    from ..post.field_metrics import (DEPTH_BANDS, LITHIATION_THRESHOLD, SAVED_METRICS, case_metrics, metrics_table,
                                      saved_case_metrics, write_metrics)
    from ..post.field_pictures import parse_dods, series_files, study_cases

    dods = parse_dods(args.dod)
    threshold = LITHIATION_THRESHOLD if args.threshold is None else args.threshold
    bands = DEPTH_BANDS if args.bands is None else args.bands
    if not 0.0 <= threshold <= 1.0:
        raise InputError("--threshold", "a lithiation in [0, 1]", threshold)
    if bands < 1:
        raise InputError("--bands", "a whole number >= 1", bands)
    dirs = [Path(d) for d in args.dirs]
    for d in dirs:
        if not d.is_dir():
            raise InputError("metrics", "existing directories", str(d))
    labels = keys = None
    saved = set()  # the study's cases whose fields are gone: their saved field_metrics.json
    if len(dirs) == 1 and not series_files(dirs[0], "ncm"):
        cases = study_cases(dirs[0])
        with_fields = {c["run_dir"] for c in cases}
        for c in study_cases(dirs[0], SAVED_METRICS):
            if c["run_dir"] not in with_fields:
                cases.append(c)
                saved.add(c["run_dir"])
        cases.sort(key=lambda c: str(c["run_dir"]))
        if not cases:
            raise InputError("metrics", f"a discharge output folder with fields_*.xdmf or a study folder with "
                             f"such cases (ncm<W>_seed<S>/c<R>C/)", str(dirs[0]))
        out_dir = Path(args.output) if args.output else dirs[0]
        runs = [c["run_dir"] for c in cases]
        labels = [f"{c['ncm_wt']:g} wt%, {c['c_rate']:g}C, seed {c['seed']}" for c in cases]
        keys = [{k: c[k] for k in ("ncm_wt", "c_rate", "seed")} for c in cases]
    else:
        out_dir = Path(args.output) if args.output else (dirs[0] if len(dirs) == 1 else dirs[0].resolve().parent)
        runs = dirs
    frames, frame_labels, frame_keys = [], [], []
    for k, rd in enumerate(runs):
        if rd in saved:
            got, missing = saved_case_metrics(rd, dods, threshold, bands)
            if missing:
                print(f"fem-twin metrics: {rd}: no fields, and its {SAVED_METRICS} lacks DOD "
                      f"{', '.join(f'{d:g}' for d in missing)} (threshold {threshold:g}, {bands} bands): "
                      f"left out", file=sys.stderr, flush=True)
        else:
            got = case_metrics(rd, dods, threshold, bands)
        frames += got
        frame_labels += [labels[k] if labels else rd.name] * len(got)
        frame_keys += [keys[k] if keys else {}] * len(got)
    print(metrics_table(frames, frame_labels, threshold), flush=True)
    for p in write_metrics(frames, out_dir, cases=frame_keys):
        print(f"wrote {p}", flush=True)
    return 0
