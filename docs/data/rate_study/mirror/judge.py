"""The open predictions of PREDICTION.md (third prediction, P2 and P3), judged from the study's cases.

    python3 docs/data/rate_study/mirror/judge.py [STUDY_DIR]

P2: at 0.5C and at 1C, 80 wt% seed 5 ends lowest of the five seeds.
P3: at 0.5C, 80 wt% seeds 3 and 4 end within 1.5 mAh/g of each other and both above seed 2.
Each is printed as pending (which cases are missing), holds or fails, with the capacities it used
(mAh/g NCM from each complete case's ``discharge.json``). Standard library only; the thresholds
are the ones written in PREDICTION.md before the cases ran.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def capacities(study: Path, wt: int, rate: float) -> dict[int, float]:
    """{seed: mAh/g} of the complete cases at ``wt`` wt% and ``rate``."""
    out = {}
    for seed in range(1, 6):
        f = study / f"ncm{wt}_seed{seed}" / f"c{rate:g}C" / "discharge.json"
        if f.is_file():
            d = json.loads(f.read_text())
            if d.get("complete"):
                out[seed] = float(d["capacity_mAh_per_g"])
    return out


def judge_p2(study: Path) -> list[str]:
    lines = []
    for rate in (0.5, 1.0):
        caps = capacities(study, 80, rate)
        missing = sorted(set(range(1, 6)) - caps.keys())
        shown = ", ".join(f"seed {s} {c:.2f}" for s, c in sorted(caps.items()))
        if missing:
            lines.append(f"P2 at {rate:g}C: pending (missing seeds {missing}); so far {shown}")
        else:
            lowest = min(caps, key=caps.get)
            verdict = "holds" if lowest == 5 else f"fails (seed {lowest} lowest)"
            lines.append(f"P2 at {rate:g}C: {verdict}; {shown}")
    return lines


def judge_p3(study: Path) -> list[str]:
    caps = capacities(study, 80, 0.5)
    need = {2, 3, 4}
    if not need <= caps.keys():
        return [f"P3 at 0.5C: pending (missing seeds {sorted(need - caps.keys())}); so far "
                + ", ".join(f"seed {s} {caps[s]:.2f}" for s in sorted(need & caps.keys()))]
    gap = abs(caps[3] - caps[4])
    ok = gap <= 1.5 and min(caps[3], caps[4]) > caps[2]
    return [f"P3 at 0.5C: {'holds' if ok else 'fails'}; seeds 3 / 4 {caps[3]:.2f} / {caps[4]:.2f} "
            f"(gap {gap:.2f}, limit 1.5), seed 2 {caps[2]:.2f}"]


def main(study: Path) -> int:
    if not study.is_dir():
        print(f"{study}: not a folder (expected the rate study's output folder)", file=sys.stderr)
        return 2
    for line in judge_p2(study) + judge_p3(study):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/data/rate_study/study")))
