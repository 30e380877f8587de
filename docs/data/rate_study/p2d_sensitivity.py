"""Which homogenised input moves PyBaMM's P2D by as much as the 3D differs from it (50 um rate study).

    .venv/bin/python docs/data/rate_study/p2d_sensitivity.py [STRUCTURES]   # default ncm80_seed1,ncm60_seed1

Run ``docs/data/rate_study/p2d_check.py`` first: it writes ``docs/data/rate_study/p2d/<structure>/p2d.json``
with the P2D inputs of each case (volume fractions, the 3D run's fv-matched conductances and
reacting area, the D[4,3]/2 radius). For each structure and C-rate (0.1, 0.5, 1C; to 3.0 V, the
calibrated parameters) this prints the P2D capacity (mAh/g NCM) with the inputs as they are, then one
change at a time: the particle radius x1.5, x2, x3 (the reacting area kept), the LPSCl transport
efficiency x0.2, the reacting area x0.3, and the NCM diffusivity x0.25 (the same diffusion time as R x2).
Serial, ~0.5 s per P2D run.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from fem_twin import p2d
from fem_twin.parameters.cell import ParameterSet
from fem_twin.protocol import Protocol

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from p2d_check import inputs_from_record  # noqa: E402

PARAMS = HERE / "calibration" / "calibrated_parameters.toml"


def inputs_of(structure: str, rate: float) -> p2d.P2DInputs:
    path = HERE / "p2d" / structure / "p2d.json"
    if not path.exists():
        raise SystemExit(f"{path}: missing; run docs/data/rate_study/p2d_check.py first")
    runs = json.loads(path.read_text())["runs"]
    if f"{rate:g}C" not in runs:
        raise SystemExit(f"{path}: no {rate:g}C run (that case is not complete yet)")
    return inputs_from_record(runs[f"{rate:g}C"]["inputs"])


def main(argv: list[str]) -> int:
    structures = (argv[0] if argv else "ncm80_seed1,ncm60_seed1").split(",")
    params = ParameterSet.from_toml(PARAMS)
    print("| structure | C-rate | as is | R x1.5 | R x2 | R x3 | B_LPSCl x0.2 | area x0.3 | D_NCM x0.25 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for structure in structures:
        for rate in (0.1, 0.5, 1.0):
            b = inputs_of(structure, rate)
            variants = [(b, params)]
            variants += [(dataclasses.replace(b, radius_um=b.radius_um * f), params) for f in (1.5, 2.0, 3.0)]
            variants += [(dataclasses.replace(b, b_lpscl=b.b_lpscl * 0.2), params),
                         (dataclasses.replace(b, area_per_volume_per_m=b.area_per_volume_per_m * 0.3), params),
                         (b, dataclasses.replace(params, d_ncm_m2_s=params.d_ncm_m2_s * 0.25))]
            protocol = Protocol.parse(f"discharge {rate:g}C to 3.0 V")
            caps = [p2d.run(inp, prm, protocol).step_capacity_mAh_per_g[0] for inp, prm in variants]
            print(f"| {structure} | {rate:g}C | " + " | ".join(f"{q:.2f}" for q in caps) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
