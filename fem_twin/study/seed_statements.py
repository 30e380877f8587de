"""The seed's statements about its rate study, each checked by a number of ours (issue 19, part 3).

Park et al. 2020 describe Fig. 3 (capacities) and Figs. 4-6 (fields) in words. Each statement here
is a small rule on a study's numbers: the capacity ones on the per-composition and C-rate means of
``discharge_study.csv`` (:func:`fem_twin.study.tables.summarise`), the field ones on the
``field_metrics.csv`` rows at the end of discharge (``fem-twin metrics``; means over the seeds).
A :class:`Statement` holds the seed's words and where they are, our numbers, and whether they
agree in direction (``holds``; None when the study lacks the cases). Magnitudes are reported, not
judged: "~15 %" or "slightly" are not tolerances.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Statement:
    """One statement of the seed: ``key``, its words and place, our numbers, agreement (or None)."""

    key: str
    seed: str
    ours: str
    holds: bool | None

    def to_dict(self) -> dict:
        return asdict(self)


def _means(summary: list[dict], key: str) -> dict:
    """{(ncm_wt, c_rate): mean of ``key``} over the summary rows that have one."""
    return {(float(r["ncm_wt"]), float(r["c_rate"])): float(r[f"{key}_mean"]) for r in summary
            if r.get(f"{key}_mean") is not None}


def _missing(key: str, seed: str, what: str) -> Statement:
    return Statement(key, seed, f"not evaluated: the study has no {what}", None)


def capacity_statements(summary: list[dict]) -> list[Statement]:
    """The Fig. 3 statements, from a study summary (rows of :func:`fem_twin.study.tables.summarise`)."""
    g = _means(summary, "capacity_mAh_per_g")
    a = _means(summary, "capacity_mAh_per_cm2")
    rates = sorted({r for _, r in g})
    comps = sorted({w for w, _ in g})
    out = []

    s = ("0.1C: 'considerable specific capacity reduction ... as the NCM content increases from 60 to 80 wt%, "
         "as high as 20 mA h g-1, equivalent to 15%' (Results, Fig. 3a-c)")
    if (60.0, 0.1) in g and (80.0, 0.1) in g:
        q60, q80 = g[(60.0, 0.1)], g[(80.0, 0.1)]
        drop = (q60 - q80) / q60 if q60 else None
        out.append(Statement("mass_capacity_drop_0.1C", s, f"60 wt% {q60:.1f}, 80 wt% {q80:.1f} mAh/g: "
                             f"{abs(q60 - q80):.1f} mAh/g {'lower' if q80 < q60 else 'higher'} at 80 wt% "
                             + (f"({100 * abs(drop):.1f} %; seed ~20 mAh/g, 15 %)" if q60 else
                                "(60 wt%: no current path in any piece)"), q80 < q60))
    else:
        out.append(_missing("mass_capacity_drop_0.1C", s, "60 and 80 wt% cases at 0.1C"))

    s = "0.1C: areal capacity 'slightly higher' for 70 and 80 wt% than for 60 wt% (Fig. 3d)"
    if all((w, 0.1) in a for w in (60.0, 70.0, 80.0)):
        a60, a70, a80 = (a[(w, 0.1)] for w in (60.0, 70.0, 80.0))
        rel = (f" (70: {100 * (a70 / a60 - 1):+.1f} %, 80: {100 * (a80 / a60 - 1):+.1f} %)" if a60 > 0
               else " (60 wt%: no current path in any piece)")
        out.append(Statement("areal_capacity_0.1C", s, f"60 / 70 / 80 wt%: {a60:.3f} / {a70:.3f} / {a80:.3f} mAh/cm2"
                             + rel, a70 > a60 and a80 > a60))
    else:
        out.append(_missing("areal_capacity_0.1C", s, "60, 70 and 80 wt% cases at 0.1C"))

    s = "from 0.5C on: areal capacity of 70 and 80 wt% lower than of 60 wt% (Fig. 3d)"
    high = [r for r in rates if r >= 0.5 and all((w, r) in a for w in (60.0, 70.0, 80.0))]
    if high:
        parts = [f"{r:g}C: {a[(60.0, r)]:.3f} / {a[(70.0, r)]:.3f} / {a[(80.0, r)]:.3f}" for r in high]
        ok = all(a[(70.0, r)] < a[(60.0, r)] and a[(80.0, r)] < a[(60.0, r)] for r in high)
        out.append(Statement("areal_capacity_high_rate", s, "60 / 70 / 80 wt% (mAh/cm2): " + "; ".join(parts), ok))
    else:
        out.append(_missing("areal_capacity_high_rate", s, "60, 70 and 80 wt% cases at 0.5C or above"))

    s = "80 wt% has the poorest rate capability: the lowest capacity at the highest C-rate (Fig. 3, Fig. 6 text)"
    top = rates[-1] if rates else None
    at_top = {w: g[(w, top)] for w in comps if (w, top) in g} if top is not None else {}
    if 80.0 in at_top and len(at_top) >= 2:
        out.append(Statement("worst_at_high_rate", s, f"{top:g}C: " + " / ".join(
            f"{w:g} wt% {q:.1f}" for w, q in sorted(at_top.items())) + " mAh/g",
            at_top[80.0] == min(at_top.values())))
    else:
        out.append(_missing("worst_at_high_rate", s, "80 wt% and another composition at one C-rate"))

    s = "specific capacity falls with NCM wt% (60 > 70 > 80 wt%) at every C-rate (Fig. 3a-c)"
    rows, ok = [], True
    for r in rates:
        qs = [(w, g[(w, r)]) for w in comps if (w, r) in g]
        if len(qs) >= 2:
            rows.append(f"{r:g}C: " + " / ".join(f"{q:.1f}" for _, q in qs))
            ok = ok and all(q1 > q2 for (_, q1), (_, q2) in zip(qs, qs[1:]))
    if rows:
        out.append(Statement("mass_capacity_order", s, f"{' / '.join(f'{w:g}' for w in comps)} wt% (mAh/g): "
                             + "; ".join(rows), ok))
    else:
        out.append(_missing("mass_capacity_order", s, "two compositions at one C-rate"))
    return out


def _field_means(metrics: list[dict], column: str) -> dict:
    """{(ncm_wt, c_rate): mean over the seeds of ``column``} at the end of discharge (DOD 1)."""
    acc: dict = {}
    for m in metrics:
        v = m.get(column)
        if v is None or m.get("ncm_wt") is None or float(m.get("requested_dod", 1.0)) != 1.0:
            continue
        acc.setdefault((float(m["ncm_wt"]), float(m["c_rate"])), []).append(float(v))
    return {k: sum(v) / len(v) for k, v in acc.items()}


END_FIELDS = "at the end of discharge ('fem-twin metrics DIR --dod end')"


def _compare_80_70(key, seed, values, fmt, bigger_at_80=True,
                   what=f"70 and 80 wt% cases with field metrics {END_FIELDS}") -> Statement:
    rates = sorted(r for (w, r) in values if w == 80.0 and (70.0, r) in values)
    if not rates:
        return _missing(key, seed, what)
    parts = [f"{r:g}C: 70 wt% {fmt(values[(70.0, r)])}, 80 wt% {fmt(values[(80.0, r)])}" for r in rates]
    ok = all((values[(80.0, r)] > values[(70.0, r)]) == bigger_at_80 for r in rates)
    return Statement(key, seed, "; ".join(parts), ok)


def field_statements(metrics: list[dict], bands: int | None = None) -> list[Statement]:
    """The Figs. 4-6 statements, from ``field_metrics.csv`` rows with ncm_wt, c_rate (and seed)."""
    out = []
    b1 = _field_means(metrics, "lithiation_band1_mean")
    nb = bands or max([int(k.removeprefix("lithiation_band").removesuffix("_mean")) for m in metrics for k in m
                       if k.startswith("lithiation_band") and k.endswith("_mean") and m.get(k) is not None] or [0])
    bl = _field_means(metrics, f"lithiation_band{nb}_mean") if nb >= 2 else {}
    f1 = _field_means(metrics, "lithiation_band1_fraction_above")
    fl = _field_means(metrics, f"lithiation_band{nb}_fraction_above") if nb >= 2 else {}
    s = ("the NCM particles closer to the LPSCl separator are more intercalated ('partial volumes with "
         "lithiation over 80 %', Fig. S16; end of discharge)")
    groups = sorted(k for k in b1 if k in bl)
    thresholds = {float(m["threshold"]) for m in metrics if m.get("threshold") is not None}
    th = f"{thresholds.pop():g}" if len(thresholds) == 1 else "the threshold"
    if groups:
        parts = [f"{w:g} wt% {r:g}C: {b1[(w, r)]:.3f} vs {bl[(w, r)]:.3f}"
                 + (f" (> {th}: {f1[(w, r)]:.2f} vs {fl[(w, r)]:.2f})" if (w, r) in f1 and (w, r) in fl else "")
                 for w, r in groups]
        out.append(Statement("lithiation_near_separator", s, f"mean lithiation, the depth band at the separator vs "
                             f"at the collector (1 and {nb} of {nb}): " + "; ".join(parts),
                             all(b1[k] > bl[k] for k in groups)))
    else:
        out.append(_missing("lithiation_near_separator", s, f"field metrics in depth bands {END_FIELDS}"))

    std = _field_means(metrics, "lithiation_std")
    out.append(_compare_80_70("lithiation_uniformity_70_vs_80",
                              "NCM 70 wt% has a more uniform lithiation than 80 wt% (Fig. S15; end of discharge)",
                              std, lambda v: f"std {v:.3f}"))
    s = ("a lower C-rate gives a more uniform lithiation (Fig. 4a-c, shown for 80 wt%; judged here for every "
         "composition)")
    pairs = [(w, lo, hi) for w in sorted({w for w, _ in std}) for lo in [min(r for ww, r in std if ww == w)]
             for hi in [max(r for ww, r in std if ww == w)] if hi > lo]
    if pairs:
        out.append(Statement("lithiation_uniformity_rate", s, "; ".join(
            f"{w:g} wt%: std {std[(w, lo)]:.3f} at {lo:g}C, {std[(w, hi)]:.3f} at {hi:g}C" for w, lo, hi in pairs),
            all(std[(w, lo)] < std[(w, hi)] for w, lo, hi in pairs)))
    else:
        out.append(_missing("lithiation_uniformity_rate", s, f"field metrics at two C-rates {END_FIELDS}"))

    flux = _field_means(metrics, "li_flux_mol_m2_s_mean")
    cv = _field_means(metrics, "li_flux_mol_m2_s_cv")
    out.append(_compare_80_70("flux_higher_at_80", "the Li+ flux in the LPSCl is higher at 80 wt% than at 70 wt% "
                              "(Fig. 5; end of discharge)", flux, lambda v: f"{v:.3g} mol/(m2 s)"))
    out.append(_compare_80_70("flux_less_uniform_at_80", "... and less uniform (Fig. 5)", cv,
                              lambda v: f"CV {v:.2f}"))
    eta = {k: abs(v) for k, v in _field_means(metrics, "eta_V_mean").items()}
    out.append(_compare_80_70("overpotential_higher_at_80", "the surface overpotential is higher at 80 wt% "
                              "(Fig. 6; end of discharge)", eta, lambda v: f"|eta| {1e3 * v:.1f} mV"))
    s = ("70 wt%: the overpotential at a low C-rate is much lower than at a high one; 80 wt%: already relatively "
         "high at the low C-rate (Fig. 6a-d): low/high ratio larger at 80 wt%")
    ratios = {}
    for w in (70.0, 80.0):
        rs = sorted(r for ww, r in eta if ww == w)
        if len(rs) >= 2 and eta[(w, rs[-1])] > 0:
            ratios[w] = (rs[0], rs[-1], eta[(w, rs[0])] / eta[(w, rs[-1])])
    if len(ratios) == 2:
        out.append(Statement("overpotential_rate_ratio", s, "; ".join(
            f"{w:g} wt%: |eta| {lo:g}C / {hi:g}C = {q:.2f}" for w, (lo, hi, q) in ratios.items()),
            ratios[80.0][2] > ratios[70.0][2]))
    else:
        out.append(_missing("overpotential_rate_ratio", s, f"70 and 80 wt% field metrics at two C-rates {END_FIELDS}"))
    return out


def statements_markdown(statements: list[Statement]) -> str:
    """A Markdown table: the seed's statement, ours, agreement (yes / no / not evaluated)."""
    lines = ["| | the seed | ours | agrees |", "|---|---|---|---|"]
    for s in statements:
        verdict = "not evaluated" if s.holds is None else ("yes" if s.holds else "**no**")
        lines.append(f"| {s.key} | {s.seed} | {s.ours} | {verdict} |")
    return "\n".join(lines)


def write_statements(statements: list[Statement], out_dir: str | Path) -> list[Path]:
    """``seed_statements.json`` and ``seed_statements.md`` in ``out_dir``."""
    out = Path(out_dir)
    pj, pm = out / "seed_statements.json", out / "seed_statements.md"
    pj.write_text(json.dumps([s.to_dict() for s in statements], indent=2) + "\n")
    pm.write_text(statements_markdown(statements) + "\n")
    return [pj, pm]
