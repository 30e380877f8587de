"""PyBaMM's P2D (DFN) against each complete 50 um case of the rate study: a code we did not write.

    .venv/bin/python docs/data/rate_study/p2d_check.py [--study DIR] [--work DIR] [-o OUT]

For every complete case ``STUDY/ncm<W>_seed<S>/c<R>C`` it runs ``fem-twin p2d`` (PyBaMM's DFN half
cell, :mod:`fem_twin.p2d`) on that case's structure with the calibrated parameters and the 3D run's
own separator, matched conductances and reacting area (``--discharge CASE``: ``--area auto`` and
``--conductances auto`` take them from the run's ``discharge.json``), at the case's C-rate to 3.0 V.
The structure's ``design.json``/``structure.npz`` are copied to ``WORK/<structure>`` first (the
P2D's ``analysis.json`` is written there, not into the study). Outputs per structure in
``OUT/<structure>/`` (``p2d.json``, ``p2d_<rate>.csv``; the per-case PNGs are left in WORK), and
``OUT/p2d_vs_3d.csv`` + ``OUT/p2d_vs_3d.json`` + ``OUT/p2d_vs_3d.png``, and the markdown table on stdout.

Columns: the 3D capacity (mAh/g NCM, to its own end: 3.0 V or NCM surface at c_max), the P2D
capacity to 3.0 V, the P2D capacity to the 3D run's end voltage (the same stop in voltage), the
relative differences, ``fem-twin p2d``'s max |V_P2D - V_3D| and mean (V_P2D - V_3D) up to 90 %
of the smaller capacity (V), and the factor on the P2D's particle radius (all other inputs kept)
at which the P2D capacity to the 3D end voltage equals the 3D capacity (R_eff / R, brentq on
0.5-4; the solid diffusion time R^2/D the homogenised model would need), and the fraction of the
NCM's voxel faces that touch LPSCl (of those touching LPSCl, NBR or pore; ``analysis.json``'s
``contact_faces``, copied to ``OUT/<structure>/``), and the mean distance (um) of the NCM voxels to
the nearest NCM voxel on LPSCl or on the separator (``OUT/<structure>/ncm_distance_to_contact.json``),
and the same on the image the 3D run meshes, dead NCM and dead LPSCl removed (:func:`live_image`:
the live NCM to the nearest live contact).
Below the table: the Pearson correlation of R_eff / R with these two descriptors per C-rate, over
all cases and within each composition. Serial; ~10-20 s per case. Already-run cases are reused
(``OUT/<structure>/p2d.json`` holding that rate, for the same 3D run) unless ``--force``.

What the P2D shares with the 3D code: the parameter set (``fem_twin/parameters``, the OCP, the
kinetics constants), the calibrated initial lithiation, and the inputs taken from our 3D run and
analysis (volume fractions, fv-matched conductances, the mesh's reacting area, the particle radius).
What it does not share: the model (homogenised DFN against resolved 3D), the discretisation, the
nonlinear solver and the time stepping (PyBaMM's IDAKLU against our PETSc SNES and step control).
So agreement checks the 3D solver and its kinetics/transport as a whole against an independent
implementation, and the difference measures what the homogenisation leaves out (local LPSCl necks,
uneven contact), not the parameters.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE))
from progress import case_key  # noqa: E402  (seed, C-rate, NCM wt%) of a case folder
PARAMS = HERE / "calibration" / "calibrated_parameters.toml"


def capacity_at_voltage(csv_path: Path, v_stop: float) -> float:
    """Capacity (mAh/g) where the P2D voltage first falls to ``v_stop`` (linear in between)."""
    rows = list(csv.DictReader(csv_path.open()))
    v = [float(r["voltage_V"]) for r in rows]
    q = [float(r["capacity_mAh_per_g"]) for r in rows]
    for i in range(len(v)):
        if v[i] <= v_stop:
            if i == 0 or v[i - 1] == v[i]:
                return q[i]
            w = (v[i - 1] - v_stop) / (v[i - 1] - v[i])
            return q[i - 1] + w * (q[i] - q[i - 1])
    return q[-1]


def last_voltage(case: Path) -> float:
    rows = list(csv.DictReader((case / "discharge.csv").open()))
    return float(rows[-1]["voltage_V"])


def run_case(case: Path, work: Path, out: Path, fem_twin: str, force: bool) -> dict:
    seed, rate, wt = case_key(case)
    struct = case.parent
    rate_key = f"{rate:g}C"
    dest = out / struct.name
    p2d_json = dest / "p2d.json"
    cached = None
    if p2d_json.exists() and not force:
        runs = json.loads(p2d_json.read_text()).get("runs", {})
        r = runs.get(rate_key)
        if (r and Path(r.get("comparison", {}).get("discharge_dir", "")).resolve() == case.resolve()
                and (dest / f"p2d_{rate_key}.csv").exists()):
            # (the work folder's p2d.json, copied below, may hold runs of other rates whose CSVs
            # were never copied here: those are run again)
            cached = r
    if cached is None:
        wdir = work / struct.name
        wdir.mkdir(parents=True, exist_ok=True)
        for name in ("design.json", "structure.npz"):
            if not (wdir / name).exists():
                shutil.copy2(struct / name, wdir / name)
        cmd = [fem_twin, "p2d", str(wdir), "--discharge", str(case), "--c-rate", f"{rate:g}",
               "--params", str(PARAMS), "-o", str(wdir / "p2d")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        print(proc.stdout.strip().splitlines()[-2], file=sys.stderr)
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(wdir / "p2d" / "p2d.json", p2d_json)
        shutil.copy2(wdir / "p2d" / f"p2d_{rate_key}.csv", dest / f"p2d_{rate_key}.csv")
        cached = json.loads(p2d_json.read_text())["runs"][rate_key]
    if not (dest / "analysis.json").exists():
        shutil.copy2(work / struct.name / "analysis.json", dest / "analysis.json")
    faces = json.loads((dest / "analysis.json").read_text())["contact_faces"]
    coverage = faces["ncm|lpscl"] / (faces["ncm|lpscl"] + faces["ncm|nbr"] + faces["pore|ncm"])
    dist_file = dest / "ncm_distance_to_contact.json"
    if not dist_file.exists() or "live_mean_um" not in json.loads(dist_file.read_text()):
        dist_file.write_text(json.dumps(ncm_distance_to_contact(struct), indent=1) + "\n")
    distance = json.loads(dist_file.read_text())
    cmp = cached["comparison"]
    d3 = json.loads((case / "discharge.json").read_text())
    v_end = last_voltage(case)
    q_p2d_vend = capacity_at_voltage(dest / f"p2d_{rate_key}.csv", v_end)
    q3 = float(d3["capacity_mAh_per_g"])
    q2 = float(cmp["capacity_p2d_mAh_g"])
    f_key = "radius_factor_fitted"
    if f_key in cached and not force:
        f_fit = cached[f_key]
    else:
        f_fit = fitted_radius_factor(dest, rate, v_end, q3)
        data = json.loads(p2d_json.read_text())
        data["runs"][rate_key][f_key] = f_fit
        p2d_json.write_text(json.dumps(data, indent=1) + "\n")
    return {
        "ncm_wt": wt, "seed": seed, "c_rate": rate,
        "capacity_3d_mAh_g": q3, "end_voltage_3d_V": v_end,
        "capacity_p2d_mAh_g": q2, "capacity_p2d_to_3d_end_voltage_mAh_g": q_p2d_vend,
        "p2d_minus_3d_rel": (q2 - q3) / q3, "p2d_to_3d_end_minus_3d_rel": (q_p2d_vend - q3) / q3,
        "max_abs_dV_V": float(cmp["max_dV_V"]), "mean_dV_V": float(cmp["mean_dV_V"]),
        "dV_up_to_mAh_g": float(cmp["max_dV_up_to_mAh_g"]),
        "b_ncm": cached["inputs"]["b_ncm"], "b_lpscl": cached["inputs"]["b_lpscl"],
        "area_per_volume_per_m": cached["inputs"]["area_per_volume_per_m"],
        "radius_factor_fitted": f_fit,
        "ncm_lpscl_coverage": coverage,
        "ncm_distance_to_contact_mean_um": distance["mean_um"],
        "ncm_distance_to_live_contact_mean_um": distance["live_mean_um"],
        "p2d_seconds": float(cached["seconds"]), "case": str(case.relative_to(ROOT)),
    }


def inputs_from_record(record: dict):
    """:class:`fem_twin.p2d.P2DInputs` from the ``inputs`` a ``p2d.json`` run records (its extra keys,
    the derived values, dropped)."""
    import dataclasses

    from fem_twin import p2d

    names = {f.name for f in dataclasses.fields(p2d.P2DInputs)}
    return p2d.P2DInputs(**{k: v for k, v in record.items() if k in names})


def ncm_distance_to_contact(struct: Path) -> dict:
    """Mean and 90th percentile (um) over the NCM voxels of the Euclidean distance to the nearest NCM
    voxel sharing a face with LPSCl or lying on the separator plane (not periodic: the 3D cells are cut
    pieces); :func:`fem_twin.analysis.profile.distance_to_contact_um`."""
    from fem_twin.analysis.profile import distance_to_contact_um
    from fem_twin.microstructure.image import VoxelImage
    from fem_twin.phases import NCM

    img = VoxelImage.load(struct)
    d = distance_to_contact_um(img.labels, img.voxel_size_um, periodic_xy=False, separator=True)[img.labels == NCM]
    live = live_image(img.labels)
    d_live = distance_to_contact_um(live, img.voxel_size_um, periodic_xy=False, separator=True)[live == NCM]
    return {"mean_um": float(d.mean()), "p90_um": float(np.percentile(d, 90)), "ncm_voxels": int(d.size),
            "live_mean_um": float(d_live.mean()), "live_p90_um": float(np.percentile(d_live, 90)),
            "live_ncm_voxels": int(d_live.size),
            "source": f"{struct.relative_to(ROOT)}/structure.npz", "periodic_xy": False, "separator": True}


def live_image(labels: np.ndarray) -> np.ndarray:
    """The image the 3D run meshes: NCM not connected to the collector and LPSCl not connected to the
    separator side (26-connectivity, cut sides; :func:`fem_twin.analysis.connectivity.live_phases`,
    as ``prune_dead_clusters``) set to pore. A contact with dead LPSCl carries no current."""
    from fem_twin.analysis.connectivity import live_phases
    from fem_twin.phases import LPSCL, NCM, PORE

    ncm_ok, ely_ok = live_phases(labels)
    out = np.array(labels, copy=True)
    out[((labels == NCM) & ~ncm_ok) | ((labels == LPSCL) & ~ely_ok)] = PORE
    return out


def fitted_radius_factor(struct_out: Path, rate: float, v_end: float, q3: float) -> float:
    """The factor f on the P2D particle radius (the reacting area, conductances and all else kept)
    at which the P2D capacity to the 3D run's end voltage equals the 3D capacity: the solid
    diffusion length, R^2 / D, the homogenised model would need (nan: outside 0.5-4)."""
    import dataclasses

    from scipy.optimize import brentq

    from fem_twin import p2d
    from fem_twin.parameters.cell import ParameterSet
    from fem_twin.protocol import Protocol

    params = ParameterSet.from_toml(PARAMS)
    base = inputs_from_record(json.loads((struct_out / "p2d.json").read_text())["runs"][f"{rate:g}C"]["inputs"])
    protocol = Protocol.parse(f"discharge {rate:g}C to {v_end:.4f} V")

    def gap(log_f: float) -> float:
        inp = dataclasses.replace(base, radius_um=base.radius_um * float(np.exp(log_f)))
        return p2d.run(inp, params, protocol).step_capacity_mAh_per_g[0] - q3

    lo, hi = np.log(0.5), np.log(4.0)
    g_lo, g_hi = gap(lo), gap(hi)
    if g_lo * g_hi > 0:
        return float("nan")
    return float(np.exp(brentq(gap, lo, hi, xtol=1e-3)))


def summary_plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    colors = {60: "tab:blue", 70: "tab:orange", 80: "tab:green"}
    markers = {0.1: "o", 0.5: "s", 1.0: "^"}
    for r in rows:
        ax[0].plot(r["capacity_3d_mAh_g"], r["capacity_p2d_to_3d_end_voltage_mAh_g"], markers[r["c_rate"]],
                   color=colors[r["ncm_wt"]], ms=6, alpha=0.8)
        x = r["c_rate"] * (1 + 0.03 * (r["seed"] - 3))
        ax[1].plot(x, 100 * r["p2d_to_3d_end_minus_3d_rel"], markers[r["c_rate"]], color=colors[r["ncm_wt"]],
                   ms=6, alpha=0.8)
        ax[2].plot(x, r["radius_factor_fitted"], markers[r["c_rate"]], color=colors[r["ncm_wt"]], ms=6, alpha=0.8)
    lim = [50, 145]
    ax[0].plot(lim, lim, "k--", lw=0.8)
    ax[0].set(xlim=lim, ylim=lim, xlabel="3D capacity (mAh/g NCM)",
              ylabel="P2D capacity to the 3D end voltage (mAh/g NCM)", title="PyBaMM DFN against 3D, 50 um")
    ax[1].axhline(0, color="k", lw=0.8)
    ax[1].set(xscale="log", xlabel="C-rate (seeds spread)", ylabel="(P2D - 3D) / 3D (%)",
              title="same stop voltage")
    ax[2].axhline(1, color="k", lw=0.8)
    ax[2].set(xscale="log", xlabel="C-rate (seeds spread)", ylabel="R_eff / R",
              title="P2D radius that gives the 3D capacity")
    for wt, c in colors.items():
        ax[1].plot([], [], "o", color=c, label=f"{wt} wt%")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--study", type=Path, default=HERE / "study")
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "p2d50")
    ap.add_argument("-o", "--output", type=Path, default=HERE / "p2d")
    ap.add_argument("--force", action="store_true", help="run again even where OUT holds the case")
    a = ap.parse_args(argv)
    fem_twin = shutil.which("fem-twin") or str(ROOT / ".venv" / "bin" / "fem-twin")
    cases = []
    for dj in a.study.glob("ncm*_seed*/c*C/discharge.json"):
        if json.loads(dj.read_text()).get("complete"):
            cases.append(dj.parent)
    if not cases:
        print(f"{a.study}: no complete case", file=sys.stderr)
        return 1
    cases.sort(key=case_key)
    rows = [run_case(c, a.work, a.output, fem_twin, a.force) for c in cases]
    a.output.mkdir(parents=True, exist_ok=True)
    with (a.output / "p2d_vs_3d.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (a.output / "p2d_vs_3d.json").write_text(json.dumps({"cases": rows}, indent=1) + "\n")
    summary_plot(rows, a.output / "p2d_vs_3d.png")
    print("| case | 3D mAh/g (end V) | P2D to 3.0 V | P2D to the 3D end V | (P2D - 3D) / 3D, same V | "
          "max abs dV / mean dV, mV | R_eff / R fitted | NCM surface on LPSCl | NCM to contact, um | "
          "live NCM to live contact, um |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['ncm_wt']} wt%, seed {r['seed']}, {r['c_rate']:g}C | {r['capacity_3d_mAh_g']:.2f} "
              f"({r['end_voltage_3d_V']:.3f} V) | {r['capacity_p2d_mAh_g']:.2f} | "
              f"{r['capacity_p2d_to_3d_end_voltage_mAh_g']:.2f} | {100 * r['p2d_to_3d_end_minus_3d_rel']:+.1f} % | "
              f"{1e3 * r['max_abs_dV_V']:.1f} / {1e3 * r['mean_dV_V']:+.1f} | {r['radius_factor_fitted']:.2f} | {r['ncm_lpscl_coverage']:.3f} | {r['ncm_distance_to_contact_mean_um']:.3f} | "
              f"{r['ncm_distance_to_live_contact_mean_um']:.3f} |")
    print("\n| C-rate | descriptor | r, all cases | r within 60 / 70 / 80 wt% |")
    print("|---|---|---|---|")
    for rate in sorted({r["c_rate"] for r in rows}):
        sub = [r for r in rows if r["c_rate"] == rate]
        for key, name in (("ncm_distance_to_contact_mean_um", "NCM to contact"),
                          ("ncm_distance_to_live_contact_mean_um", "live NCM to live contact"),
                          ("ncm_lpscl_coverage", "NCM surface on LPSCl")):
            cells = []
            for group in (sub, *[[r for r in sub if r["ncm_wt"] == wt] for wt in (60, 70, 80)]):
                x = np.array([g[key] for g in group])
                y = np.array([g["radius_factor_fitted"] for g in group])
                cells.append(f"{np.corrcoef(x, y)[0, 1]:+.2f} ({len(group)})" if len(group) > 2 else "-")
            print(f"| {rate:g}C | {name} | {cells[0]} | {' / '.join(cells[1:])} |")
    print(f"\n{len(rows)} cases -> {a.output}/p2d_vs_3d.csv, .json, .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
