"""Mesh convergence of the demo electrode's 1C discharge (issue 15).

The demo's structure (70 wt%, 16 x 16 x 39 um, 0.5 um voxels, 5 um separator; ``--seed``, default 1)
and its time-stepping options, discharged at 1C to 3.0 V on:

- ``voxel``: the Kuhn voxel mesh (6 tetrahedra per voxel);
- ``voxel2``: the image upsampled 2x (each voxel split into 8, h = 0.25 um): the same staircase
  geometry, mesh twice as fine;
- ``voxel-weighted``: ``voxel`` with the interface kinetics weighted to the smoothed-normal area;
- ``smooth``: the smooth gmsh mesh;
- ``smooth-coarse``: the smooth mesh with its surface coarsened where flat (fewer unknowns);
- ``smooth2``: the ``smooth`` mesh refined uniformly once (every tetrahedron into 8 by DOLFINx,
  ``SmoothMeshOptions(refine=1)``): the same geometry, mesh twice as fine. (Splitting the surface
  triangles 1:4 and meshing again with gmsh at h/2 gave zero-volume tetrahedra between coplanar
  surface points, and NaN residuals.)

``--transport fv-matched``: the case with each phase's conductivity tensor matched to the voxel
finite-volume conductances (:mod:`fem_twin.fem.transport_matching`), into OUT/CASE-matched/.

One case per call (it may run under mpirun); results go to OUT/CASE/ and a finished case is not run
again. ``--table`` prints capacity, max |dV| against a reference case (voltage compared at equal
capacity over the part of the curve both reach), unknowns, Newton/GMRES counts and times.

    mpirun -n 2 python benchmarks/discharge_convergence.py --case smooth [--seed 2] [--out out/convergence]
    python benchmarks/discharge_convergence.py --table [--reference smooth2,voxel2]

Whether a capacity can converge depends on the structure: where the NCM reaches the collector only
through voxels that touch at an edge or a corner, P1's conductance of those contacts halves with each
refinement (docs/fidelity.md). ``--table`` therefore prints the fraction of NCM attached to the
collector (and of LPSCl attached to the separator) through face contacts (6-connectivity) next to the
26-connected fraction the meshes conduct through.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

CASES = ("voxel", "voxel2", "voxel-weighted", "smooth", "smooth2", "smooth-coarse")


def demo_image(seed: int = 1):
    from fem_twin.design import Composition, ElectrodeDesign
    from fem_twin.microstructure.generate import generate

    design = ElectrodeDesign(composition=Composition.parse("70:28:2"), size_x_um=16.0, size_y_um=16.0)
    return generate(design, np.random.default_rng(seed))


def attached_fractions(labels: np.ndarray) -> dict:
    """Fraction of NCM attached to the collector (z high) and of LPSCl attached to the separator
    (z low), through 26- and 6-connected voxels, x/y walls as in the mesh."""
    from fem_twin.analysis.connectivity import attached
    from fem_twin.phases import LPSCL, NCM

    out = {}
    for name, lab, side in (("ncm", NCM, "high"), ("lpscl", LPSCL, "low")):
        m = labels == lab
        for c in (26, 6):
            out[f"{name}_{c}"] = float(attached(m, 2, side, c, (False, False, False)).sum() / max(m.sum(), 1))
    return out


def run_case(case: str, out: Path, seed: int = 1, transport: str = "p1") -> None:
    from fem_twin._dolfinx import MPI
    from fem_twin.fem.checkpoint import CheckpointOptions
    from fem_twin.fem.discharge_run import run_discharge
    from fem_twin.fem.stepping import SteppingOptions
    from fem_twin.parameters.cell import ParameterSet
    from fem_twin.protocol import Protocol

    comm = MPI.COMM_WORLD
    d = out / (case + ("-matched" if transport == "fv-matched" else ""))
    done = d / "discharge.json"
    if done.exists() and json.loads(done.read_text()).get("complete"):
        if comm.rank == 0:
            print(f"{case}: already complete in {d}")
        return
    image = demo_image(seed) if comm.rank == 0 else None
    image = comm.bcast(image, root=0)
    labels, h = image.labels, image.voxel_size_um
    params = ParameterSet()
    mesher = "voxel"
    if case == "voxel2":
        labels = np.repeat(np.repeat(np.repeat(labels, 2, axis=0), 2, axis=1), 2, axis=2)
        h = h / 2
    elif case == "voxel-weighted":
        params = params.with_overrides({"interface_area": "smoothed-normal"})
    elif case in ("smooth", "smooth-coarse"):
        mesher = case
    elif case == "smooth2":
        from fem_twin.meshing.smooth_mesh import SmoothMeshOptions, build_smooth_mesh

        def mesher(lab, vox, sep, comm_, separator_growth=1.0):
            return build_smooth_mesh(lab, vox, sep, comm_, separator_growth=separator_growth,
                                     options=SmoothMeshOptions(refine=1))
    hour = 3600.0
    run_discharge(labels, h, d, params=params, protocol=Protocol.discharge(1.0, 3.0), separator_um=5.0,
                  mesher=mesher, comm=comm, write_fields=False, separator_growth=1.0,  # as the runs in docs/fidelity.md
                  stepping=SteppingOptions(dt_initial_s=hour / 100, dt_max_s=0.05 * hour, max_dV=0.1,
                                           output_every=5, saturation_dt=2e-3),
                  checkpoint=CheckpointOptions(every=5, restart=(d / "checkpoint.npz").exists()),
                  **({"transport": transport} if transport != "p1" else {}),
                  **({"overwrite": True} if _has_overwrite() else {}))


def _has_overwrite() -> bool:
    import inspect

    from fem_twin.fem.discharge_run import run_discharge

    return "overwrite" in inspect.signature(run_discharge).parameters


def load(out: Path, case: str):
    d = out / case
    try:
        summary = json.loads((d / "discharge.json").read_text())
        import csv

        with open(d / "discharge.csv") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, ValueError):
        return None
    if "mesh" not in summary:  # still running (discharge.json says so until the summary is written)
        return None
    q = np.array([float(r["capacity_mAh_per_g"]) for r in rows])
    v = np.array([float(r["voltage_V"]) for r in rows])
    return summary, q, v


def table(out: Path, references: list[str], seed: int | None = None) -> None:
    names = [c + m for c in CASES for m in ("", "-matched")]
    data = {c: load(out, c) for c in names}
    ref = next((c for c in references if data.get(c) and data[c][0].get("complete")), None)
    if seed is not None:
        f = attached_fractions(demo_image(seed).labels)
        print(f"seed {seed}: NCM attached to the collector {f['ncm_26']:.1%} (26-connected) / {f['ncm_6']:.1%} "
              f"(face contacts only); LPSCl attached to the separator {f['lpscl_26']:.1%} / {f['lpscl_6']:.1%}\n")
    print(f"| case | complete | capacity mAh/g | vs {ref} | max abs dV vs {ref} (mV): all / to 90 % of the common capacity | unknowns | Newton | GMRES | "
          f"GMRES/Newton | mesh s | loop s | ranks |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c in names:
        if not data[c]:
            continue
        s, q, v = data[c]
        cap = s.get("capacity_mAh_per_g") or (q[-1] if q.size else float("nan"))
        rel, dv = "", ""
        if ref and c != ref:
            _, qr, vr = data[ref]
            rel = f"{cap / data[ref][0]['capacity_mAh_per_g'] - 1:+.2%}"
            qmax = min(q[-1], qr[-1])
            grid = np.linspace(0.0, qmax, 400)[1:]
            d = np.abs(np.interp(grid, q, v) - np.interp(grid, qr, vr))
            dv = f"{1e3 * d.max():.1f} / {1e3 * d[grid <= 0.9 * qmax].max():.1f}"
        sol = s.get("solver", {})
        n, g = sol.get("newton_iterations", 0), sol.get("linear_iterations", 0)
        print(f"| {c} | {s.get('complete')} | {cap:.2f} | {rel} | {dv} | {s['mesh']['unknowns']} | {n} | {g} | "
              f"{g / max(n, 1):.1f} | {s.get('mesh_time_s', 0):.0f} | {s.get('time_loop_s', 0):.0f} | {s.get('ranks')} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", choices=CASES)
    ap.add_argument("--out", default="out/convergence")
    ap.add_argument("--seed", type=int, default=1, help="generator seed of the demo piece (default 1)")
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--transport", default="p1", choices=["p1", "fv-matched"],
                    help="the case's transport (fv-matched: into OUT/CASE-matched; fem_twin/fem/transport_matching.py)")
    ap.add_argument("--reference", default="smooth2,voxel2", help="reference cases for the table, first complete one")
    a = ap.parse_args()
    from fem_twin.log import console

    console()  # the library's progress lines
    out = Path(a.out)
    if a.case:
        run_case(a.case, out, a.seed, a.transport)
    if a.table:
        table(out, a.reference.split(","), a.seed)


if __name__ == "__main__":
    main()
