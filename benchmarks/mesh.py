"""Benchmark: the smooth mesher against the voxel mesher on the demo piece and the seed's full cell.

For each case (70 wt% NCM, ``--seed``, default 1): generate the structure, remove dead clusters as the discharge
does, then build the voxel (Kuhn) mesh and the smooth (gmsh) mesh, each in a fresh process on one
rank, and print: wall time (surface / gmsh 3D / distribution) and the process's CPU time (the wall
time on an idle machine; the wall time grows with other load on the cores), peak resident memory, cells,
vertices, the discharge's unknowns (2 per NCM vertex + 2 per electrolyte vertex), quality (minimum
dihedral angle, radius ratio, tets below 5 / 10 degrees), phase volumes against the voxels and the
NCM|LPSCl area (smooth surface, voxel faces, the analysis' corrected estimate).
Targets (issue 15): the full cell (50 x 50 x 39 um + 30 um separator) in <= 5 min and <= 8 GB; at
least 3x fewer unknowns than the voxel mesh.

    python benchmarks/mesh.py [--cases demo,full] [--separator-growth 1.5] [--json out/mesh_bench.json]
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
from fem_twin._dolfinx import MPI
from fem_twin import phases
from fem_twin.design import Composition, ElectrodeDesign
from fem_twin.microstructure.generate import generate
from fem_twin.fem.domains import prune_dead_clusters
from fem_twin.analysis.contact import contact_areas_um2
from fem_twin.meshing.meshers import get_mesher
size, sep, growth, mesher, seed = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
d = ElectrodeDesign(composition=Composition.from_ncm_wt(70.0), size_x_um=size, size_y_um=size)
img = generate(d, np.random.default_rng(seed))
lab, _ = prune_dead_clusters(img.labels, img.voxel_size_um)
t0, c0 = time.perf_counter(), time.process_time()
tm = get_mesher(mesher)(lab, img.voxel_size_um, sep, MPI.COMM_WORLD, separator_growth=growth)
t, cpu = time.perf_counter() - t0, time.process_time() - c0
ct = tm.cell_tags
topo = tm.mesh.topology
topo.create_connectivity(3, 0)
c2v = topo.connectivity(3, 0).array.reshape(-1, 4)
vals = np.full(topo.index_map(3).size_local + topo.index_map(3).num_ghosts, -1)
vals[ct.indices] = ct.values
nv = topo.index_map(0).size_local + topo.index_map(0).num_ghosts
def nverts(mask):
    m = np.zeros(nv, bool); m[c2v[mask].ravel()] = True; return int(m.sum())
unknowns = 2 * nverts(vals == phases.NCM) + 2 * nverts((vals == phases.LPSCL) | (vals == phases.SEPARATOR))
ca = contact_areas_um2(lab, img.voxel_size_um, periodic_xy=False)
out = {"mesher": mesher, "size_um": size, "seed": seed, "time_s": t, "cpu_s": cpu, "cells": int(topo.index_map(3).size_global),
       "vertices": int(topo.index_map(0).size_global), "unknowns": unknowns,
       "peak_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
       "ncm_lpscl_area_um2": {"voxel faces": ca["raw"]["ncm|lpscl"], "corrected (raw x 2/3)": ca["isotropic"]["ncm|lpscl"]}}
if tm.stats:
    out["stats"] = tm.stats
print("RESULT " + json.dumps(out))
"""


def run(size: float, sep: float, growth: float, mesher: str, seed: int = 1) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", CHILD, str(size), str(sep), str(growth), mesher, str(seed)], env=env,
                       capture_output=True, text=True)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    if r.returncode or not line:
        return {"mesher": mesher, "size_um": size, "error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(line[0][7:])


CASES = {"demo": (16.0, 5.0), "full": (50.0, 30.0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="demo,full")
    ap.add_argument("--meshers", default="voxel,smooth")
    ap.add_argument("--separator-growth", type=float, default=1.5)
    ap.add_argument("--seed", type=int, default=1, help="seed of the generated 70 wt%% structure (default 1)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    rows = []
    for case in a.cases.split(","):
        size, sep = CASES[case]
        for m in a.meshers.split(","):
            r = run(size, sep, a.separator_growth, m, a.seed)
            r["case"] = case
            rows.append(r)
            if "error" in r:
                print(f"{case:5s} {m:6s} FAILED: {r['error']}", flush=True)
                continue
            line = (f"{case:5s} {m:6s} {r['time_s']:7.1f} s (CPU {r['cpu_s']:7.1f} s)  {r['peak_MB']:7.0f} MB  {r['cells']:9d} cells  "
                    f"{r['vertices']:8d} vertices  {r['unknowns']:8d} unknowns")
            st = r.get("stats")
            if st:
                q, f = st["quality"], st["fidelity"]
                line += (f"  (surface {st['time_surface_s']:.1f} s / CPU {st.get('cpu_surface_s', 0):.1f} s, gmsh 3D "
                         f"{st['time_mesh3d_s']:.1f} s / CPU {st.get('cpu_mesh3d_s', 0):.1f} s, distribute "
                         f"{st['time_distribute_s']:.1f} s)  min dihedral {q['min_dihedral_deg']:.3g} deg, "
                         f"<5 deg {q['tets_below_5deg']}, <10 deg {q['tets_below_10deg']}, radius ratio min "
                         f"{q['min_radius_ratio']:.2g} p1 {q['radius_ratio_p01']:.3f} mean {q['mean_radius_ratio']:.3f}; "
                         "volume vs voxels " + ", ".join(f"{k} {v['volume_rel_diff']:+.2%}" for k, v in f.items())
                         + f"; NCM|LPSCl {st['interface_area_um2']['ncm|lpscl smooth surface']:.0f} um2 (voxel faces "
                         f"{r['ncm_lpscl_area_um2']['voxel faces']:.0f}, corrected {r['ncm_lpscl_area_um2']['corrected (raw x 2/3)']:.0f})")
            print(line, flush=True)
    voxel = {r["case"]: r for r in rows if r["mesher"] == "voxel" and "error" not in r}
    for r in rows:
        if r["mesher"] == "smooth" and "error" not in r and r["case"] in voxel:
            print(f"{r['case']}: smooth / voxel unknowns = {r['unknowns'] / voxel[r['case']]['unknowns']:.3f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
