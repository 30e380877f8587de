"""Benchmark of the discharge model: per-step time, Newton and linear iterations, assembly and
linear-solver time and peak memory, on 1 and 2 ranks, for the demo electrode and one 4x larger.

Each case runs in its own ``mpirun`` (a fresh process, so peak memory is the case's own): the
70 wt% structure ``generate(ElectrodeDesign(size_x_um=S, size_y_um=S), default_rng(1))`` with a
5 um separator, the consistent potentials at 1C, then ``--steps`` backward-Euler steps of
1/100 h at 1C (the first steps of the demo's discharge). Times are wall clock on rank 0.

    python benchmarks/discharge.py                       # sizes 16 and 32 um, 1 and 2 ranks
    python benchmarks/discharge.py --sizes 16 --ranks 2 --steps 4 --solver mumps
    python benchmarks/discharge.py --json out/bench_discharge.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def worker(size: float, separator: float, steps: int, solver: str, growth: float = 1.0,
           mesher: str = "voxel", transport: str = "p1") -> None:
    import resource

    import numpy as np

    from fem_twin._dolfinx import MPI
    from fem_twin.design import ElectrodeDesign
    from fem_twin.meshing.meshers import get_mesher
    from fem_twin.fem.discharge import DischargeProblem
    from fem_twin.fem.discharge_run import electrode_numbers
    from fem_twin.fem.discharge_solvers import LinearSolverSpec
    from fem_twin.fem.domains import build_domains, prune_dead_clusters
    from fem_twin.fem.transport_matching import match_conductances
    from fem_twin.microstructure.generate import generate
    from fem_twin.parameters.cell import ParameterSet

    comm = MPI.COMM_WORLD
    t0 = time.perf_counter()
    img = generate(ElectrodeDesign(size_x_um=size, size_y_um=size), np.random.default_rng(1)) \
        if comm.rank == 0 else None
    img = comm.bcast(img, root=0)
    params = ParameterSet()
    num = electrode_numbers(img.labels, img.voxel_size_um, params)
    pruned, _ = prune_dead_clusters(img.labels, img.voxel_size_um)
    t1 = time.perf_counter()
    tm = get_mesher(mesher)(pruned.astype(np.uint8), img.voxel_size_um, separator, comm, separator_growth=growth)
    dom = build_domains(tm)
    t_mesh = time.perf_counter() - t1
    t2 = time.perf_counter()
    match = match_conductances(pruned, img.voxel_size_um, tm, comm, transport)
    t_match = time.perf_counter() - t2
    t2 = time.perf_counter()
    pb = DischargeProblem(dom, params, num["eps_ncm"], num["i_1c_A"], LinearSolverSpec(solver),
                          conductance_factors=match.factors(), sliver_angle_deg=match.sliver_angle_deg)
    t3 = time.perf_counter()
    current, dt = num["i_1c_A"], 36.0
    rows = []
    for k in range(steps + 1):
        transport = k > 0
        before = {**pb.timings, **pb.sys.timings}
        ts = time.perf_counter()
        ok, its, lits, why = pb.solve(current, dt if transport else 1.0, transport=transport)
        wall = time.perf_counter() - ts
        after = {**pb.timings, **pb.sys.timings}
        if not ok:
            rows.append({"step": k, "ok": False, "reason": why, "wall_s": wall})
            break
        pb.accept(dt, current) if transport else pb.accept()
        d = {key: after[key] - before[key] for key in after}
        rows.append({"step": k, "ok": True, "wall_s": wall, "newton": its, "linear": lits,
                     "V": float(pb.V.value), "assembly_s": d["residual_s"] + d["jacobian_s"],
                     "jacobian_s": d["jacobian_s"], "residual_s": d["residual_s"],
                     "linear_setup_s": d["setup_s"], "linear_apply_s": d["apply_s"]})
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    peak = comm.allreduce(rss, op=MPI.MAX)
    out = {"size_um": size, "separator_um": separator, "separator_growth": growth, "mesher": mesher,
           "transport": transport, "matching_s": t_match,
           "ranks": comm.size, "solver": pb.solver_spec.name,
           "unknowns": pb.num_dofs, "cells": dom.num_cells_global, "mesh_s": t_mesh,
           "generate_s": t1 - t0, "problem_setup_s": t3 - t2, "steps": rows, "peak_rss_MB_per_rank": peak}
    pb.destroy()
    if comm.rank == 0:
        print("RESULT " + json.dumps(out), flush=True)


def run_case(size, separator, steps, solver, ranks, timeout, growth=1.0, mesher="voxel", transport="p1"):
    exe = Path(sys.executable)
    mpirun = exe.parent / "mpirun"
    cmd = [str(mpirun), "-n", str(ranks), str(exe), str(Path(__file__).resolve()), "--worker",
           str(size), str(separator), str(steps), solver, str(growth), mesher, transport]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"size_um": size, "ranks": ranks, "mesher": mesher, "transport": transport, "error": f"timeout after {timeout} s"}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[7:])
            r["process_wall_s"] = time.perf_counter() - t
            return r
    return {"size_um": size, "ranks": ranks, "mesher": mesher, "transport": transport, "error": (p.stderr or p.stdout)[-800:]}


def report(r) -> str:
    if "error" in r:
        return f"{r['size_um']:>5g} um  {r['ranks']} rank(s): FAILED {r['error'][:300]}"
    lines = [f"{r['size_um']:>5g} um  {r.get('mesher', 'voxel')} mesh  {r.get('transport', 'p1')}  {r['ranks']} rank(s)  "
             f"{r['unknowns']} unknowns  "
             f"{r['cells']} cells  "
             f"solver {r['solver']}  mesh {r['mesh_s']:.1f} s  matching {r.get('matching_s', 0):.1f} s  "
             f"set-up {r['problem_setup_s']:.1f} s  "
             f"peak {r['peak_rss_MB_per_rank']:.0f} MB/rank"]
    lines.append("   step   wall_s  newton  linear  assembly_s (jac)  lin_setup_s  lin_apply_s  s/newton")
    for s in r["steps"]:
        if not s["ok"]:
            lines.append(f"   {s['step']:4d}  failed: {s['reason']}")
            continue
        lines.append(f"   {s['step']:4d}  {s['wall_s']:7.2f}  {s['newton']:6d}  {s['linear']:6d}  "
                     f"{s['assembly_s']:8.2f} ({s['jacobian_s']:5.2f})  {s['linear_setup_s']:11.2f}  "
                     f"{s['linear_apply_s']:11.2f}  {s['wall_s'] / max(s['newton'], 1):8.2f}")
    ok = [s for s in r["steps"][1:] if s["ok"]]
    if ok:
        nw = sum(s["newton"] for s in ok)
        lines.append(f"   time steps: mean {sum(s['wall_s'] for s in ok) / len(ok):.2f} s/step, "
                     f"{nw / len(ok):.1f} Newton/step, {sum(s['wall_s'] for s in ok) / max(nw, 1):.2f} s/Newton, "
                     f"{sum(s['linear'] for s in ok) / max(nw, 1):.1f} linear its/Newton")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="16,32", help="x = y extents in um (demo: 16; 32 = 4x the face)")
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--separator", type=float, default=5.0)
    ap.add_argument("--separator-growth", type=float, default=1.0, help="graded separator (e.g. 1.5)")
    ap.add_argument("--solver", default="auto", choices=["auto", "mumps", "fieldsplit"])
    ap.add_argument("--mesher", default="voxel", choices=["voxel", "smooth", "smooth-coarse"],
                    help="mesher of the structure (default voxel: the figures in the README)")
    ap.add_argument("--transport", default="p1", choices=["p1", "fv-matched"],
                    help="transport of the discharge (default p1: the README's figures; fv-matched: the "
                         "discharge default, with its matching time and its non-conducting slivers)")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--json", default=None, help="write all results to this file")
    ap.add_argument("--worker", nargs=7, metavar=("SIZE", "SEP", "STEPS", "SOLVER", "GROWTH", "MESHER", "TRANSPORT"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(float(a.worker[0]), float(a.worker[1]), int(a.worker[2]), a.worker[3], float(a.worker[4]),
               a.worker[5], a.worker[6])
        return 0
    results = []
    for size in [float(s) for s in a.sizes.split(",")]:
        for ranks in [int(n) for n in a.ranks.split(",")]:
            r = run_case(size, a.separator, a.steps, a.solver, ranks, a.timeout, a.separator_growth, a.mesher,
                         a.transport)
            results.append(r)
            print(report(r), flush=True)
            if a.json:
                Path(a.json).parent.mkdir(parents=True, exist_ok=True)
                Path(a.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
