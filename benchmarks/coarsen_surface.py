"""Experimental (branch coarsen): surface coarsening on the demo piece, points / volumes / area / gmsh tets.

    fem-twin generate --composition 70:28:2 --seed 1 --size 16,16 -o p16
    python benchmarks/coarsen_surface.py p16/structure.npz
"""
import sys
import time

import numpy as np

import fem_twin.meshing.smooth_mesh as sm
from fem_twin.meshing.coarsen_surface import CoarseningOptions, coarsen

labels = np.load(sys.argv[1])["labels"]
s = sm.build_surface(labels, 0.5, 5.0, 1.5)
v0 = s.region_volumes()
t = time.perf_counter()
c = coarsen(s, 0.5, CoarseningOptions(rounds=60, max_normal_deg=25, min_angle_deg=12, tolerance=0.15))
print("points", s.points.shape[0], "->", c.points.shape[0], f"{time.perf_counter() - t:.1f} s, restarts",
      c.coarsening_restarts)
v1, lab = c.region_volumes(), s.region_label
print("volume change % per label", [round((v1[lab == L].sum() / v0[lab == L].sum() - 1) * 100, 3) for L in np.unique(lab)])
print("NCM|LPSCl area um2", s.area_between(1, 2), "->", c.area_between(1, 2))
t = time.perf_counter()
r = sm.gmsh_tetrahedra(c, 0.5)
print("gmsh", r.tets.shape[0], "tets", r.x.shape[0], "nodes", f"{time.perf_counter() - t:.1f} s",
      "share of tets < 5 deg", (sm.min_dihedral_deg(r.x, r.tets) < 5).mean())
