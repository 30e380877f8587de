"""The periodic 24 um pieces beside the cut ones and the 50 um cells (80 wt%, 1C): one Markdown row per
seed from the cases' discharge.json, then the means and spreads (max - min).

    python docs/data/size_study/periodic24/compare.py
"""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def case(folder: str, size: int, seed: int) -> dict | None:
    f = ROOT / folder / f"size_um={size}_ncm_wt=80_seed={seed}" / "c1C" / "discharge.json"
    d = json.loads(f.read_text()) if f.is_file() else None
    return d if d and d.get("complete") else None


def main() -> None:
    cols = {"cut": [], "periodic": [], "50": []}
    for seed in (1, 2, 3):
        cut, per, full = case("size24", 24, seed), case("periodic24", 24, seed), case("size50", 50, seed)
        if cut is None or full is None:
            raise SystemExit(f"seed {seed}: the size study's 24 or 50 um case is missing")
        q = [cut["capacity_mAh_per_g"], per["capacity_mAh_per_g"] if per else None, full["capacity_mAh_per_g"]]
        for k, v in zip(cols, q):
            if v is not None:
                cols[k].append(v)
        dead = [c["dead_clusters"]["dead_lpscl_fraction"] * 100 if c else None for c in (cut, per)]
        fv = [c["transport"]["lpscl"]["fv"][2] if c else None for c in (cut, per)]
        fmt = lambda v, spec: "running" if v is None else format(v, spec)  # noqa: E731
        change = f"{q[1] - q[0]:+.2f}" if q[1] is not None else "-"
        print(f"| {seed} | {q[0]:.2f} | {fmt(q[1], '.2f')} | {change} | {dead[0]:.2f} / {fmt(dead[1], '.2f')} % | "
              f"{fv[0]:.4f} / {fmt(fv[1], '.4f')} | {q[2]:.2f} |")
    for k, v in cols.items():
        if len(v) == 3:
            print(f"{k}: mean {sum(v) / 3:.2f}, spread {max(v) - min(v):.2f} mAh/g")


if __name__ == "__main__":
    main()
