"""Benchmark: generation and analysis at the seed's size (100 x 100 x 78 voxels of 0.5 um).

Prints, per composition (60/70/80/90 wt% NCM, seed 1), the wall time and peak resident memory of
``generate`` and of ``analyse``, each measured in a fresh process on one core (OMP_NUM_THREADS=1).
Targets on the 2-core reference machine: generation <= 15 s, analysis <= 5 s.

    python benchmarks/generate.py [--compositions 60,70,80,90] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np
from fem_twin.design import Composition, ElectrodeDesign
from fem_twin.microstructure.generate import generate
from fem_twin.analysis.report import analyse
w, seed, stage = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
d = ElectrodeDesign(composition=Composition.from_ncm_wt(w))
t0 = time.perf_counter(); img = generate(d, np.random.default_rng(seed)); t1 = time.perf_counter()
out = {"generate_s": t1 - t0}
if stage == "analyse":
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t1 = time.perf_counter(); analyse(img); out["analyse_s"] = time.perf_counter() - t1
out["peak_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["shape"] = list(img.shape)
print(json.dumps(out))
"""


def run(w: float, seed: int, stage: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", CHILD, str(w), str(seed), stage], env=env,
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--compositions", default="60,70,80,90")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    print(f"{'NCM wt%':>8} {'shape':>14} {'generate s':>11} {'gen peak MB':>12} {'analyse s':>10} {'total peak MB':>14}")
    for w in (float(v) for v in args.compositions.split(",")):
        g = run(w, args.seed, "generate")
        a = run(w, args.seed, "analyse")
        print(f"{w:8.0f} {'x'.join(map(str, g['shape'])):>14} {g['generate_s']:11.2f} {g['peak_MB']:12.0f} "
              f"{a['analyse_s']:10.2f} {a['peak_MB']:14.0f}")
    print("targets: generate <= 15 s, analyse <= 5 s (one core)")


if __name__ == "__main__":
    main()
