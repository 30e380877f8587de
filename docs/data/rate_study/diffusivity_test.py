"""Is the 3D's loss beyond the P2D a solid-diffusion length? Test: change D_NCM, predict, run.

    .venv/bin/python docs/data/rate_study/diffusivity_test.py predict [--structure DIR] [--work DIR]
    .venv/bin/python docs/data/rate_study/diffusivity_test.py judge   [--work DIR]

docs/rate_study.md ("PyBaMM's P2D against the 50 um cases") explains the 3D capacities below PyBaMM's
P2D by a longer diffusion path inside the NCM: the P2D gives the 3D capacity only with its radius
scaled by R_eff / R. If that is what happens, R_eff / R is a property of the structure, and a 3D run
with the NCM diffusivity times ``FACTOR`` (4) must give what the P2D gives with D x FACTOR and the
same R_eff; if the loss came from elsewhere (ionic transport, kinetics, the mesh), the 3D would not
follow the P2D's diffusion-time scaling.

``predict``: runs the 3D discharge (1C to 3.0 V, the calibrated parameters, smooth mesh, fv-matched
transport, 1 rank) on the structure with D (unless WORK/D1 holds it), PyBaMM's P2D on it (`fem-twin p2d
--discharge`), fits R_eff / R as ``p2d_check.py`` does, then writes WORK/prediction.json: the P2D
capacity with D x FACTOR at R_eff (the prediction) and at R (the homogenised model), to the D run's end
voltage. ``judge``: runs the 3D with D x FACTOR (unless WORK/D4 holds it) and compares. Passes when
|3D - prediction| <= 0.25 |P2D at R - prediction| (R_eff accounts for >= 75 % of the homogenised
model's miss at the new diffusivity).

Default structure: the size study's 24 um 70 wt% seed-2 piece: 99.4 % of its live NCM and 99.8 % of its
live LPSCl attached through face contacts (the 16 um pieces are not usable: at 80 wt% their LPSCl does
not percolate, 14-73 % dead; at 70 wt% seed 1 only 3.1 % of the NCM is face-attached, so an edge-contact
ohmic drop, not diffusion, sets their capacity). ~15-30 min per 3D run on one core.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE))
from p2d_check import inputs_from_record  # noqa: E402
FEM = str(ROOT / ".venv" / "bin" / "fem-twin")
CALIBRATED = HERE / "calibration" / "calibrated_parameters.toml"
FACTOR = 4.0
DEFAULT_STRUCTURE = ROOT / "docs/data/size_study/size24/size_um=24_ncm_wt=70_seed=2"


def scratch(work: Path) -> Path:
    """Where the structure's copy and the P2D's analysis go (not in git): ROOT/out/<work's name>."""
    return ROOT / "out" / work.name


def params_files(work: Path) -> tuple[Path, Path]:
    """(calibrated, calibrated with D_NCM x FACTOR) TOML files in ``work``."""
    from fem_twin.parameters.cell import ParameterSet

    d = ParameterSet().d_ncm_m2_s
    lith = ParameterSet.from_toml(CALIBRATED).initial_lithiation
    p1, p4 = work / "params_D1.toml", work / "params_D4.toml"
    p1.write_text(f"initial_lithiation = {lith!r}\n")
    p4.write_text(f"initial_lithiation = {lith!r}\nd_ncm_m2_s = {d * FACTOR!r}\n")
    return p1, p4


def run_3d(work: Path, params: Path, name: str) -> Path:
    out = work / name
    if not (out / "discharge.json").exists() or not json.loads((out / "discharge.json").read_text()).get("complete"):
        cmd = [FEM, "discharge", str(scratch(work) / "structure"), "--c-rate", "1", "--params", str(params),
               "--no-fields", "-o", str(out), "--cache", str(ROOT / ".fem_twin_cache"), "--overwrite"]
        print(" ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return out


def end_voltage(run: Path) -> float:
    rows = list(csv.DictReader((run / "discharge.csv").open()))
    return float(rows[-1]["voltage_V"])


def p2d_capacity(work: Path, params: Path, radius_factor: float, v_stop: float) -> float:
    from fem_twin import p2d
    from fem_twin.parameters.cell import ParameterSet
    from fem_twin.protocol import Protocol

    base = inputs_from_record(json.loads((work / "p2d" / "p2d.json").read_text())["runs"]["1C"]["inputs"])
    inp = dataclasses.replace(base, radius_um=base.radius_um * radius_factor)
    curve = p2d.run(inp, ParameterSet.from_toml(params), Protocol.parse(f"discharge 1C to {v_stop:.4f} V"))
    return float(curve.step_capacity_mAh_per_g[0])


def predict(work: Path, structure: Path) -> int:
    from scipy.optimize import brentq
    import numpy as np

    copy = scratch(work) / "structure"
    copy.mkdir(parents=True, exist_ok=True)
    for name in ("design.json", "structure.npz"):
        if not (copy / name).exists():
            shutil.copy2(structure / name, copy / name)
    p1, p4 = params_files(work)
    d1 = run_3d(work, p1, "D1")
    if not (work / "p2d" / "p2d.json").exists():
        subprocess.run([FEM, "p2d", str(copy), "--discharge", str(d1), "--c-rate", "1",
                        "--params", str(p1), "-o", str(work / "p2d")], check=True, capture_output=True)
    q3 = float(json.loads((d1 / "discharge.json").read_text())["capacity_mAh_per_g"])
    v_end = end_voltage(d1)
    f = float(np.exp(brentq(lambda lg: p2d_capacity(work, p1, float(np.exp(lg)), v_end) - q3,
                            np.log(0.5), np.log(4.0), xtol=1e-3)))
    pred = {
        "written_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "structure": str(structure.relative_to(ROOT)) if structure.is_relative_to(ROOT) else str(structure),
        "factor_on_d_ncm": FACTOR,
        "d1": {"capacity_3d_mAh_g": q3, "end_voltage_V": v_end,
               "capacity_p2d_at_R_mAh_g": p2d_capacity(work, p1, 1.0, v_end), "radius_factor_fitted": f},
        "prediction_mAh_g": p2d_capacity(work, p4, f, v_end),
        "homogenised_at_R_mAh_g": p2d_capacity(work, p4, 1.0, v_end),
        "stop_voltage_V": v_end,
    }
    (work / "prediction.json").write_text(json.dumps(pred, indent=1) + "\n")
    print(json.dumps(pred, indent=1))
    return 0


def judge(work: Path) -> int:
    pred = json.loads((work / "prediction.json").read_text())
    _, p4 = params_files(work)
    d4 = run_3d(work, p4, "D4")
    q = float(json.loads((d4 / "discharge.json").read_text())["capacity_mAh_per_g"])
    miss = abs(pred["homogenised_at_R_mAh_g"] - pred["prediction_mAh_g"])
    ok = abs(q - pred["prediction_mAh_g"]) <= 0.25 * miss
    res = {"capacity_3d_D4_mAh_g": q, "end_voltage_V": end_voltage(d4),
           "off_prediction_mAh_g": q - pred["prediction_mAh_g"], "allowed_mAh_g": 0.25 * miss, "passes": ok}
    (work / "judgement.json").write_text(json.dumps({**pred, "result": res}, indent=1) + "\n")
    print(json.dumps(res, indent=1))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("predict", "judge"))
    ap.add_argument("--structure", type=Path, default=DEFAULT_STRUCTURE)
    ap.add_argument("--work", type=Path, default=HERE / "diffusivity_test")
    a = ap.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    return predict(a.work, a.structure.resolve()) if a.what == "predict" else judge(a.work)


if __name__ == "__main__":
    sys.exit(main())
