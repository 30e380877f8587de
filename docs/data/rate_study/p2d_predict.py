"""Predict the 3D capacity of the rate study's cases not yet run, from the voxel image and PyBaMM's P2D.

    .venv/bin/python docs/data/rate_study/p2d_predict.py            # writes p2d/predictions.json, prints a table
    .venv/bin/python docs/data/rate_study/p2d_predict.py --judge    # the predictions against the cases run since
    .venv/bin/python docs/data/rate_study/p2d_predict.py --descriptor live [--judge]   # p2d/predictions_live.json

The chain, fitted on the cases of ``p2d/p2d_vs_3d.csv`` (``p2d_check.py``) and nothing else:

1. the structure's mean NCM distance to an NCM|LPSCl (or separator) contact, d (um; from its
   ``structure.npz`` alone, :func:`p2d_check.ncm_distance_to_contact`); with ``--descriptor live``
   (session 37) the same on the image the 3D run meshes: the live NCM to the nearest contact with live
   LPSCl (dead clusters removed, :func:`p2d_check.live_image`);
2. R_eff / R = a_rate * d + b_rate, the least-squares line of the fitted cases at that C-rate; its
   band: +- the largest residual of those cases;
3. PyBaMM's P2D (the calibrated parameters) with the radius R_eff, the structure's volume fractions
   (its ``analysis.json``), and the conductances and reacting area of that structure's own 3D run at
   another rate where one exists (the same mesh and matching), else the mean over the same
   composition's structures in ``p2d/`` (their spread is reported); stopped at the median end voltage of
   the fitted 3D cases of the same composition and rate.

The predicted capacity's interval is the P2D capacity at the two ends of the R_eff band. ``--judge``
reads each predicted case's ``discharge.json`` when it is complete and says whether its capacity lies
inside the interval. The predictions file records when it was written and from which fitted cases;
written before the cases ran, it is an out-of-sample test of the chain.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE))
import p2d_check  # noqa: E402

STUDY = HERE / "study"
OUT = HERE / "p2d"
PREDICTIONS = {"all": OUT / "predictions.json", "live": OUT / "predictions_live.json"}
#: (column of p2d_vs_3d.csv, key of ncm_distance_to_contact.json) per descriptor
DESCRIPTORS = {"all": ("ncm_distance_to_contact_mean_um", "mean_um"),
               "live": ("ncm_distance_to_live_contact_mean_um", "live_mean_um")}
ALL_CASES = [(wt, seed, rate) for seed in range(1, 6) for rate in (0.1, 0.5, 1.0) for wt in (60, 70, 80)]


def fitted_rows() -> list[dict]:
    rows = list(csv.DictReader((OUT / "p2d_vs_3d.csv").open()))
    for r in rows:
        for k, v in r.items():
            try:
                r[k] = float(v)
            except ValueError:
                pass
    return rows


def structure_inputs(wt: int, seed: int, rows: list[dict]):
    """(P2DInputs, where the conductances and area came from) for ncm<wt>_seed<seed>."""
    own = OUT / f"ncm{wt}_seed{seed}" / "p2d.json"
    if own.exists():
        runs = json.loads(own.read_text())["runs"]
        d = next(iter(runs.values()))["inputs"]
        return p2d_check.inputs_from_record(d), "this structure's 3D run"
    same = []
    for s in sorted(OUT.glob(f"ncm{wt}_seed*/p2d.json")):
        same.append(next(iter(json.loads(s.read_text())["runs"].values()))["inputs"])
    if not same:
        raise SystemExit(f"no fitted structure at {wt} wt% in {OUT}")
    work = ROOT / "out" / "p2d50" / f"ncm{wt}_seed{seed}"
    work.mkdir(parents=True, exist_ok=True)
    for name in ("design.json", "structure.npz"):
        if not (work / name).exists():
            (work / name).write_bytes((STUDY / f"ncm{wt}_seed{seed}" / name).read_bytes())
    if not (work / "analysis.json").exists():
        subprocess.run([str(ROOT / ".venv" / "bin" / "fem-twin"), "analyze", "--no-pictures", str(work)],
                       check=True, capture_output=True)
    a = json.loads((work / "analysis.json").read_text())
    vf, dead = a["volume_fraction"], a["dead_fraction_nonperiodic"]
    base = dict(same[0])
    base.update(eps_ncm=vf["ncm"], eps_ncm_active=vf["ncm"] * (1 - dead["ncm"]),
                eps_lpscl=vf["lpscl"] * (1 - dead["lpscl"]))
    spread = {}
    for k in ("b_ncm", "b_lpscl", "area_per_volume_per_m"):
        vals = [s[k] for s in same]
        base[k] = float(np.mean(vals))
        spread[k] = [float(min(vals)), float(max(vals))]
    src = f"mean of {len(same)} {wt} wt% structures' 3D runs (range {spread})"
    return p2d_check.inputs_from_record(base), src


def predict(descriptor: str = "all") -> dict:
    from fem_twin import p2d
    from fem_twin.parameters.cell import ParameterSet
    from fem_twin.protocol import Protocol

    rows = fitted_rows()
    done = {(int(r["ncm_wt"]), int(r["seed"]), r["c_rate"]) for r in rows}
    params = ParameterSet.from_toml(p2d_check.PARAMS)
    fits = {}
    for rate in (0.1, 0.5, 1.0):
        sub = [r for r in rows if r["c_rate"] == rate]
        x = np.array([r[DESCRIPTORS[descriptor][0]] for r in sub])
        y = np.array([r["radius_factor_fitted"] for r in sub])
        slope, icpt = np.polyfit(x, y, 1)
        fits[rate] = {"slope_per_um": float(slope), "intercept": float(icpt), "cases": len(sub),
                      "max_residual": float(np.abs(np.polyval([slope, icpt], x) - y).max())}
    out = {"written_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "descriptor": descriptor,
           "fitted_cases": sorted(f"{w} wt%, seed {s}, {r:g}C" for w, s, r in done),
           "fits": {f"{k:g}C": v for k, v in fits.items()}, "predictions": []}
    for wt, seed, rate in ALL_CASES:
        if (wt, seed, rate) in done:
            continue
        case = STUDY / f"ncm{wt}_seed{seed}" / f"c{rate:g}C"
        running = (case / "discharge.csv").exists()
        struct = STUDY / f"ncm{wt}_seed{seed}"
        dist_file = OUT / struct.name / "ncm_distance_to_contact.json"
        key = DESCRIPTORS[descriptor][1]
        stored = json.loads(dist_file.read_text()) if dist_file.exists() else {}
        dist = (stored if key in stored else p2d_check.ncm_distance_to_contact(struct))[key]
        inputs, src = structure_inputs(wt, seed, rows)
        v_end = float(np.median([r["end_voltage_3d_V"] for r in rows if r["c_rate"] == rate
                                 and int(r["ncm_wt"]) == wt]))
        f = fits[rate]
        g = f["slope_per_um"] * dist + f["intercept"]
        protocol = Protocol.parse(f"discharge {rate:g}C to {v_end:.4f} V")
        caps = []
        for gg in (g, g - f["max_residual"], g + f["max_residual"]):
            inp = dataclasses.replace(inputs, radius_um=inputs.radius_um * max(gg, 0.3))
            caps.append(float(p2d.run(inp, params, protocol).step_capacity_mAh_per_g[0]))
        pred = {"case": f"{wt} wt%, seed {seed}, {rate:g}C", "ncm_wt": wt, "seed": seed, "c_rate": rate,
                "distance_um": dist, "radius_factor": g, "stop_voltage_V": v_end,
                "capacity_mAh_g": caps[0], "interval_mAh_g": [caps[2], caps[1]],
                "inputs_from": src,
                "already_running_when_written": running}
        out["predictions"].append(pred)
        print(f"| {pred['case']} | {dist:.3f} | {g:.2f} | {v_end:.3f} | {caps[0]:.1f} ({caps[2]:.1f}-{caps[1]:.1f}) |"
              + (" running when written |" if running else " |"), flush=True)
    return out


def judge(descriptor: str = "all") -> int:
    data = json.loads(PREDICTIONS[descriptor].read_text())
    print(f"predictions written {data['written_utc']}")
    print("| case | predicted mAh/g (interval) | 3D mAh/g | inside |")
    print("|---|---|---|---|")
    n_in = n = 0
    for p in data["predictions"]:
        dj = STUDY / f"ncm{p['ncm_wt']}_seed{p['seed']}" / f"c{p['c_rate']:g}C" / "discharge.json"
        d = json.loads(dj.read_text()) if dj.exists() else {}
        if not d.get("complete"):
            print(f"| {p['case']} | {p['capacity_mAh_g']:.1f} ({p['interval_mAh_g'][0]:.1f}-"
                  f"{p['interval_mAh_g'][1]:.1f}) | not yet | |")
            continue
        q = float(d["capacity_mAh_per_g"])
        inside = p["interval_mAh_g"][0] <= q <= p["interval_mAh_g"][1]
        n += 1
        n_in += inside
        print(f"| {p['case']} | {p['capacity_mAh_g']:.1f} ({p['interval_mAh_g'][0]:.1f}-{p['interval_mAh_g'][1]:.1f})"
              f" | {q:.2f} | {'yes' if inside else 'no'} ({q - p['capacity_mAh_g']:+.1f}) |")
    print(f"\n{n_in} of {n} complete predicted cases inside their interval")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--judge", action="store_true")
    ap.add_argument("--descriptor", choices=sorted(DESCRIPTORS), default="all",
                    help="all: the NCM to any NCM|LPSCl contact (session 36); live: the live NCM to a "
                         "contact with live LPSCl (session 37)")
    a = ap.parse_args(argv)
    pred = PREDICTIONS[a.descriptor]
    if a.judge:
        return judge(a.descriptor)
    if pred.exists():
        raise SystemExit(f"{pred} exists: predictions are written once (judge them with --judge)")
    print(f"| case | {'live NCM to live' if a.descriptor == 'live' else 'NCM to'} contact, um | R_eff / R "
          "| stop V | predicted mAh/g (interval) | |")
    print("|---|---|---|---|---|---|")
    out = predict(a.descriptor)
    pred.write_text(json.dumps(out, indent=1) + "\n")
    print(f"-> {pred}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
