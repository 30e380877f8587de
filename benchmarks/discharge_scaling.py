"""Scaling of the discharge solver with the electrode size (issue 7's targets).

For each x = y extent in ``--sizes`` (70 wt% structure, seed 1, ``--separator`` um of LPSCl) and each
rank count in ``--ranks``, one case of ``benchmarks/discharge.py`` runs in its own ``mpirun``: the
consistent potentials at 1C, then ``--steps`` backward-Euler steps of 36 s (1/100 h) at 1C with the
fieldsplit solver. Printed per case: unknowns, Newton iterations, Krylov iterations per Newton
step, wall time per Newton step and peak memory per rank; then, for every pair of sizes on the same
rank count, the growth of Krylov iterations per Newton step and of the time per Newton step
against the growth of the number of unknowns.

Targets (issue 7): Krylov iterations per Newton step grow by at most 1.5x when the unknowns grow
8x; time per Newton step grows no faster than the unknowns; <= 8 GB per rank at the seed's full
size (50 um, 30 um separator) on 2 ranks.

    python benchmarks/discharge_scaling.py --sizes 16,24,32,50 --ranks 1,2 --steps 2
    python benchmarks/discharge_scaling.py --sizes 16,32 --ranks 2 --json out/scaling.json
    python benchmarks/discharge_scaling.py --sizes 24 --ranks 1,2 --mesher smooth --transport fv-matched \
        --separator 30 --separator-growth 1.5 --json out/scaling_smooth.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _bench_module():
    spec = importlib.util.spec_from_file_location("fem_twin_bench_discharge", HERE / "discharge.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def summarise(r: dict) -> dict | None:
    """Per-case figures over the time steps (step 0, the potentials, excluded)."""
    if "error" in r:
        return None
    steps = [s for s in r["steps"][1:] if s["ok"]]
    if not steps:
        return None
    newton = sum(s["newton"] for s in steps)
    return {"size_um": r["size_um"], "ranks": r["ranks"], "unknowns": r["unknowns"],
            "newton_per_step": newton / len(steps),
            "krylov_per_newton": sum(s["linear"] for s in steps) / max(newton, 1),
            "s_per_newton": sum(s["wall_s"] for s in steps) / max(newton, 1),
            "peak_MB_per_rank": r["peak_rss_MB_per_rank"]}


def growth_table(rows: list[dict]) -> list[str]:
    """Lines comparing every pair of sizes on the same rank count."""
    out = []
    for ranks in sorted({r["ranks"] for r in rows}):
        same = sorted((r for r in rows if r["ranks"] == ranks), key=lambda r: r["unknowns"])
        for i, a in enumerate(same):
            for b in same[i + 1:]:
                n = b["unknowns"] / a["unknowns"]
                k = b["krylov_per_newton"] / a["krylov_per_newton"]
                t = b["s_per_newton"] / a["s_per_newton"]
                out.append(f"  {ranks} rank(s) {a['size_um']:g} -> {b['size_um']:g} um: unknowns x{n:.2f}, "
                           f"Krylov its/Newton x{k:.2f} (target <= 1.5 per 8x: "
                           f"x{k ** (3.0 / max(math.log2(n), 1e-9)):.2f} per 8x), "
                           f"s/Newton x{t:.2f} ({'<=' if t <= n else '>'} unknowns growth)")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="16,24,32,50")
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--separator", type=float, default=5.0)
    ap.add_argument("--separator-growth", type=float, default=1.0, help="graded separator (e.g. 1.5)")
    ap.add_argument("--mesher", default="voxel", choices=["voxel", "smooth", "smooth-coarse"],
                    help="mesher of the structures (default voxel: the README's table)")
    ap.add_argument("--transport", default="p1", choices=["p1", "fv-matched"],
                    help="discharge transport (default p1: the README's table; fv-matched: the discharge default)")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    bench = _bench_module()
    results, rows = [], []
    for size in [float(s) for s in a.sizes.split(",")]:
        for ranks in [int(n) for n in a.ranks.split(",")]:
            r = bench.run_case(size, a.separator, a.steps, "fieldsplit", ranks, a.timeout, a.separator_growth,
                               a.mesher, a.transport)
            results.append(r)
            print(bench.report(r), flush=True)
            s = summarise(r)
            if s:
                rows.append(s)
            if a.json:
                Path(a.json).parent.mkdir(parents=True, exist_ok=True)
                Path(a.json).write_text(json.dumps({"cases": results, "summary": rows}, indent=2))
    print("\nsize_um ranks  unknowns  Newton/step  Krylov/Newton  s/Newton  peak MB/rank")
    for s in rows:
        print(f"{s['size_um']:7g} {s['ranks']:5d} {s['unknowns']:9d} {s['newton_per_step']:12.1f} "
              f"{s['krylov_per_newton']:14.1f} {s['s_per_newton']:9.2f} {s['peak_MB_per_rank']:13.0f}")
    print("\n".join(growth_table(rows)))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main())
