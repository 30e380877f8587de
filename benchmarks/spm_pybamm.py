"""One NCM particle: our 3D discharge against PyBaMM's single-particle model (issue 15).

    python benchmarks/spm_pybamm.py [--mesher voxel,voxel-weighted,smooth] [--resolutions 6,10]
                                    [--radius 2.0] [--dt 72] [--out out/spm_pybamm] [--json FILE]
    python benchmarks/spm_pybamm.py --areas   # weighted / true area of voxelised spheres (no FE)
    python benchmarks/spm_pybamm.py --mesher smooth --saturation-smoothing 1e-3   # the smoothed kinetics

Prints a markdown table (mesher, resolution R in voxels, unknowns, max |dV| in mV over the first
90 % of PyBaMM's capacity, the same after the first 300 s, capacity / PyBaMM's, the area the
kinetics see / 2 pi R^2, the mesh's NCM volume / the true one, seconds). Set-up and conventions:
:mod:`fem_twin.fem.one_particle`. ``voxel``: the Kuhn voxel mesh, kinetics on the staircase;
``voxel-weighted``: the same mesh with ``interface_area = "smoothed-normal"``; ``smooth``:
``fem_twin.meshing.smooth_mesh.build_smooth_mesh`` (imported lazily; reported as not available
while it does not exist). Serial (one particle, < 20k unknowns).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def _smooth_mesher():
    try:
        from fem_twin.meshing.smooth_mesh import build_smooth_mesh
    except ImportError:
        return None
    return build_smooth_mesh


def areas_table():
    from fem_twin.analysis.contact import ISOTROPIC_FACTOR, face_counts
    from fem_twin.fem import interface_weights as iw
    from fem_twin.fem.one_particle import hemisphere_on_collector

    sigmas = (0.75, 1.0, 1.5, 2.0, 3.0)
    print("| shape | R (voxels) | raw / true | raw x 2/3 / true | " +
          " | ".join(f"weighted sigma={s} / true" for s in sigmas) + " |")
    print("|" + "---|" * (4 + len(sigmas)))
    for r in (4, 6, 10, 15):
        shapes = [("ball, centre on a corner", iw.voxel_ball(r, centre="corner"), 4 * math.pi * r ** 2),
                  ("ball, centre on a voxel centre", iw.voxel_ball(r, centre="centre"), 4 * math.pi * r ** 2),
                  ("hemisphere on the collector", hemisphere_on_collector(r), 2 * math.pi * r ** 2)]
        for name, lab, true in shapes:
            raw = face_counts(lab, periodic_xy=False)["ncm|lpscl"] / true
            w = [iw.measure_sphere(lab, true, s) for s in sigmas]
            print(f"| {name} | {r} | {raw:.4f} | {raw * ISOTROPIC_FACTOR:.4f} | " +
                  " | ".join(f"{x:.4f}" for x in w) + " |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mesher", default="voxel,voxel-weighted,smooth",
                    help="comma list of voxel, voxel-weighted, smooth")
    ap.add_argument("--resolutions", default="6,10", help="hemisphere radii in voxels (comma list)")
    ap.add_argument("--radius", type=float, default=2.0, help="true particle radius (um)")
    ap.add_argument("--dt", type=float, default=72.0, help="time step of the 3D model (s)")
    ap.add_argument("--out", default="out/spm_pybamm")
    ap.add_argument("--json", default=None)
    ap.add_argument("--areas", action="store_true", help="only the area table of voxelised spheres")
    ap.add_argument("--saturation-smoothing", type=float, default=0.0, metavar="DELTA",
                    help="our kinetics' smoothing at c_max (fem_twin/parameters/cell.py; PyBaMM keeps the "
                         "clipped kinetics): the curve must not move")
    a = ap.parse_args(argv)
    if a.areas:
        areas_table()
        return 0
    from fem_twin.fem import one_particle as op
    from fem_twin.parameters.cell import ParameterSet

    meshers = [m.strip() for m in a.mesher.split(",") if m.strip()]
    bad = [m for m in meshers if m not in ("voxel", "voxel-weighted", "smooth")]
    if bad:
        ap.error(f"--mesher: unknown {bad}")
    p = ParameterSet().with_overrides(op.SPM_OVERRIDES)
    r_m = a.radius * 1e-6
    ref = op.pybamm_discharge(p, r_m, op.hemisphere_volume_m3(r_m))
    print(f"PyBaMM SPM (true hemisphere R = {a.radius} um): {ref.capacity_mAh_g(p):.2f} mAh/g to 3.0 V "
          f"in {ref.time_s[-1]:.0f} s at 1C = {ref.current_A:.4e} A")
    print("| " + " | ".join(op.TABLE_HEADER) + " |")
    print("|" + "---|" * len(op.TABLE_HEADER))
    out = []
    for name in meshers:
        mesher, area = None, "mesh"
        if name == "voxel-weighted":
            area = "smoothed-normal"
        elif name == "smooth":
            mesher = _smooth_mesher()
            if mesher is None:
                print("| smooth | smooth mesher not available (fem_twin.meshing.smooth_mesh) |")
                continue
        for r in (int(x) for x in a.resolutions.split(",")):
            c = op.compare_with_pybamm(r, Path(a.out) / f"{name}_r{r}", radius_um=a.radius, mesher=mesher,
                                       interface_area=area, label=name, dt_s=a.dt, reference=ref,
                                       params=ParameterSet(saturation_smoothing=a.saturation_smoothing))
            print(op.table_row(c), flush=True)
            out.append({**c.__dict__, "capacity_ratio": c.capacity_ratio})
    if a.json:
        Path(a.json).write_text(json.dumps({"dt_s": a.dt, "radius_um": a.radius, "rows": out}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
