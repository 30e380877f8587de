"""Plots of a design sweep, like the seed's Fig. 7 (matplotlib, Agg): a quantity against each
varied key, one column per key.

In a panel of key X, the cases are grouped by the values of the other varied keys: one line per
group (the mean over the complete seeds at each X), the seed-to-seed band (min-max) around it and
every seed as a dot. A key with text values (``composition``, ``li_contact``) is drawn at evenly
spaced positions with its values as tick labels. When no group has two X values (a Latin
hypercube), the panel is a scatter of every case.

- ``sweep_capacity.png``: rows = (mAh/g NCM, mAh/cm2) x C-rate, when cases were discharged;
- ``sweep_conductivity.png``: rows = sigma_eff of NCM and LPSCl (S/m, log scale: a case without a
  percolating path, sigma_eff = 0, is left out of the line and band), with ``--conductivity``;
- ``sweep_structure.png``: rows = NCM volume fraction, active NCM|LPSCl area density (1/m) and the
  geodesic tortuosity of LPSCl, always.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CAPACITY_PNG = "sweep_capacity.png"
CONDUCTIVITY_PNG = "sweep_conductivity.png"
STRUCTURE_PNG = "sweep_structure.png"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _order(v):
    """Sort key: numbers by value before text."""
    return (0, float(v), "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0.0, str(v))


def _positions(rows: list[dict], key: str) -> tuple[dict, bool]:
    """value -> x position of ``key`` (the value itself when numeric), and whether it is numeric."""
    vals = list(dict.fromkeys(r.get(key) for r in rows if r.get(key) is not None))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
    if numeric:
        return {v: float(v) for v in vals}, True
    return {v: float(i) for i, v in enumerate(vals)}, False


def panel(ax, rows: list[dict], key: str, keys: list[str], column: str, log: bool = False) -> int:
    """Draw ``column`` against ``key`` into ``ax`` (see the module docstring); returns the number
    of lines drawn (0: a scatter or nothing)."""
    pos, numeric = _positions(rows, key)
    others = [k for k in keys if k != key]
    ok = [r for r in rows if r.get("complete") and r.get(column) is not None and r.get(key) in pos
          and (not log or r[column] > 0)]
    if not ok:
        ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center", va="center")
        return 0
    groups: dict = {}
    for r in ok:
        groups.setdefault(tuple(r.get(k) for k in others), []).append(r)
    lines = 0
    if max(len({r[key] for r in g}) for g in groups.values()) < 2:  # a scatter (Latin hypercube)
        ax.scatter([pos[r[key]] for r in ok], [r[column] for r in ok], s=14, c="C0", alpha=0.8, label="cases")
    else:
        for i, (g, sel) in enumerate(sorted(groups.items(), key=lambda kv: tuple(map(_order, kv[0])))):
            xs = sorted({pos[r[key]] for r in sel})
            by = {x: [r[column] for r in sel if pos[r[key]] == x] for x in xs}
            mean = np.array([np.mean(by[x]) for x in xs])
            lo = np.array([min(by[x]) for x in xs])
            hi = np.array([max(by[x]) for x in xs])
            color = f"C{i % 10}"
            label = ", ".join(f"{k}={_fmt(v)}" for k, v in zip(others, g)) or "mean over seeds"
            ax.fill_between(xs, lo, hi, color=color, alpha=0.2, lw=0)
            ax.plot(xs, mean, "-o", color=color, ms=4, label=label if i < 12 else None)
            ax.scatter([pos[r[key]] for r in sel], [r[column] for r in sel], s=8, color=color, alpha=0.6)
            lines += 1
    if not numeric:
        ax.set_xticks(list(pos.values()))
        ax.set_xticklabels([str(v) for v in pos], rotation=30, fontsize=7)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(key)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)
    return lines


def _figure(path: Path, rows: list[dict], keys: list[str], specs: list[tuple]) -> Path:
    """One row per spec (title, column, rows, log), one column per key."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(specs), len(keys), figsize=(4.2 * len(keys), 3.3 * len(specs)),
                             squeeze=False, constrained_layout=True)
    for i, (title, column, sel, log) in enumerate(specs):
        for j, key in enumerate(keys):
            ax = axes[i][j]
            panel(ax, sel, key, keys, column, log)
            ax.set_ylabel(title, fontsize=8)
    fig.suptitle("design sweep: mean over seeds (line), min-max band, seeds (dots)", fontsize=9)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_sweep(root: Path, rows: list[dict], keys: list[str]) -> list[Path]:
    """Write the PNGs of the module docstring that have values into ``root``; returns their paths."""
    root = Path(root)
    written = []
    rates = sorted({r["c_rate"] for r in rows if r.get("c_rate") is not None})
    if rates and any(r.get("capacity_mAh_per_g") is not None for r in rows):
        specs = []
        for col, label in (("capacity_mAh_per_g", "mAh/g NCM"), ("capacity_mAh_per_cm2", "mAh/cm²")):
            for c in rates:
                specs.append((f"{label} at {c:g}C", col, [r for r in rows if r.get("c_rate") == c], False))
        written.append(_figure(root / CAPACITY_PNG, rows, keys, specs))
    first = rows if not rates else [r for r in rows if r.get("c_rate") == rates[0]]  # a structure once
    structure = [r if r.get("c_rate") is None else {**r, "complete": True} for r in first]
    if any(r.get("sigma_eff_ncm_S_per_m") is not None or r.get("sigma_eff_lpscl_S_per_m") is not None for r in rows):
        specs = [("σ_eff NCM (S/m)", "sigma_eff_ncm_S_per_m", structure, True),
                 ("σ_eff LPSCl (S/m)", "sigma_eff_lpscl_S_per_m", structure, True)]
        written.append(_figure(root / CONDUCTIVITY_PNG, rows, keys, specs))
    if any(r.get("vf_ncm") is not None for r in structure):
        specs = [("NCM volume fraction", "vf_ncm", structure, False),
                 ("active NCM|LPSCl area (1/m)", "active_contact_density_per_m", structure, False),
                 ("geodesic tortuosity LPSCl", "tau_geo_lpscl", structure, False)]
        written.append(_figure(root / STRUCTURE_PNG, rows, keys, specs))
    return written
