"""Numbers behind the seed's Figs. 4-6: statistics of the written discharge fields.

The seed reads its field pictures in words (Results, after Fig. 3): the NCM particles closer to
the separator are more lithiated (Fig. S16: "partial volumes with lithiation over 80 %"), 70 wt%
has a more uniform lithiation than 80 wt% (Fig. S15), the Li+ flux in the LPSCl is "higher and
less uniform" at 80 wt% (Fig. 5), and the surface overpotential is higher at 80 wt% (Fig. 6).
This module turns the same fields into numbers, so each statement can be checked by a number:

- NCM lithiation c_s/c_max (P1 on the NCM mesh): volume mean, standard deviation, coefficient of
  variation, 5/50/95th percentiles, the volume fraction above ``threshold`` (0.8 as Fig. S16) and
  the same per depth band of the composite (band 1 at the separator, the last at the collector);
- Li+ flux |i_e|/F in mol/(m2 s) (one vector per cell of the electrolyte mesh), in the composite
  only (z beyond the separator): volume statistics as above;
- surface overpotential eta in V and current density j in A/m2 (P1 on the NCM|LPSCl triangles):
  area statistics, and the area integral of j (A, > 0 anodic: minus the cell current on
  discharge). With the default ``interface_area = "mesh"`` it must equal minus the cell current at
  every frame, which checks the fields, their units and this module at once; with
  "smoothed-normal" the model weights j by |n_s . n|, the plain integral is not the current and
  the check is reported as not applicable (``current_check`` None).

Means are exact integrals: the mean of a P1 function over a simplex is the mean of its vertex
values, so a cell's value times its volume (area) sums to the integral. Statistics other than the
mean use these cell means with the cells' volumes (areas) as weights. Coordinates in the XDMF files
are in um; volumes are reported in um3, areas in um2, the interface current in A.

Pure array functions (:func:`simplex_measures`, :func:`cell_means`, :func:`weighted_stats`,
:func:`band_index`) and :func:`case_metrics` for a discharge output folder (read with h5py, as
:mod:`fem_twin.post.field_pictures`; never in a process that imported DOLFINx).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, InputError

#: lithiation above which an NCM volume counts as "over 80 %" lithiated (Fig. S16 of the seed)
LITHIATION_THRESHOLD = 0.8
#: depth bands of the composite (thirds: at the separator, middle, at the collector)
DEPTH_BANDS = 3
UM2_TO_M2 = 1e-12


def simplex_measures(points: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Volumes of tetrahedra (``cells`` (M, 4)) or areas of triangles ((M, 3)) with vertices
    ``points`` (N, 3), in the points' unit cubed / squared."""
    p = np.asarray(points, float)
    c = np.asarray(cells, np.int64)
    if c.ndim != 2 or c.shape[1] not in (3, 4):
        raise ValueError(f"cells must be (M, 3) triangles or (M, 4) tetrahedra, got shape {c.shape}")
    e1 = p[c[:, 1]] - p[c[:, 0]]
    e2 = p[c[:, 2]] - p[c[:, 0]]
    if c.shape[1] == 3:
        return 0.5 * np.linalg.norm(np.cross(e1, e2), axis=1)
    e3 = p[c[:, 3]] - p[c[:, 0]]
    return np.abs(np.einsum("ij,ij->i", np.cross(e1, e2), e3)) / 6.0


def cell_means(values: np.ndarray, cells: np.ndarray, centre: str) -> np.ndarray:
    """Per cell the mean of a field: the vertex mean of nodal (P1) ``values`` (exact for P1 on a
    simplex), or ``values`` itself for a cell-centred field (``centre`` 'Cell')."""
    v = np.asarray(values, float)
    if centre == "Cell":
        if len(v) != len(cells):
            raise ValueError(f"{len(v)} cell values for {len(cells)} cells")
        return v
    if centre != "Node":
        raise ValueError(f"centre must be 'Node' or 'Cell', got {centre!r}")
    return v[np.asarray(cells, np.int64)].mean(axis=1)


@dataclass(frozen=True)
class WeightedStats:
    """Statistics of cell values with weights (volumes or areas): the weighted mean, standard
    deviation and coefficient of variation (std / |mean|; None at mean 0), the 5/50/95th weighted
    percentiles, the total weight and, with a threshold, the weight fraction above it."""

    mean: float
    std: float
    cv: float | None
    p05: float
    p50: float
    p95: float
    total_weight: float
    fraction_above: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value below which at least a fraction ``q`` of the weight lies."""
    order = np.argsort(values, kind="stable")
    cw = np.cumsum(weights[order])
    k = int(np.searchsorted(cw, q * cw[-1], side="left"))
    return float(values[order][min(k, len(values) - 1)])


def weighted_stats(values: np.ndarray, weights: np.ndarray, threshold: float | None = None) -> WeightedStats:
    """:class:`WeightedStats` of ``values`` with non-negative ``weights`` (same length, positive sum)."""
    v = np.asarray(values, float)
    w = np.asarray(weights, float)
    if v.shape != w.shape or v.ndim != 1:
        raise ValueError(f"values {v.shape} and weights {w.shape} must be 1-d of one length")
    tw = float(w.sum())
    if not v.size or tw <= 0 or np.any(w < 0):
        raise ValueError("weights must be non-negative with a positive sum")
    mean = float(np.dot(w, v) / tw)
    std = float(math.sqrt(max(float(np.dot(w, (v - mean) ** 2)) / tw, 0.0)))
    above = None if threshold is None else float(w[v > threshold].sum() / tw)
    return WeightedStats(mean, std, std / abs(mean) if mean != 0 else None, weighted_percentile(v, w, 0.05),
                         weighted_percentile(v, w, 0.5), weighted_percentile(v, w, 0.95), tw, above)


def band_index(z: np.ndarray, z0: float, z1: float, bands: int) -> np.ndarray:
    """The depth band (0 .. bands-1) of each depth ``z`` in [z0, z1] (equal widths; outside: clipped)."""
    if not z1 > z0 or bands < 1:
        raise ValueError(f"need z1 > z0 and bands >= 1, got {z0}, {z1}, {bands}")
    return np.clip(((np.asarray(z, float) - z0) / (z1 - z0) * bands).astype(np.int64), 0, bands - 1)


@dataclass(frozen=True)
class FrameMetrics:
    """The field statistics of one written frame of one discharge (see the module docstring)."""

    run_dir: str
    requested_dod: float
    dod: float
    time_s: float
    voltage_V: float | None
    capacity_mAh_per_g: float | None
    current_A: float | None  #: the cell current at this time (discharge.csv; > 0 discharge)
    mean_lithiation_csv: float | None  #: the NCM's mean lithiation at this time (discharge.csv)
    lithiation: WeightedStats | None
    lithiation_bands: list | None  #: per depth band: WeightedStats (band 0 at the separator)
    li_flux_mol_m2_s: WeightedStats | None
    eta_V: WeightedStats | None
    j_A_m2: WeightedStats | None
    j_integral_A: float | None  #: area integral of j (> 0 anodic: -current_A on discharge)
    current_check: float | None  #: -j_integral_A / current_A (1 when the fields balance; None: n/a)
    threshold: float = LITHIATION_THRESHOLD  #: the lithiation of ``fraction_above``

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FrameMetrics":
        """The inverse of :meth:`to_dict` (keys that are not fields, e.g. a study's ncm_wt, are ignored)."""
        def stats(v):
            return None if v is None else WeightedStats(**v)

        kw = {f.name: d.get(f.name) for f in fields(cls) if f.name in d}
        for name in ("lithiation", "li_flux_mol_m2_s", "eta_V", "j_A_m2"):
            kw[name] = stats(kw.get(name))
        if kw.get("lithiation_bands") is not None:
            kw["lithiation_bands"] = [stats(b) for b in kw["lithiation_bands"]]
        return cls(**kw)

    def row(self) -> dict:
        """A flat row for CSV: the means, spreads and fractions (band k: ``lithiation_band<k>_*``)."""
        r = {k: getattr(self, k) for k in ("run_dir", "requested_dod", "dod", "time_s", "voltage_V",
                                           "capacity_mAh_per_g", "current_A", "mean_lithiation_csv",
                                           "j_integral_A", "current_check", "threshold")}
        for name in ("lithiation", "li_flux_mol_m2_s", "eta_V", "j_A_m2"):
            s = getattr(self, name)
            for k in ("mean", "std", "cv", "p05", "p50", "p95", "fraction_above"):
                if k == "fraction_above" and name != "lithiation":
                    continue
                r[f"{name}_{k}"] = None if s is None else getattr(s, k)
        for i, s in enumerate(self.lithiation_bands or []):  # (None: no NCM in that band)
            r[f"lithiation_band{i + 1}_mean"] = None if s is None else s.mean
            r[f"lithiation_band{i + 1}_fraction_above"] = None if s is None else s.fraction_above
        return r


def _part_stats(case, name: str, part: str, t: float, threshold=None, z_min=None):
    """(stats, cell means, weights, centroids z) of field ``name`` of ``part`` at the frame nearest t."""
    from .field_pictures import Quantity

    got = case.values(Quantity(part, name, name, "viridis"), t)
    if got is None:
        return None
    series, mi, v, centre = got
    pts, cells, _ = series.mesh(mi)
    if centre == "Node" and len(v) != len(pts):
        raise FileFormatError(series.path, f"{name}: {len(v)} nodal values on a mesh of {len(pts)} points")
    w = simplex_measures(pts, cells)
    m = cell_means(v, cells, centre)
    zc = pts[cells, 2].mean(axis=1)
    if z_min is not None:
        keep = zc >= z_min
        w, m, zc = w[keep], m[keep], zc[keep]
    if not len(w) or w.sum() <= 0:
        return None
    return weighted_stats(m, w, threshold), m, w, zc


def case_metrics(run_dir: str | Path, dods: list[float], threshold: float = LITHIATION_THRESHOLD,
                 bands: int = DEPTH_BANDS) -> list[FrameMetrics]:
    """:class:`FrameMetrics` of a discharge output folder at each depth of discharge (the written
    frame nearest each, as ``fem-twin render``)."""
    from .field_pictures import CaseFields

    if not 0.0 <= threshold <= 1.0:
        raise InputError("--threshold", "a lithiation in [0, 1]", threshold)
    if bands < 1:
        raise InputError("--bands", "a whole number >= 1", bands)
    case = CaseFields(run_dir)
    bounds = case.domain_bounds()  # (without it the flux statistics include the separator)
    plain_area = (case.summary.get("parameters") or {}).get("interface_area", "mesh") == "mesh"
    out = []
    for d in dods:
        fr = case.frame_for(d)
        t = fr.time_s
        current = x_csv = None
        if case.curve is not None and "current_A" in case.curve:
            current = float(np.interp(t, case.curve["time_s"], case.curve["current_A"]))
        if case.curve is not None and "mean_lithiation" in case.curve:
            x_csv = float(np.interp(t, case.curve["time_s"], case.curve["mean_lithiation"]))
        lit = _part_stats(case, "lithiation", "ncm", t, threshold)
        band_stats = None
        if lit is not None and bounds is not None:
            _, m, w, zc = lit
            sep, z_end = bounds[2], bounds[3]
            b = band_index(zc, sep, z_end, bands)
            band_stats = [weighted_stats(m[b == k], w[b == k], threshold) if np.any(b == k) and w[b == k].sum() > 0
                          else None for k in range(bands)]
        flux = _part_stats(case, "li_flux", "electrolyte", t, None, bounds[2] if bounds else None)
        eta = _part_stats(case, "eta", "interface", t)
        j = _part_stats(case, "j", "interface", t)
        i_int = None if j is None else float(np.dot(j[1], j[2]) * UM2_TO_M2)
        check = -i_int / current if (i_int is not None and current and plain_area) else None
        out.append(FrameMetrics(str(run_dir), d, fr.dod, t, fr.voltage_V, fr.capacity_mAh_per_g, current, x_csv,
                                None if lit is None else lit[0], band_stats, None if flux is None else flux[0],
                                None if eta is None else eta[0], None if j is None else j[0], i_int, check,
                                threshold))
    return out


SAVED_METRICS = "field_metrics.json"


def saved_case_metrics(run_dir: str | Path, dods: list[float], threshold: float = LITHIATION_THRESHOLD,
                       bands: int = DEPTH_BANDS) -> tuple[list[FrameMetrics], list[float]]:
    """The frames of ``run_dir/field_metrics.json`` (written by ``fem-twin metrics RUN_DIR`` while
    the fields were there, e.g. by ``fem-twin study discharge`` at the end of each case with fields)
    asked for by ``dods`` with the same threshold and number of bands: (frames, the dods not saved)."""
    path = Path(run_dir) / SAVED_METRICS
    try:
        saved = [FrameMetrics.from_dict(d) for d in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise FileFormatError(path, f"not a field_metrics.json of 'fem-twin metrics' ({exc})") from exc
    got, missing = [], []
    for d in dods:
        hit = [f for f in saved if abs(f.requested_dod - d) < 1e-9 and abs(f.threshold - threshold) < 1e-12
               and len(f.lithiation_bands or []) in (0, bands)]
        if hit:
            got.append(replace(hit[0], run_dir=str(run_dir)))
        else:
            missing.append(d)
    return got, missing


def write_metrics(frames: list[FrameMetrics], out_dir: str | Path, stem: str = "field_metrics",
                  cases: list[dict] | None = None) -> list[Path]:
    """``<stem>.json`` (every statistic) and ``<stem>.csv`` (one flat row per frame) in ``out_dir``;
    ``cases`` (one dict per frame, e.g. ncm_wt, c_rate, seed of a study's case) lead each record."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pj, pc = out / f"{stem}.json", out / f"{stem}.csv"
    cases = cases or [{} for _ in frames]
    pj.write_text(json.dumps([{**c, **f.to_dict()} for c, f in zip(cases, frames)], indent=2) + "\n")
    rows = [{**c, **f.row()} for c, f in zip(cases, frames)]
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with pc.open("w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=cols)
        wr.writeheader()
        for r in rows:
            wr.writerow({k: ("" if r.get(k) is None else (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]))
                         for k in cols})
    return [pj, pc]


def metrics_table(frames: list[FrameMetrics], labels: list[str] | None = None,
                  threshold: float = LITHIATION_THRESHOLD) -> str:
    """A Markdown table: per frame the lithiation mean ± std (volume fraction above ``threshold``:
    all, the band at the separator, the band at the collector), the composite's Li+ flux mean and
    CV, the mean and std of eta and the interface-current check (-integral of j / cell current)."""
    lines = [f"| case | DOD | V | lithiation mean ± std | > {threshold:g} (all / separator band / collector band) "
             "| Li+ flux mean (mol/m2/s), CV | eta mean (mV), std | -integral of j / cell current |",
             "|---|---|---|---|---|---|---|---|"]
    for k, f in enumerate(frames):
        lab = labels[k] if labels else Path(f.run_dir).name
        lit, fl, eta = f.lithiation, f.li_flux_mol_m2_s, f.eta_V
        bands = f.lithiation_bands or []
        fr = (f"{lit.fraction_above:.3f} / {bands[0].fraction_above:.3f} / {bands[-1].fraction_above:.3f}"
              if lit is not None and bands and bands[0] is not None and bands[-1] is not None else "")
        ratio = "n/a" if f.current_check is None else f"{f.current_check:.4f}"
        lines.append(
            f"| {lab} | {f.dod:.2f} | {'' if f.voltage_V is None else f'{f.voltage_V:.3f}'} | "
            + (f"{lit.mean:.3f} ± {lit.std:.3f}" if lit else "") + f" | {fr} | "
            + (f"{fl.mean:.3g}, {fl.cv:.2f}" if fl and fl.cv is not None else "") + " | "
            + (f"{1e3 * eta.mean:.1f}, {1e3 * eta.std:.1f}" if eta else "") + f" | {ratio} |")
    return "\n".join(lines)
