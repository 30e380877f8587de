"""The tables of the studies: the CSV writer of both (:func:`write_csv`); of ``fem-twin study
discharge``: ``discharge_study.csv`` (one row per case), the statistics over the seeds and
``discharge_study_summary.csv``, the Markdown summary."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from .cases import NO_PATH

STUDY_CSV = "discharge_study.csv"


SUMMARY_CSV = "discharge_study_summary.csv"


CSV_COLUMNS = ["ncm_wt", "c_rate", "seed", "size_um", "separator_um", "capacity_mAh_per_g",
               "capacity_mAh_per_cm2", "complete", "ended_by", "unknowns", "steps", "newton", "wall_s",
               "dead_ncm_fraction", "dead_lpscl_fraction", "interface_area_um2"]


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def _raw(v):
    return "" if v is None else v


def write_csv(path: Path, rows: list[dict], columns: list[str], fmt=_fmt) -> None:
    """The studies' CSV files: a header of ``columns``, then one line per row with ``fmt(value)``
    (default: floats to 6 significant digits, None empty). Written through a temporary file of
    this process and a rename: a reader (or a second study writing the same table) never sees
    half a file."""
    from ..outputs import replaced_whole

    with replaced_whole(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow({k: fmt(r.get(k)) for k in columns})


def write_csv_raw(path: Path, rows: list[dict], columns: list[str]) -> None:
    """:func:`write_csv` with every value as Python writes it (floats in full), None empty."""
    write_csv(path, rows, columns, fmt=_raw)


def write_study_csv(path: Path, rows: list[dict]) -> None:
    """discharge_study.csv: :data:`CSV_COLUMNS`, one row per case."""
    write_csv(path, rows, CSV_COLUMNS)


#: integer columns of the study CSVs
INT_COLUMNS = ("seed", "unknowns", "steps", "newton")


def read_typed_csv(path: Path, text_columns=(), bool_columns=(), any_bool: bool = False) -> list[dict]:
    """Rows of a study CSV: empty as None, ``bool_columns`` (or, with ``any_bool``, every
    True/False) as bool, ``text_columns`` as text, :data:`INT_COLUMNS` as int, other numbers as
    float, other text as text."""
    out = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            row = {}
            for k, v in r.items():
                if v == "":
                    row[k] = None
                elif k in bool_columns or (any_bool and v in ("True", "False")):
                    row[k] = v == "True"
                elif k in text_columns:
                    row[k] = v
                else:
                    try:
                        row[k] = int(v) if k in INT_COLUMNS else float(v)
                    except ValueError:
                        row[k] = v
            out.append(row)
    return out


def read_study_csv(path: Path) -> list[dict]:
    """Rows of discharge_study.csv with numbers as floats/ints, ``complete`` as bool, empty as None."""
    return read_typed_csv(path, text_columns=("ended_by",), bool_columns=("complete",))


def sample_stats(vals: list[float]) -> tuple:
    """(mean, sample standard deviation, min, max) of ``vals``; the deviation is 0 for one value and
    all four are None for none."""
    if not vals:
        return (None, None, None, None)
    n = len(vals)
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return (mean, std, min(vals), max(vals))


def summarise(rows: list[dict]) -> list[dict]:
    """Per (NCM wt%, C-rate): number of cases and of complete ones, and mean, sample standard
    deviation (0 for one seed), min and max of the capacities (mAh/g NCM, mAh/cm2) over the
    complete cases. A case whose structure carries no current counts as complete with 0 mAh/g
    (``n_no_current_path`` of them): a small piece cut off from the collector or the separator is a
    real outcome of that size, and leaving it out would bias the mean upwards."""
    out = []
    for w, r in sorted({(row["ncm_wt"], row["c_rate"]) for row in rows}):
        sel = [row for row in rows if row["ncm_wt"] == w and row["c_rate"] == r]
        ok = [row for row in sel if row["complete"] and row["capacity_mAh_per_g"] is not None]
        s = {"ncm_wt": w, "c_rate": r, "size_um": sel[0]["size_um"], "separator_um": sel[0]["separator_um"],
             "n_cases": len(sel), "n_complete": len(ok),
             "n_no_current_path": sum(1 for row in ok if str(row.get("ended_by") or "").startswith(NO_PATH))}
        for key in ("capacity_mAh_per_g", "capacity_mAh_per_cm2"):
            for name, v in zip(("mean", "std", "min", "max"), sample_stats([float(x[key]) for x in ok])):
                s[f"{key}_{name}"] = v
        out.append(s)
    return out


SUMMARY_COLUMNS = ["ncm_wt", "c_rate", "size_um", "separator_um", "n_cases", "n_complete", "n_no_current_path"] + [
    f"{k}_{s}" for k in ("capacity_mAh_per_g", "capacity_mAh_per_cm2") for s in ("mean", "std", "min", "max")]


def summary_table(summary: list[dict]) -> str:
    """The summary as two Markdown tables (mAh/g NCM, mAh/cm2): one row per NCM wt%, one column per
    C-rate, each cell ``mean ± std (min-max), n`` over the complete cases (``n/N`` when some of the
    N cases are not complete; ``+k no path`` counts the 0 mAh/g pieces among them)."""
    comps = sorted({r["ncm_wt"] for r in summary})
    rates = sorted({r["c_rate"] for r in summary})
    by = {(r["ncm_wt"], r["c_rate"]): r for r in summary}
    lines = []
    for key, unit, fmt in (("capacity_mAh_per_g", "mAh/g NCM", "{:.1f}"), ("capacity_mAh_per_cm2", "mAh/cm2", "{:.3f}")):
        lines += ["", f"| NCM wt% | " + " | ".join(f"{r:g}C ({unit})" for r in rates) + " |",
                  "|---|" + "---|" * len(rates)]
        for w in comps:
            cells = []
            for r in rates:
                s = by.get((w, r))
                if s is None or not s["n_complete"]:
                    cells.append("" if s is None else f"0/{s['n_cases']} complete")
                    continue
                f = fmt.format
                n = f"{s['n_complete']}" if s["n_complete"] == s["n_cases"] else f"{s['n_complete']}/{s['n_cases']}"
                dead = f", {s['n_no_current_path']} no path" if s.get("n_no_current_path") else ""
                cells.append(f"{f(s[key + '_mean'])} ± {f(s[key + '_std'])} ({f(s[key + '_min'])}-"
                             f"{f(s[key + '_max'])}), n = {n}{dead}")
            lines.append(f"| {w:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines[1:])


def write_summary_csv(path: Path, summary: list[dict]) -> None:
    """discharge_study_summary.csv: :data:`SUMMARY_COLUMNS`, one row per composition x C-rate."""
    write_csv(path, summary, SUMMARY_COLUMNS)
