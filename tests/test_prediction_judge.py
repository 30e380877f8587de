"""docs/data/rate_study/mirror/judge.py: the written predictions P2/P3 judged from case files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

JUDGE = Path(__file__).resolve().parents[1] / "docs" / "data" / "rate_study" / "mirror" / "judge.py"


def _judge():
    spec = importlib.util.spec_from_file_location("prediction_judge", JUDGE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _case(study: Path, seed: int, rate: float, cap: float, complete: bool = True):
    d = study / f"ncm80_seed{seed}" / f"c{rate:g}C"
    d.mkdir(parents=True)
    (d / "discharge.json").write_text(json.dumps({"complete": complete, "capacity_mAh_per_g": cap}))


def test_pending_until_every_seed_is_complete(tmp_path):
    judge = _judge()
    for seed, cap in ((1, 85.75), (2, 84.29), (3, 86.0), (4, 85.0)):
        _case(tmp_path, seed, 0.5, cap)
    _case(tmp_path, 5, 0.5, 80.0, complete=False)  # interrupted: not judged
    p2 = judge.judge_p2(tmp_path)
    assert p2[0].startswith("P2 at 0.5C: pending (missing seeds [5])") and "pending" in p2[1]
    assert judge.judge_p3(tmp_path) == ["P3 at 0.5C: holds; seeds 3 / 4 86.00 / 85.00 (gap 1.00, limit 1.5), seed 2 84.29"]


def test_holds_and_fails(tmp_path):
    judge = _judge()
    caps = {1: 85.75, 2: 84.29, 3: 86.5, 4: 84.9, 5: 84.0}
    for seed, cap in caps.items():
        _case(tmp_path, seed, 0.5, cap)
        _case(tmp_path, seed, 1.0, cap - 20 if seed != 5 else 70.0)
    p2 = judge.judge_p2(tmp_path)
    assert p2[0].startswith("P2 at 0.5C: holds") and p2[1].startswith("P2 at 1C: fails (seed 2 lowest)")
    # gap 1.6 > 1.5
    assert judge.judge_p3(tmp_path)[0].startswith("P3 at 0.5C: fails; seeds 3 / 4 86.50 / 84.90 (gap 1.60")
