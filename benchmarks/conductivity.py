"""Benchmark: meshing and effective conductivity at the seed's size, against PoreSpy.

Structure: ``generate(ElectrodeDesign(), np.random.default_rng(1))`` (70 wt% NCM, 100 x 100 x 78
voxels of 0.5 um). One run of this script measures, on 1 and 2 MPI ranks (it launches itself
under ``mpirun`` through subprocesses):

- mesh: ``build_tagged_mesh`` of the whole image (4.68 M tetrahedra, all tags; the discharge
  model's mesh) and writing ``mesh.xdmf`` + ``mesh.msh``; time and peak resident memory per rank;
- conductivity of NCM and LPSCl along z with both methods, fv first (voxel finite volumes, the
  default) then p1 (P1 on the Kuhn mesh): building the phase's mesh (hexahedra / tetrahedra) and
  solving (space, assembly, GAMG set-up, CG to rtol 1e-8, current); time, iterations, peak
  memory per rank (after the fv solves, and overall);

and, serially, PoreSpy's ``tortuosity_fd`` (6-connected finite differences, pyamg) on the same
phases: its time, and per method the ratio of our solve time (and phase mesh + solve) to it and
the relative difference of sigma_eff. With ``--connectivity6`` it also solves p1 with
edge/corner contacts cut (P1 on a 6-connected mesh).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/conductivity.py [--out DIR] [--ranks 1,2] [--methods fv,p1]
                                                        [--no-mesh] [--no-porespy]

Needs ``openpnm`` and ``pyamg`` (PoreSpy's solver back end) for the comparison. Timings depend on
the machine's load: the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("ncm", "lpscl")


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB -> GB


# -- workers (run under mpirun) ----------------------------------------------------------------------
def worker_mesh(d: Path) -> dict:
    from fem_twin._dolfinx import MPI
    from fem_twin.meshing.io import write_tagged_mesh
    from fem_twin.meshing.voxel_mesh import build_tagged_mesh
    from fem_twin.microstructure.image import VoxelImage

    comm = MPI.COMM_WORLD
    img = VoxelImage.load(d)
    comm.Barrier()
    t0 = time.perf_counter()
    tm = build_tagged_mesh(img.labels, img.voxel_size_um, 0.0, comm)
    comm.Barrier()
    t1 = time.perf_counter()
    mem_build = comm.allreduce(peak_gb(), op=MPI.MAX)
    out = d / f"mesh_np{comm.size}"
    write_tagged_mesh(tm, out)
    comm.Barrier()
    t2 = time.perf_counter()
    return {"cells": tm.num_cells_global(), "build_s": t1 - t0, "write_s": t2 - t1,
            "peak_gb_per_rank_build": mem_build,
            "peak_gb_per_rank_write": comm.allreduce(peak_gb(), op=MPI.MAX)}


def worker_conductivity(d: Path, methods: list[str], connectivity6: bool) -> dict:
    from fem_twin._dolfinx import MPI
    from fem_twin.fem.conductivity import effective_conductivity
    from fem_twin.microstructure.image import VoxelImage

    comm = MPI.COMM_WORLD
    img = VoxelImage.load(d)
    for m in methods:  # JIT warm-up (cached forms)
        effective_conductivity(img.labels[:8, :8, :8], 0.5, "ncm", "z", method=m)
    res = {}
    runs = [(m, None) for m in methods] + ([("p1", 6)] if connectivity6 else [])
    for method, conn in runs:
        key = method if conn is None else f"{method}_conn6"
        res[key] = {}
        for phase in PHASES:
            comm.Barrier()
            t0 = time.perf_counter()
            r = effective_conductivity(img.labels, img.voxel_size_um, phase, "z", rtol=1e-8,
                                       connectivity=conn, method=method, comm=comm)
            comm.Barrier()
            res[key][phase] = {"sigma_eff_S_per_m": r.sigma_eff_S_per_m, "relative": r.relative_conductivity,
                               "sigma_S_per_m": r.sigma_intrinsic_S_per_m, "eps": r.volume_fraction,
                               "eps_active": r.active_volume_fraction, "iterations": r.ksp_iterations,
                               "dofs": r.num_dofs, "cells": r.num_cells, "mesh_s": r.mesh_time_s,
                               "solve_s": r.solve_time_s, "total_s": time.perf_counter() - t0}
        res[key]["peak_gb_per_rank"] = comm.allreduce(peak_gb(), op=MPI.MAX)  # running maximum
    return res


def worker_porespy(d: Path) -> dict:
    import dolfinx_solver  # noqa: F401  (openpnm imports petsc4py)
    import numpy as np
    import porespy

    from fem_twin.microstructure.image import VoxelImage
    from fem_twin.phases import label_of

    img = VoxelImage.load(d)
    # warm-up on a tiny image: the first call pays one-off costs (imports, numba compilation,
    # ~3 s here) that are not PoreSpy's solve time; ours is warmed up the same way
    porespy.simulations.tortuosity_fd(np.ones((8, 8, 8), dtype=bool), axis=2)
    out = {}
    for phase in PHASES:
        mask = img.labels == label_of(phase)
        t0 = time.perf_counter()
        r = porespy.simulations.tortuosity_fd(mask, axis=2)
        out[phase] = {"time_s": time.perf_counter() - t0, "solver_time_s": r.time,
                      "relative": 1.0 / r.formation_factor, "tau": r.tortuosity,
                      "eps_effective": r.effective_porosity}
    out["peak_gb"] = peak_gb()
    return out


# -- driver -------------------------------------------------------------------------------------------
def run_worker(kind: str, d: Path, ranks: int, extra: list[str] | None = None) -> dict:
    mpirun = Path(sys.executable).with_name("mpirun")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, str(d)] + (extra or [])
    if ranks > 1 or kind != "porespy":
        cmd = [str(mpirun) if mpirun.exists() else "mpirun", "-n", str(ranks)] + cmd
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        sys.stderr.write(p.stdout[-3000:] + p.stderr[-3000:])
        raise SystemExit(f"worker {kind} on {ranks} rank(s) failed (exit {p.returncode})")
    return json.loads(lines[0][len("RESULT "):])


def ensure_structure(d: Path) -> None:
    import numpy as np

    from fem_twin.design import ElectrodeDesign
    from fem_twin.microstructure.generate import generate

    if not (d / "structure.npz").exists():
        t0 = time.perf_counter()
        img = generate(ElectrodeDesign(), np.random.default_rng(1))
        img.save(d)
        print(f"generated {img.shape} in {time.perf_counter() - t0:.1f} s -> {d}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="/tmp/fem_twin_bench_conductivity", help="work directory")
    ap.add_argument("--ranks", default="1,2", help="rank counts (default 1,2)")
    ap.add_argument("--no-porespy", action="store_true", help="skip the PoreSpy comparison")
    ap.add_argument("--no-mesh", action="store_true", help="skip the full tagged mesh")
    ap.add_argument("--methods", default="fv,p1", help="conductivity methods, in this order (default fv,p1)")
    ap.add_argument("--connectivity6", action="store_true",
                    help="also solve p1 with 6-connectivity (1st rank count)")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "DIR"), help=argparse.SUPPRESS)
    ap.add_argument("--c6", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods or any(m not in ("fv", "p1") for m in methods):
        ap.error(f"--methods: expected a list of fv and p1, got {args.methods!r}")

    if args.worker:
        kind, d = args.worker[0], Path(args.worker[1])
        res = {"mesh": lambda: worker_mesh(d), "conductivity": lambda: worker_conductivity(d, methods, args.c6),
               "porespy": lambda: worker_porespy(d)}[kind]()
        from mpi4py import MPI

        if MPI.COMM_WORLD.rank == 0:
            print("RESULT " + json.dumps(res), flush=True)
        return 0

    d = Path(args.out)
    d.mkdir(parents=True, exist_ok=True)
    ensure_structure(d)
    ranks = [int(r) for r in args.ranks.split(",")]
    report = {"load_average_start": os.getloadavg(), "ranks": ranks, "mesh": {}, "conductivity": {}}
    for i, n in enumerate(ranks):
        if not args.no_mesh:
            report["mesh"][n] = run_worker("mesh", d, n)
            m = report["mesh"][n]
            print(f"[{n} rank(s)] tagged mesh: {m['cells']} tets, build {m['build_s']:.1f} s "
                  f"(peak {m['peak_gb_per_rank_build']:.2f} GB/rank), write xdmf+msh {m['write_s']:.1f} s "
                  f"(peak {m['peak_gb_per_rank_write']:.2f} GB/rank)", flush=True)
        extra = ["--methods", ",".join(methods)] + (["--c6"] if args.connectivity6 and i == 0 else [])
        c = run_worker("conductivity", d, n, extra)
        report["conductivity"][n] = c
        for key, per in c.items():
            for phase in PHASES:
                r = per[phase]
                print(f"[{n} rank(s)] {key:8s} {phase:5s}: sigma_eff {r['sigma_eff_S_per_m']:.5g} S/m "
                      f"(rel {r['relative']:.5f}), {r['dofs']} unknowns, {r['iterations']} its, phase mesh "
                      f"{r['mesh_s']:.2f} s, solve {r['solve_s']:.2f} s", flush=True)
            print(f"[{n} rank(s)] {key:8s} peak memory so far {per['peak_gb_per_rank']:.2f} GB/rank", flush=True)
    if not args.no_porespy:
        try:
            ps = run_worker("porespy", d, 1)
        except SystemExit as exc:
            print(f"PoreSpy comparison skipped: {exc} (needs openpnm + pyamg)")
            ps = None
        if ps:
            report["porespy"] = ps
            report["comparison"] = {}
            for phase in PHASES:
                p = ps[phase]
                print(f"PoreSpy {phase:5s}: {p['time_s']:.2f} s total ({p['solver_time_s']:.2f} s in its "
                      f"solver), sigma_eff/sigma {p['relative']:.5f}, tau {p['tau']:.4f}", flush=True)
                for n in ranks:
                    for key, per in report["conductivity"][n].items():
                        r = per[phase]
                        cmp = {"solve_over_porespy": r["solve_s"] / p["time_s"],
                               "mesh_and_solve_over_porespy": (r["mesh_s"] + r["solve_s"]) / p["time_s"],
                               "relative_difference": r["relative"] / p["relative"] - 1}
                        report["comparison"][f"{n}/{key}/{phase}"] = cmp
                        print(f"  {n} rank(s) {key:8s}: solve / PoreSpy = {cmp['solve_over_porespy']:.2f}, "
                              f"(phase mesh + solve) / PoreSpy = {cmp['mesh_and_solve_over_porespy']:.2f}, "
                              f"sigma_eff / sigma_eff(PoreSpy) - 1 = {cmp['relative_difference']:+.2%}")
    report["load_average_end"] = os.getloadavg()
    print(f"load average (1, 5, 15 min) at start {report['load_average_start']}, end {report['load_average_end']}")
    (d / "benchmark.json").write_text(json.dumps(report, indent=2))
    print(f"-> {d / 'benchmark.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
