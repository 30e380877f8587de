"""The re-run cases (rerun/run.sh) next to the first study's: what the end-rule fix changes.

    python3 docs/data/rate_study/rerun/compare.py [FIRST_STUDY [RERUN_STUDY]]

One markdown row per case complete in both (defaults docs/data/rate_study/study and
docs/data/rate_study/rerun/study), in the study's order: capacity (mAh/g NCM) and how each run ended
(end voltage), the difference, and the re-run's largest NCM node lithiation and lithium let past
c_max (``lithiation_bounds`` of discharge.json: the volume-mean excess over 1, a fraction of the NCM's
capacity). Then the mean change per C-rate and composition. Standard library only: it runs while
the studies hold the venv's cores.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from progress import case_key  # noqa: E402  (docs/data/rate_study/progress.py)


def _summary(run_dir: Path) -> dict | None:
    try:
        s = json.loads((run_dir / "discharge.json").read_text())
    except (OSError, ValueError):
        return None
    return s if s.get("complete") else None


def _end(s: dict) -> str:
    step = s["steps"][-1]
    why = "cut-off" if str(step["ended_by"]).startswith("cut-off") else "saturation"
    return f"{why} {step['end_voltage_V']:.3f} V"


def main(first: Path, rerun: Path) -> int:
    rows, by_group = [], {}
    for rd in sorted((p.parent for p in rerun.glob("ncm*_seed*/c*C/discharge.json")), key=case_key):
        new, old = _summary(rd), _summary(first / rd.parent.name / rd.name)
        if new is None or old is None:
            continue
        seed, rate, wt = case_key(rd)
        d = new["capacity_mAh_per_g"] - old["capacity_mAh_per_g"]
        b = new.get("lithiation_bounds") or {}
        rows.append(f"| {wt} wt%, seed {seed}, {rate:g}C | {old['capacity_mAh_per_g']:.2f} ({_end(old)}) | "
                    f"{new['capacity_mAh_per_g']:.2f} ({_end(new)}) | {d:+.2f} | "
                    f"{b.get('max_lithiation', float('nan')):.4f} | {b.get('max_lithiation_excess', float('nan')):.1e} |")
        by_group.setdefault((rate, wt), []).append(d)
    if not rows:
        print(f"no case is complete in both {first} and {rerun}", file=sys.stderr)
        return 1
    print("| case | first study: mAh/g (end) | re-run: mAh/g (end) | change | max node x | excess |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    for (rate, wt), ds in sorted(by_group.items()):
        print(f"{wt} wt% {rate:g}C: mean change {sum(ds) / len(ds):+.2f} mAh/g over {len(ds)} seed(s)")
    return 0


if __name__ == "__main__":
    a = sys.argv[1:]
    sys.exit(main(Path(a[0]) if a else Path("docs/data/rate_study/study"),
                  Path(a[1]) if len(a) > 1 else Path("docs/data/rate_study/rerun/study")))
