"""``fem-twin study size``: the representative size of a domain-size study (issue 19, part 1).

Reads DIR/sweep.csv of each sweep folder (made by 'fem-twin study sweep --vary size_um=...', one folder
per size or one for all), groups the cases by size, the other varied keys and the C-rate, and judges
every size against the reference (the largest, or --reference): the mean capacity within --mean-tol of
the reference's and the seed spread (sample std) at most --spread-factor x the reference's plus
--spread-floor x its mean. The representative size is the smallest size from which every size up to
the reference passes in every group, else the reference (fem_twin/study/representative.py). Prints the table and the verdict; writes
OUTPUT/size_study.json (the rule, the statistics per size and group, the verdicts, the size).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..study import representative as R


def register_study_size(kinds) -> None:
    """Add ``size`` to the sub-parsers of ``fem-twin study`` (``kinds``)."""
    doc = __doc__.split("\n\n")
    p = kinds.add_parser("size", help="the representative size of a domain-size study (sweeps over size_um)",
                         description=doc[1])
    p.add_argument("dirs", nargs="+", metavar="DIR", help="sweep folders (each with sweep.csv)")
    p.add_argument("--reference", type=float, default=None, help="reference size in um (default: the largest)")
    p.add_argument("--mean-tol", type=float, default=R.MEAN_TOL,
                   help=f"allowed relative deviation of the mean capacity (default {R.MEAN_TOL:g})")
    p.add_argument("--spread-factor", type=float, default=R.SPREAD_FACTOR,
                   help=f"allowed std as a multiple of the reference's (default {R.SPREAD_FACTOR:g})")
    p.add_argument("--spread-floor", type=float, default=R.SPREAD_FLOOR,
                   help=f"plus this fraction of the reference mean (default {R.SPREAD_FLOOR:g})")
    p.add_argument("-o", "--output", default=None,
                   help="folder for size_study.json (default: the first DIR's parent)")
    p.set_defaults(func=cmd_study_size)


def cmd_study_size(args) -> int:
    from ..errors import InputError

    for name in ("mean_tol", "spread_factor", "spread_floor"):
        v = getattr(args, name)
        if not (v >= 0):
            raise InputError("--" + name.replace("_", "-"), "a number >= 0", v)
    rows, keys = R.read_size_rows(args.dirs)
    groups = R.size_groups(rows, keys)
    size, verdicts = R.representative_size(groups, args.reference, args.mean_tol, args.spread_factor,
                                           args.spread_floor)
    ref = args.reference if args.reference is not None else max(g.size_um for g in groups)
    print(R.verdict_markdown(groups, verdicts, ref))
    passed = size != ref
    print(f"representative size: {size:g} um" + ("" if passed else " (the reference: no smaller size passes)"))
    costs = R.size_costs(rows)
    print("\nwall time of the discharges (as recorded per case):")
    print(R.cost_markdown(costs))
    out = Path(args.output) if args.output else Path(args.dirs[0]).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    record = {"representative_size_um": size, "reference_size_um": ref,
              "rule": {"mean_tol": args.mean_tol, "spread_factor": args.spread_factor,
                       "spread_floor": args.spread_floor},
              "sweep_dirs": [str(d) for d in args.dirs],
              "groups": [{**dataclasses.asdict(g), "group": dict(g.group)}
                         for g in groups],
              "verdicts": [v.to_dict() for v in verdicts],
              "costs": [c.to_dict() for c in costs]}
    (out / "size_study.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"-> {out / 'size_study.json'}")
    return 0
