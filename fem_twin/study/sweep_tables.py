"""The tables of a design sweep: one row per case (:func:`sweep_row`: the varied keys, seed,
C-rate, the structure's descriptors from ``analysis.json``, sigma_eff from ``conductivity_*.json``,
the capacities from ``discharge.json``, the voltage at the end of the first discharge step from
``discharge.csv``, the status) in ``sweep.csv``, the statistics over the seeds
per point and C-rate in ``sweep_summary.csv`` and as a Markdown table, and the plots
(:mod:`fem_twin.post.sweep_plots`).

Units: volume fractions, dead fractions 0-1; areas um2; area densities 1/m; sigma S/m; capacities
mAh per g NCM and mAh/cm2; times s.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from .cases import NO_PATH, read_summary
from .runner import CASE_RECORD, case_row
from .sweep_cases import SweepCase
from .sweep_keys import format_value
from .sweep_worker import conductivity_file
from .tables import read_typed_csv, sample_stats, write_csv

SWEEP_CSV = "sweep.csv"
SWEEP_SUMMARY_CSV = "sweep_summary.csv"

#: columns after the varied keys
CASE_COLUMNS = ["seed", "c_rate", "structure_dir", "run_dir",
                "vf_ncm", "vf_lpscl", "vf_nbr", "vf_pore", "dead_ncm", "dead_lpscl", "percolates_ncm",
                "percolates_lpscl", "contact_area_ncm_lpscl_um2", "active_contact_density_per_m",
                "tau_geo_ncm", "tau_geo_lpscl",
                "sigma_eff_ncm_S_per_m", "sigma_eff_lpscl_S_per_m", "tau_ncm", "tau_lpscl",
                "capacity_mAh_per_g", "capacity_mAh_per_cm2", "voltage_end_V", "complete", "status", "unknowns",
                "steps", "newton", "wall_s"]

#: the quantities summarised over the seeds
STAT_COLUMNS = ["capacity_mAh_per_g", "capacity_mAh_per_cm2", "voltage_end_V", "sigma_eff_ncm_S_per_m",
                "sigma_eff_lpscl_S_per_m", "vf_ncm", "active_contact_density_per_m", "tau_geo_lpscl"]


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def structure_columns(sd: Path) -> dict:
    """The descriptor and conductivity columns of a structure folder (None where a file is missing)."""
    row = {k: None for k in CASE_COLUMNS[4:20]}
    a = _read_json(sd / "analysis.json")
    if a:
        vf = a.get("volume_fraction") or {}
        dead = a.get("dead_fraction") or {}
        perc = a.get("percolates") or {}
        desc = a.get("descriptors") or {}
        area = (a.get("contact_area_um2") or {}).get("corrected") or {}
        row.update(vf_ncm=vf.get("ncm"), vf_lpscl=vf.get("lpscl"), vf_nbr=vf.get("nbr"), vf_pore=vf.get("pore"),
                   dead_ncm=dead.get("ncm"), dead_lpscl=dead.get("lpscl"), percolates_ncm=perc.get("ncm"),
                   percolates_lpscl=perc.get("lpscl"),
                   contact_area_ncm_lpscl_um2=area.get("ncm|lpscl"),
                   active_contact_density_per_m=(a.get("active_contact_area_density_per_m") or {}).get("corrected"),
                   tau_geo_ncm=(desc.get("ncm") or {}).get("tau_geo"),
                   tau_geo_lpscl=(desc.get("lpscl") or {}).get("tau_geo"))
    for phase in ("ncm", "lpscl"):
        c = _read_json(sd / conductivity_file(phase))
        if c:
            row[f"sigma_eff_{phase}_S_per_m"] = c.get("sigma_eff_S_per_m")
            row[f"tau_{phase}"] = c.get("tortuosity_factor")
    return row


def sweep_row(root: Path, case: SweepCase, sw, structure_status: str | None) -> dict:
    """One row of sweep.csv (see :data:`CASE_COLUMNS`); ``structure_status`` is what the structure
    stage returned ('ok...', a failure, or None when it did not run)."""
    from .sweep_runner import NO_PATH_FILE

    root = Path(root)
    sd = case.structure_dir(root)
    row = {k: v for k, v in case.point}
    row.update({k: None for k in CASE_COLUMNS})
    row.update(seed=case.seed, c_rate=case.c_rate, structure_dir=str(sd.relative_to(root)))
    row.update(structure_columns(sd))
    ok = (structure_status or "").startswith("ok")
    if case.c_rate is None:
        row["complete"] = ok
        row["status"] = "structure " + (structure_status or "not run") if ok else (structure_status or "not run")
        return row
    rd = case.run_dir(root)
    row["run_dir"] = str(rd.relative_to(root))
    s = read_summary(rd)
    nopath = _read_json(rd / NO_PATH_FILE)
    if s is None and nopath is not None:
        row.update(capacity_mAh_per_g=0.0, capacity_mAh_per_cm2=0.0, complete=True, steps=0, newton=0, wall_s=0.0,
                   status=f"{NO_PATH}: {nopath.get('why')}; not run")
        return row
    if s is None and not ok and not (rd / CASE_RECORD).exists():
        row.update(complete=False, status=structure_status or "not run")
        return row
    st = sw.case_study(case, root)
    from types import SimpleNamespace

    r = case_row(SimpleNamespace(ncm_wt=None, c_rate=case.c_rate, seed=case.seed), st, rd)
    row.update({k: r.get(k) for k in ("capacity_mAh_per_g", "capacity_mAh_per_cm2", "complete", "unknowns", "steps",
                                      "newton", "wall_s")})
    row["status"] = r.get("ended_by")
    from ..post.discharge_plots import read_curve

    curve = read_curve(rd)
    if curve is not None and len(curve["voltage_V"]):
        row["voltage_end_V"] = float(curve["voltage_V"][-1])
    return row


def columns(keys: list[str]) -> list[str]:
    return list(keys) + CASE_COLUMNS


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def write_sweep_csv(path: Path, rows: list[dict], keys: list[str]) -> None:
    """sweep.csv: the varied keys, then :data:`CASE_COLUMNS`; one line per case."""
    write_csv(path, rows, columns(keys), fmt=_fmt)


def read_sweep_csv(path: Path) -> list[dict]:
    """Rows of sweep.csv: numbers as float (seed, unknowns, steps, newton as int), True/False as
    bool, empty as None, other text as text."""
    return read_typed_csv(path, text_columns=("status", "structure_dir", "run_dir"), any_bool=True)


def summarise_sweep(rows: list[dict], keys: list[str]) -> list[dict]:
    """Per point (the varied keys' values) and C-rate: ``n_cases``, ``n_complete`` and mean, sample
    std (0 for one seed), min, max over the complete cases of every :data:`STAT_COLUMNS` quantity
    that has values. A case whose structure carries no current counts with 0 mAh/g."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((tuple(r.get(k) for k in keys), r.get("c_rate")), []).append(r)
    out = []
    for (point, rate), sel in groups.items():
        ok = [r for r in sel if r.get("complete")]
        s = {**dict(zip(keys, point)), "c_rate": rate, "n_cases": len(sel), "n_complete": len(ok)}
        for q in STAT_COLUMNS:
            vals = [float(r[q]) for r in ok if r.get(q) is not None]
            for name, v in zip(("mean", "std", "min", "max"), sample_stats(vals)):
                s[f"{q}_{name}"] = v
        out.append(s)
    return out


def summary_columns(keys: list[str]) -> list[str]:
    return list(keys) + ["c_rate", "n_cases", "n_complete"] + [f"{q}_{s}" for q in STAT_COLUMNS
                                                               for s in ("mean", "std", "min", "max")]


def summary_markdown(summary: list[dict], keys: list[str]) -> str:
    """The summary as a Markdown table: the keys, the C-rate, then ``mean ± std (min-max)`` of the
    capacities and conductivities that have values, and n (complete / cases)."""
    qs = [(q, label, f) for q, label, f in (
        ("capacity_mAh_per_g", "mAh/g NCM", "{:.1f}"), ("capacity_mAh_per_cm2", "mAh/cm2", "{:.3f}"),
        ("sigma_eff_ncm_S_per_m", "sigma_eff NCM (S/m)", "{:.3g}"),
        ("sigma_eff_lpscl_S_per_m", "sigma_eff LPSCl (S/m)", "{:.3g}"),
        ("vf_ncm", "eps NCM", "{:.3f}"), ("tau_geo_lpscl", "tau_geo LPSCl", "{:.3f}"))
        if any(s.get(f"{q}_mean") is not None for s in summary)]
    rate = any(s.get("c_rate") is not None for s in summary)
    head = list(keys) + (["C-rate"] if rate else []) + [label for _, label, _ in qs] + ["n"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summary:
        cells = [format_value(s.get(k)) for k in keys] + ([format_value(s.get("c_rate"))] if rate else [])
        for q, _, f in qs:
            m = s.get(f"{q}_mean")
            cells.append("" if m is None else f"{f.format(m)} ± {f.format(s[q + '_std'])} "
                         f"({f.format(s[q + '_min'])}-{f.format(s[q + '_max'])})")
        cells.append(f"{s['n_complete']}/{s['n_cases']}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def finish_sweep(root: Path, rows: list[dict], keys: list[str], out=print, plots: bool = True) -> list[Path]:
    """Write sweep.csv, sweep_summary.csv and (``plots``) the PNGs; print the Markdown summary.
    A failing plot only warns."""
    root = Path(root)
    write_sweep_csv(root / SWEEP_CSV, rows, keys)
    summary = summarise_sweep(rows, keys)
    write_csv(root / SWEEP_SUMMARY_CSV, summary, summary_columns(keys), fmt=_fmt)
    if summary:
        out(summary_markdown(summary, keys), flush=True)
    written = [root / SWEEP_CSV, root / SWEEP_SUMMARY_CSV]
    if plots and keys:
        try:
            from ..post.sweep_plots import plot_sweep

            written += plot_sweep(root, rows, keys)
        except Exception as exc:  # a plot must not lose the sweep
            warnings.warn(f"sweep plots not written: {exc.__class__.__name__}: {exc}", RuntimeWarning, stacklevel=2)
    out("-> " + ", ".join(str(p) for p in written), flush=True)
    return written


__all__ = ["SWEEP_CSV", "SWEEP_SUMMARY_CSV", "CASE_COLUMNS", "STAT_COLUMNS", "sweep_row", "structure_columns",
           "write_sweep_csv", "read_sweep_csv", "summarise_sweep", "summary_markdown", "finish_sweep"]
