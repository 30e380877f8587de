"""Conductance matching of the discharge mesh (issue 15): P1, finite volumes and the matched P1 per axis.

For one generated electrode (default: the demo's, 70:28:2 seed 2, 16 um, 5 um graded separator) and
each mesher, prints per phase and axis: sigma_eff/sigma of P1 on the discharge's own mesh (composite
cells of the phase), of voxel finite volumes on the pruned image and on the image upsampled 2x (the
method of record, within 0.3-0.6 % of PoreSpy and TauFactor) and their extrapolation to h -> 0 (the
target), the diagonal factor the discharge applies
(:mod:`fem_twin.fem.transport_matching`) and P1 with that conductivity tensor, solved again, against
finite volumes.

    OMP_NUM_THREADS=1 python benchmarks/transport_matching.py [--meshers smooth,voxel] [--seed 2]
        [--size 16] [--json out/transport_matching.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from fem_twin._dolfinx import MPI
from fem_twin.design import Composition, ElectrodeDesign
from fem_twin.fem.conductivity import phase_label, solve_ohm
from fem_twin.fem.domains import prune_dead_clusters
from fem_twin.fem.transport_matching import _phase_meshes, match_conductances
from fem_twin.meshing.meshers import get_mesher
from fem_twin.microstructure.generate import generate


def porespy_rows(pruned: np.ndarray) -> list:
    """PoreSpy's sigma_eff/sigma (1 / formation factor; potentials on the first and last layer
    centres) per phase and axis at 1x and 2x, and their extrapolation with FV_ORDER."""
    import porespy

    from fem_twin import phases
    from fem_twin.fem.transport_matching import extrapolated, upsampled

    rows = []
    fine = upsampled(pruned)
    for phase in ("ncm", "lpscl"):
        for ax, axis in enumerate("xyz"):
            rel = []
            for lab in (pruned, fine):
                try:
                    res = porespy.simulations.tortuosity_fd(lab == phases.label_of(phase), axis=ax, tol=1e-10)
                    rel.append(1.0 / res.formation_factor)
                except Exception:  # nothing spans the two planes
                    rel.append(0.0)
            target = extrapolated(*rel) if min(rel) > 0 else 0.0
            rows.append({"mesher": "porespy", "phase": phase, "axis": axis, "fv_1x": rel[0], "fv_2x": rel[1],
                         "fv": target})
            print(f"porespy        {phase:5s} {axis}  1x {rel[0]:.5f} 2x {rel[1]:.5f} extrapolated {target:.5f}",
                  flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meshers", default="smooth,voxel")
    ap.add_argument("--composition", default="70:28:2")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--size", type=float, default=16.0)
    ap.add_argument("--separator", type=float, default=5.0)
    ap.add_argument("--separator-growth", type=float, default=1.5)
    ap.add_argument("--porespy", action="store_true",
                    help="also PoreSpy's tortuosity_fd at 1x and 2x, extrapolated the same way (serial; an "
                         "independent check of the target)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    design = ElectrodeDesign(composition=Composition.parse(args.composition), size_x_um=args.size,
                             size_y_um=args.size)
    image = generate(design, np.random.default_rng(args.seed)) if comm.rank == 0 else None
    image = comm.bcast(image, root=0)
    h = image.voxel_size_um
    pruned, _ = prune_dead_clusters(image.labels, h)
    pruned = pruned.astype(np.uint8)
    rows = []
    for name in args.meshers.split(","):
        t0 = time.perf_counter()
        tm = get_mesher(name)(pruned, h, args.separator, comm, separator_growth=args.separator_growth)
        t_mesh = time.perf_counter() - t0
        t0 = time.perf_counter()
        match = match_conductances(pruned, h, tm, comm)
        t_match = time.perf_counter() - t0
        for m in (match.ncm, match.lpscl):
            # an independent solve with the final tensor, per axis
            meshes = _phase_meshes(pruned, h, phase_label(m.phase), tm)
            for ax, axis in enumerate("xyz"):
                msh, lo, hi, area = meshes[ax]
                matched = solve_ohm(msh, ax, lo, hi, area, tensor_diag=m.factor).relative if msh is not None else 0.0
                p1, fv = m.p1[ax], m.fv[ax]
                row = {"mesher": name, "phase": m.phase, "axis": axis, "p1": p1, "fv": fv, "fv_1x": m.fv_1x[ax],
                       "fv_2x": m.fv_2x[ax], "factor": m.factor[ax],
                       "matched": matched, "p1_vs_fv": p1 / fv - 1.0 if fv > 0 else None,
                       "matched_vs_fv": matched / fv - 1.0 if fv > 0 else None,
                       "iterations": m.iterations, "mesh_s": t_mesh, "match_s": t_match}
                rows.append(row)
                if comm.rank == 0:
                    pct = lambda v: "   n/a" if v is None else f"{100 * v:+7.3f} %"  # noqa: E731
                    print(f"{name:14s} {m.phase:5s} {axis}  p1 {p1:.5f}  fv 1x {m.fv_1x[ax]:.5f} 2x {m.fv_2x[ax]:.5f} "
                          f"extrapolated {fv:.5f}  p1/fv-1 {pct(row['p1_vs_fv'])}  "
                          f"factor {m.factor[ax]:.4f}  matched {matched:.5f}  matched/fv-1 {pct(row['matched_vs_fv'])}  "
                          f"({m.iterations} iterations)", flush=True)
        if comm.rank == 0:
            print(f"{name}: mesh {t_mesh:.1f} s, matching {t_match:.1f} s; {match.describe()}",
                  flush=True)
    if args.porespy and comm.size == 1:
        rows += porespy_rows(pruned)
    if comm.rank == 0 and args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "ranks": comm.size, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
