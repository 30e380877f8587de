"""Voltage curves of a discharge study, like the seed's Fig. 3 (matplotlib, Agg).

Each case's curve is the first protocol step of its ``discharge.csv`` (voltage_V against
capacity_mAh_per_g or capacity_mAh_per_cm2). The curves of the seeds of one composition and C-rate
are interpolated on a common capacity grid (0 to the largest end capacity): the seed-to-seed band
is the min-max envelope of the seeds whose curve reaches that capacity, the mean curve is drawn
where every seed's curve does (it stops at the smallest capacity); each seed's end is a dot.

- ``discharge_study_by_rate.png``: columns = C-rates, one colour per composition; top row
  V against mAh/g NCM, bottom row V against mAh/cm2 (electrode face area);
- ``discharge_study_by_composition.png``: the seed's layout (Fig. 3a-c, d-f): columns =
  compositions, one colour per C-rate.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

BY_RATE_PNG = "discharge_study_by_rate.png"
BY_COMPOSITION_PNG = "discharge_study_by_composition.png"
QUANTITIES = (("capacity_mAh_per_g", "specific capacity (mAh/g NCM)"),
              ("capacity_mAh_per_cm2", "areal capacity (mAh/cm²)"))


def read_curve(run_dir: str | Path) -> dict | None:
    """The first discharging protocol step of ``run_dir/discharge.csv`` as arrays (time_s, voltage_V,
    capacity_mAh_per_g, capacity_mAh_per_cm2; current_A and mean_lithiation when the file has them),
    or None when missing or without rows."""
    p = Path(run_dir) / "discharge.csv"
    try:
        with open(p, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return None
    rows = [r for r in rows if r.get("voltage_V") not in (None, "")]
    if not rows:
        return None
    dis = [r for r in rows if float(r.get("current_A") or 0.0) > 0.0]
    if not dis:
        return None
    step = dis[0]["step"]
    sel = [r for r in rows if r["step"] == step]
    keys = ["time_s", "voltage_V", "capacity_mAh_per_g", "capacity_mAh_per_cm2"]
    keys += [k for k in ("current_A", "mean_lithiation") if all(r.get(k) not in (None, "") for r in sel)]
    return {k: np.array([float(r[k]) for r in sel]) for k in keys}


def _monotone(q: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the last voltage of repeated capacities (the instantaneous IR row at Q = 0)."""
    keep = np.ones(len(q), bool)
    keep[:-1] = np.diff(q) > 0
    return q[keep], v[keep]


def seed_band(curves: list[dict], key: str, n: int = 300) -> dict | None:
    """Band of several seeds' curves V(Q) on a common grid of ``n`` capacities from 0 to the largest
    end capacity (``key``: capacity_mAh_per_g or capacity_mAh_per_cm2). Returns grid, vmin, vmax
    (NaN where no curve reaches), vmean (NaN where not every curve reaches), n_at (curves reaching
    each grid point) and ends (end capacity, end voltage per curve)."""
    curves = [c for c in curves if c is not None and len(c[key]) >= 2]
    if not curves:
        return None
    ends = [(float(c[key][-1]), float(c["voltage_V"][-1])) for c in curves]
    qmax = max(e[0] for e in ends)
    grid = np.linspace(0.0, qmax, n)
    vals = np.full((len(curves), n), np.nan)
    for i, c in enumerate(curves):
        q, v = _monotone(np.asarray(c[key], float), np.asarray(c["voltage_V"], float))
        inside = (grid >= q[0] - 1e-12) & (grid <= q[-1] + 1e-12 * max(1.0, q[-1]))
        vals[i, inside] = np.interp(grid[inside], q, v)
    n_at = np.sum(np.isfinite(vals), axis=0)
    with np.errstate(all="ignore"):
        vmin = np.where(n_at > 0, np.nanmin(np.where(np.isfinite(vals), vals, np.inf), axis=0), np.nan)
        vmax = np.where(n_at > 0, np.nanmax(np.where(np.isfinite(vals), vals, -np.inf), axis=0), np.nan)
        vmean = np.where(n_at == len(curves), np.nanmean(vals, axis=0), np.nan)
    return {"grid": grid, "vmin": vmin, "vmax": vmax, "vmean": vmean, "n_at": n_at, "ends": ends,
            "n_curves": len(curves)}


def _draw(ax, band: dict, color, label: str, no_path: int = 0):
    ax.fill_between(band["grid"], band["vmin"], band["vmax"], where=band["n_at"] > 0, color=color, alpha=0.25,
                    linewidth=0)
    extra = f", +{no_path} no current path: 0 mAh/g" if no_path else ""
    ax.plot(band["grid"], band["vmean"], color=color, lw=1.6, label=f"{label} (n={band['n_curves']}{extra})")
    e = np.array(band["ends"])
    ax.plot(e[:, 0], e[:, 1], "o", ms=3, color=color)


def plot_study_curves(root: str | Path, cases: list[dict]) -> list[Path]:
    """Write :data:`BY_RATE_PNG` and :data:`BY_COMPOSITION_PNG` into ``root``.

    ``cases``: dicts with ncm_wt, c_rate, seed, complete and run_dir (the case's output folder);
    only complete cases are drawn; cases whose ``ended_by`` starts with 'no current path' (the
    structure carries no current: 0 mAh/g, no curve) are counted in the legend. Returns the files
    written (none without a complete case).
    """
    root = Path(root)
    curves, no_path = {}, {}
    for c in cases:
        if not c.get("complete"):
            continue
        if str(c.get("ended_by") or "").startswith("no current path"):
            key = (float(c["ncm_wt"]), float(c["c_rate"]))
            no_path[key] = no_path.get(key, 0) + 1
            continue
        cur = read_curve(c["run_dir"])
        if cur is not None:
            curves.setdefault((float(c["ncm_wt"]), float(c["c_rate"])), []).append(cur)
    if not curves:
        return []
    comps = sorted({k[0] for k in curves})
    rates = sorted({k[1] for k in curves})
    return [
        _figure(root / BY_RATE_PNG, curves, panels=rates, colours=comps, panel_is_rate=True, no_path=no_path),
        _figure(root / BY_COMPOSITION_PNG, curves, panels=comps, colours=rates, panel_is_rate=False,
                no_path=no_path),
    ]


def _figure(path: Path, curves: dict, panels: list[float], colours: list[float], panel_is_rate: bool,
            no_path: dict | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("viridis" if panel_is_rate else "plasma")
    cols = {c: cmap(0.1 + 0.75 * i / max(1, len(colours) - 1)) for i, c in enumerate(colours)}
    fig, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels) + 0.6, 7.4), squeeze=False)
    fig.subplots_adjust(left=0.7 / (4.2 * len(panels) + 0.6), right=0.98, bottom=0.07, top=0.92,
                        wspace=0.3, hspace=0.3)
    letters = "abcdefghijklmnopqrstuvwxyz"
    for row, (key, xlabel) in enumerate(QUANTITIES):
        for col, p in enumerate(panels):
            ax = axes[row, col]
            for c in colours:
                k = (c, p) if panel_is_rate else (p, c)
                band = seed_band(curves.get(k, []), key)
                if band is None:
                    continue
                _draw(ax, band, cols[c], f"NCM {c:g} wt%" if panel_is_rate else f"{c:g}C", (no_path or {}).get(k, 0))
            title = f"{p:g}C" if panel_is_rate else f"NCM {p:g} wt%"
            ax.set_title(f"({letters[(row * len(panels) + col) % 26]}) {title}", fontsize=10)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("cell voltage vs Li (V)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="lower left")
    fig.suptitle("discharge curves: mean over seeds (line), seed-to-seed min-max band, seed ends (dots)",
                 fontsize=10)
    from ..outputs import replaced_whole

    try:  # (whole: two studies on one folder may write it at once)
        with replaced_whole(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)
    return path
