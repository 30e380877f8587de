"""Benchmark: what each conductivity discretisation converges to (issue 15, "Effective conductivity,
resolved").

Structure: ``fem-twin generate --composition 70:28:2 --seed 1 --size 16,16`` (32 x 32 x 78 voxels of
0.5 um), made here with :func:`fem_twin.microstructure.generate.generate`. Resolution 2x is the same
image with every voxel split into 2^3 (``np.repeat``; h = 0.25 um): the same staircase geometry,
so every voxel method (P1 on the Kuhn mesh 26- or 6-connected, fv, PoreSpy) refines towards the
continuum solution on that geometry. The smooth mesh at 2x is the smooth mesh of the upsampled image
(its surface moves at most h/2 = 0.125 um from the voxel corners: a geometry closer to the
staircase, not the same one as at 1x).

Rows (sigma_eff / sigma along z for NCM and LPSCl, unknowns, seconds):

- ``p1 voxel``    P1 on the Kuhn tetrahedra of the voxels, 26-connected (the discharge's transport)
- ``p1 voxel c6`` the same with edge/corner contacts split (P1 on a 6-connected mesh)
- ``p1 smooth``   P1 on the smooth mesh (``mesher="smooth"``; the discharge's optional mesh); the
  mesh is built once per resolution for both phases, its time is given apart
- ``p1 smooth rK`` (``--smooth-refine K``, 1x image only) P1 on the same smooth mesh refined
  uniformly K times (every tetrahedron into 8, ``SmoothMeshOptions(refine=K)``): the same geometry as ``p1 smooth`` 1x, a finer mesh, so this row shows what P1 converges to on the
  smooth geometry (the pinch points, where a phase touches itself only at a point or an edge, stay
  shared vertices and keep conducting); with ``--smooth-refine 1,2`` the three levels give the
  observed order and the extrapolation
- ``p1 smooth c6`` (and ``c6 rK``) the same with the phase's pinch contacts cut
  (``connectivity=6``, :mod:`fem_twin.meshing.pinches`): the smooth mesh's analogue of ``p1 voxel c6``
- ``fv``          cell-centred voxel finite volumes (two-point fluxes, potentials on the faces)
- ``porespy``     PoreSpy's ``tortuosity_fd`` (face-only voxel finite differences, potentials on the
  first/last layer centres), serial, pyamg to tol 1e-10

Richardson (where 1x and 2x exist): ``s_inf = s_2 + (s_2 - s_1) / (2^p - 1)``. On the fixed
staircase the solution has r^(2/3) singularities at the re-entrant voxel edges, so the error of an
energy-type quantity (sigma_eff) of P1 and of two-point fluxes goes as h^(2 * 2/3) = h^(4/3): p = 4/3
is assumed for ``p1 voxel c6``, ``fv`` and ``porespy``; the printed range is p in [1, 2]. For the
26-connected P1 the edge/corner contacts of the image carry current only through the shared mesh
vertices; a line contact has zero capacity in the continuum, so that current decays only like
1 / log(1/h): no power law, the same formula is printed for reference only. For the smooth mesh the
geometry changes with h by O(h): p = 1.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/conductivity_convergence.py [--factors 1,2] [--no-porespy]
                                                                    [--porespy-factors 1,2] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHASES = ("ncm", "lpscl")
H = 0.5
#: assumed convergence order per family (see the module docstring)
ORDER = {"p1 voxel": 4 / 3, "p1 voxel c6": 4 / 3, "p1 smooth": 1.0, "fv": 4 / 3, "porespy": 4 / 3}


def structure() -> np.ndarray:
    from fem_twin.design import Composition, ElectrodeDesign
    from fem_twin.microstructure.generate import generate

    design = ElectrodeDesign(composition=Composition.parse("70:28:2"), size_x_um=16, size_y_um=16,
                             loading_mg_cm2=10.0)
    return generate(design, np.random.default_rng(1)).labels


def upsample(lab: np.ndarray, f: int) -> np.ndarray:
    return lab if f == 1 else lab.repeat(f, 0).repeat(f, 1).repeat(f, 2)


def richardson(s1: float, s2: float, p: float) -> float:
    return s2 + (s2 - s1) / (2.0 ** p - 1.0)


def run(factors, porespy_factors, comm, crop=None, smooth_refine=()):
    from fem_twin.fem.conductivity import effective_conductivity
    from fem_twin.meshing.smooth_mesh import SmoothMeshOptions, build_smooth_mesh

    base = structure()
    if crop:  # smoke runs: the first crop x crop x 2 crop voxels
        base = base[:crop, :crop, :2 * crop]
    rows = []  # dicts: method, f, h, per phase (rel, dofs, s), extra
    for m, kw in (("fv", {}), ("p1", {})):  # JIT warm-up of the forms
        effective_conductivity(np.full((4, 4, 4), 1, np.uint8), H, "ncm", "z", method=m, comm=comm, **kw)
    for f in factors:
        lab, h = upsample(base, f), H / f
        cases = [("p1 voxel", dict(method="p1")), ("p1 voxel c6", dict(method="p1", connectivity=6)),
                 ("fv", dict(method="fv")), ("p1 smooth", dict(method="p1", mesher="smooth"))]
        if f == 1:
            cases += [(f"p1 smooth r{k}", dict(method="p1", mesher="smooth", refine=k)) for k in smooth_refine]
            # the smooth mesh with its pinch contacts cut (6-connected like fv and the analysis)
            cases += [("p1 smooth c6", dict(method="p1", mesher="smooth", connectivity=6))]
            cases += [(f"p1 smooth c6 r{k}", dict(method="p1", mesher="smooth", connectivity=6, refine=k))
                      for k in smooth_refine]
        for name, kw in cases:
            row = {"method": name, "factor": f, "h_um": h}
            if name.startswith("p1 smooth"):
                comm.Barrier()
                t0 = time.perf_counter()
                refine = kw.pop("refine", 0)
                kw = dict(kw, tagged_mesh=build_smooth_mesh(lab, h, 0.0, comm, options=SmoothMeshOptions(refine=refine)))
                comm.Barrier()
                row["mesh_s"] = time.perf_counter() - t0
            for phase in PHASES:
                comm.Barrier()
                t0 = time.perf_counter()
                r = effective_conductivity(lab, h, phase, "z", sigma_S_per_m=1.0, rtol=1e-10, comm=comm, **kw)
                comm.Barrier()
                row[phase] = {"rel": r.relative_conductivity, "dofs": r.num_dofs, "s": time.perf_counter() - t0,
                              "eps": r.volume_fraction, "eps_active": r.active_volume_fraction,
                              "iterations": r.ksp_iterations}
            rows.append(row)
            if comm.rank == 0:
                print(f"  done {name} {f}x: " + ", ".join(f"{p} {row[p]['rel']:.5f}" for p in PHASES), flush=True)
    if comm.size == 1:
        import porespy

        from fem_twin import phases

        porespy.simulations.tortuosity_fd(np.ones((8, 8, 8), dtype=bool), axis=2)  # warm-up
        for f in porespy_factors:
            lab = upsample(base, f)
            row = {"method": "porespy", "factor": f, "h_um": H / f}
            for phase in PHASES:
                mask = lab == phases.label_of(phase)
                t0 = time.perf_counter()
                try:
                    res = porespy.simulations.tortuosity_fd(mask, axis=2, tol=1e-10)
                except Exception as exc:  # PoreSpy raises when nothing spans the two planes
                    row[phase] = {"rel": 0.0, "dofs": 0, "s": time.perf_counter() - t0, "eps": float(mask.mean()),
                                  "eps_active": 0.0, "error": str(exc)}
                    continue
                row[phase] = {"rel": 1.0 / res.formation_factor, "dofs": int(round(res.effective_porosity * mask.size)),
                    "s": time.perf_counter() - t0, "eps": float(mask.mean()),
                    "eps_active": float(res.effective_porosity)}
            rows.append(row)
            print(f"  done porespy {f}x: " + ", ".join(f"{p} {row[p]['rel']:.5f}" for p in PHASES), flush=True)
    return rows


def report(rows) -> dict:
    out = {"rows": rows, "richardson": {}}
    print()
    print("sigma_eff / sigma along z, 70:28:2 seed 1, 16 x 16 x 39 um (32 x 32 x 78 voxels at 1x)")
    hdr = f"{'method':12s} {'res':>3s} {'h um':>5s} | {'NCM':>7s} {'unknowns':>9s} {'s':>6s} | " \
          f"{'LPSCl':>7s} {'unknowns':>9s} {'s':>6s} | note"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        note = f"smooth mesh {r['mesh_s']:.0f} s (both phases)" if "mesh_s" in r else ""
        print(f"{r['method']:12s} {r['factor']:>2d}x {r['h_um']:5.3f} | "
              + " | ".join(f"{r[p]['rel']:7.4f} {r[p]['dofs']:9d} {r[p]['s']:6.1f}" for p in PHASES) + f" | {note}")
    fam = {}
    for r in rows:
        fam.setdefault(r["method"], {})[r["factor"]] = r
    print()
    print("Richardson s_inf = s_2 + (s_2 - s_1) / (2^p - 1) from 1x and 2x (range: p in [1, 2])")
    for name, by_f in fam.items():
        if 1 in by_f and 2 in by_f:
            p = ORDER[name]
            est = {}
            for phase in PHASES:
                s1, s2 = by_f[1][phase]["rel"], by_f[2][phase]["rel"]
                est[phase] = {"p": p, "s_inf": richardson(s1, s2, p),
                              "range": sorted([richardson(s1, s2, 1.0), richardson(s1, s2, 2.0)])}
            out["richardson"][name] = est
            print(f"{name:12s} p = {p:.3g}: " + "; ".join(
                f"{ph} {e['s_inf']:.4f} [{e['range'][0]:.4f}, {e['range'][1]:.4f}]" for ph, e in est.items()))
    # the smooth geometry at fixed geometry: 1x mesh and the same mesh refined once (p = 4/3
    # assumed) or twice (the observed order from the three levels)
    for base in ("p1 smooth", "p1 smooth c6"):
        if 1 not in fam.get(base, {}) or f"{base} r1" not in fam:
            continue
        est = {}
        for phase in PHASES:
            s0, s1 = fam[base][1][phase]["rel"], fam[f"{base} r1"][1][phase]["rel"]
            e = {"p": 4 / 3, "s_inf": richardson(s0, s1, 4 / 3),
                 "range": sorted([richardson(s0, s1, 1.0), richardson(s0, s1, 2.0)])}
            if f"{base} r2" in fam:
                s2 = fam[f"{base} r2"][1][phase]["rel"]
                p_obs = float(np.log2((s0 - s1) / (s1 - s2))) if (s0 - s1) * (s1 - s2) > 0 else 0.0
                if p_obs > 0.25:  # a power law: the observed order (else no estimate: e.g. pinch-only NCM)
                    e = {"p": p_obs, "s_inf": richardson(s1, s2, p_obs),
                         "range": sorted([richardson(s1, s2, 1.0), richardson(s1, s2, 2.0)])}
                else:
                    e = {"p": p_obs, "s_inf": float("nan"), "range": [float("nan"), float("nan")]}
            est[phase] = e
        out["richardson"][f"{base} fixed geometry"] = est
        print(f"{base}, fixed geometry (refined at the same surface): " + "; ".join(
            f"{ph} {e['s_inf']:.4f} (p = {e['p']:.2f}) [{e['range'][0]:.4f}, {e['range'][1]:.4f}]"
            for ph, e in est.items()))
    # the converged value of the staircase geometry: P1 c6 (conforming, from above) and fv (from
    # below) bracket it; their Richardson estimates' mean, with their half-difference
    if "p1 voxel c6" in out["richardson"] and "fv" in out["richardson"]:
        print()
        conv = {}
        for phase in PHASES:
            a, b = out["richardson"]["p1 voxel c6"][phase]["s_inf"], out["richardson"]["fv"][phase]["s_inf"]
            conv[phase] = {"value": 0.5 * (a + b), "half_spread": 0.5 * abs(a - b)}
        out["converged"] = conv
        print("converged (mean of the p1 voxel c6 and fv estimates +- half their difference): "
              + "; ".join(f"{ph} {c['value']:.4f} +- {c['half_spread']:.4f}" for ph, c in conv.items()))
        print("each row against it (within 5 %?):")
        for r in rows:
            d = {ph: r[ph]["rel"] / conv[ph]["value"] - 1 if conv[ph]["value"] else float("nan") for ph in PHASES}
            r["vs_converged"] = d
            print(f"  {r['method']:12s} {r['factor']}x: " + "; ".join(
                f"{ph} {v:+.1%} {'yes' if abs(v) <= 0.05 else 'no'}" for ph, v in d.items()))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--factors", default="1,2", help="upsampling factors of the image (default 1,2)")
    ap.add_argument("--porespy-factors", default="1,2", help="factors for PoreSpy (default 1,2)")
    ap.add_argument("--no-porespy", action="store_true", help="skip PoreSpy")
    ap.add_argument("--smooth-refine", default="", help="also P1 on the 1x smooth mesh refined K times at "
                    "fixed geometry, e.g. 1 or 1,2 (rows 'p1 smooth rK')")
    ap.add_argument("--crop", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", default=None, help="write the rows and estimates there")
    args = ap.parse_args()
    from fem_twin._dolfinx import MPI

    comm = MPI.COMM_WORLD
    factors = [int(v) for v in args.factors.split(",")]
    pfactors = [] if args.no_porespy else [int(v) for v in args.porespy_factors.split(",")]
    t0 = time.perf_counter()
    refine = [int(v) for v in args.smooth_refine.split(",") if v]
    rows = run(factors, pfactors, comm, args.crop, refine)
    if comm.rank == 0:
        out = report(rows)
        out.update(load_average=os.getloadavg(), ranks=comm.size, wall_s=time.perf_counter() - t0)
        print(f"\n{comm.size} rank(s), wall {out['wall_s']:.0f} s, load average {out['load_average']}")
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
