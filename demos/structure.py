# # Digital-twin composite cathode: generate and analyse
#
# This demo builds the seed's default electrode (NCM:LPSCl:NBR = 70:28:2 wt%, 10 mg/cm$^2$,
# 39 um, 50 x 50 um at 0.5 um voxels, random seed 1), analyses it and writes
#
# - `structure.npz`, `structure.vti` (ParaView), `design.json`;
# - `analysis.json`: volume fractions (target and achieved), dead particles, percolation and the
#   specific NCM|LPSCl contact area;
# - `slices.png` and `render3d.png`, like the seed's Fig. 1.
#
# Run: `python demos/structure.py [--composition 70:28:2] [--seed 1] [--output out/structure_demo]`

# +
import argparse
import json
import time
from pathlib import Path

import numpy as np

from fem_twin.analysis.report import analyse
from fem_twin.design import Composition, ElectrodeDesign
from fem_twin.microstructure.generate import generate
from fem_twin.post.pictures import save_pictures

# -

# ## Design -> target volume fractions
#
# $\varepsilon_i = \rho_{el} w_i / \rho_i$ with $\rho_{el}$ = loading / thickness; the NCM inner
# pores are $\varepsilon_{NCM}\,p/(1-p)$ at most (see `fem_twin/design.py`).

# +
parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--composition", default="70:28:2")
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--output", default="out/structure_demo")
args = parser.parse_args()

design = ElectrodeDesign(composition=Composition.parse(args.composition))
targets = design.volume_fractions()
print("target volume fractions:", {k: round(v, 4) for k, v in targets.phases().items()})
# -

# ## Generate, analyse, draw

# +
out = Path(args.output)
t0 = time.perf_counter()
image = generate(design, np.random.default_rng(args.seed))
image = type(image)(**{**image.__dict__, "seed": args.seed})
image.save(out)
t1 = time.perf_counter()
report = analyse(image)
report.save(out / "analysis.json")
t2 = time.perf_counter()
pictures = save_pictures(image, out)
data = report.to_dict()
print(f"generated {image.shape} in {t1 - t0:.1f} s, analysed in {t2 - t1:.1f} s")
for key in ("volume_fraction", "dead_fraction", "percolates", "contact_area_density_per_m"):
    print(f"{key}: {json.dumps(data[key])}")
print("wrote", ", ".join(str(p) for p in [out / "structure.npz", out / "analysis.json", *pictures]))
# -
