"""``fem-twin study statements``: the seed's statements about its rate study against ours (issue 19, part 3).

Reads DIR/discharge_study.csv (a 'fem-twin study discharge' folder) and, when present,
DIR/field_metrics.csv ('fem-twin metrics DIR', the fields at the end of discharge), checks each of
the seed's statements on Figs. 3-6 by a number (fem_twin/study/seed_statements.py), prints the
table and writes DIR/seed_statements.json and DIR/seed_statements.md (or in --output).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError


def register_study_statements(kinds) -> None:
    """Add ``statements`` to the sub-parsers of ``fem-twin study`` (``kinds``)."""
    p = kinds.add_parser("statements", help="the seed's Figs. 3-6 statements checked on a discharge study",
                         description=__doc__.split("\n\n")[1])
    p.add_argument("dir", metavar="DIR", help="a 'study discharge' folder")
    p.add_argument("-o", "--output", default=None, help="folder for seed_statements.json/.md (default DIR)")
    p.set_defaults(func=cmd_study_statements)


def cmd_study_statements(args) -> int:
    from ..study.seed_statements import capacity_statements, field_statements, statements_markdown, write_statements
    from ..study.tables import STUDY_CSV, read_study_csv, read_typed_csv, summarise

    root = Path(args.dir)
    study_csv = root / STUDY_CSV
    if not study_csv.exists():
        raise InputError("DIR", f"a 'fem-twin study discharge' folder with {STUDY_CSV}", str(root))
    rows = read_study_csv(study_csv)
    statements = capacity_statements(summarise(rows))
    metrics_csv = root / "field_metrics.csv"
    if metrics_csv.exists():
        metrics = read_typed_csv(metrics_csv, text_columns=("run_dir",))
        if metrics and "ncm_wt" not in metrics[0]:
            raise InputError(str(metrics_csv), "rows with ncm_wt and c_rate (written by 'fem-twin metrics DIR' on "
                             "the study folder)", "rows without them")
        statements += field_statements(metrics)
    else:
        print(f"(no {metrics_csv}: the field statements need 'fem-twin metrics {root} --dod end' first)")
        statements += field_statements([])
    print(statements_markdown(statements))
    out = Path(args.output) if args.output else root
    out.mkdir(parents=True, exist_ok=True)
    for p in write_statements(statements, out):
        print(f"-> {p}")
    return 0
