"""The periodic 50 um cell (80 wt%, seed 1, 1C) beside the cut 50 um cell of the same structure and the
periodic / cut 24 um pieces of seed 1; PREDICTION.md says what was expected before it ran.

    python docs/data/size_study/periodic50/compare.py
"""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def case(folder: str, size: int) -> dict | None:
    f = ROOT / folder / f"size_um={size}_ncm_wt=80_seed=1" / "c1C" / "discharge.json"
    d = json.loads(f.read_text()) if f.is_file() else None
    return d if d and d.get("complete") else None


def main() -> None:
    print("| case | mAh/g NCM | dead LPSCl on the mesh | LPSCl fv target x / y / z | LPSCl factor x / y / z |")
    print("|---|---|---|---|---|")
    for name, folder, size in (("50 um cut", "size50", 50), ("50 um periodic", "periodic50", 50),
                               ("24 um cut", "size24", 24), ("24 um periodic", "periodic24", 24)):
        d = case(folder, size)
        if d is None:
            print(f"| {name} | not run (or not complete) | | | |")
            continue
        t = d["transport"]["lpscl"]
        print(f"| {name} | {d['capacity_mAh_per_g']:.2f} | {100 * d['dead_clusters']['dead_lpscl_fraction']:.2f} % | "
              + " / ".join(f"{v:.4f}" for v in t["fv"]) + " | " + " / ".join(f"{v:.3f}" for v in t["factor"]) + " |")


if __name__ == "__main__":
    main()
