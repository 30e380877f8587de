#!/usr/bin/env bash
# The rate study's cases run again to the seed's 3.0 V cut-off, resumable (issue 19; docs/rate_study.md,
# "The overshoot option and the kinetics smoothed at c_max").
#
# 30 of the first study's cases (docs/data/rate_study/study) end when one NCM node reaches c_max
# ("NCM surface lithiation reached c_max" / "surface saturation"), at 3.04-3.27 V, not at 3.0 V: on
# the smooth mesh the discrete diffusion can push one node past x = 1 while the volume mean is far
# below it. The fix has two halves, both off in the first study: the kinetics smoothed at c_max
# (saturation_smoothing = 1e-3 in ./parameters.toml, otherwise the calibrated parameters) and the
# accepted overshoot (--lithiation-overshoot 0.05). This script runs the same cases with both into
# docs/data/rate_study/rerun/study (same structures, same size, same settings otherwise):
#
#   1. seed: each structure (structure.npz, design.json and its mesh/transport cache) is copied from
#      the first study; a first-study case that left a checkpoint.npz (written every 10 steps) gives
#      it to the re-run case, which then continues from it (`fem-twin study discharge` restarts an
#      'interrupted' case; the checkpoint's hash leaves out both halves of the fix, and its rows
#      hold the curve before it). Up to that checkpoint the curve is the first study's: no node was
#      at x >= 1 there, and the smoothing moves i0 and U by < 1e-7 where x < 0.99, so it differs only
#      in the last steps before the checkpoint, where a node was in (0.99, 1); seed.log lists which.
#   2. the cases in the order they matter: the 0.5C and 1C cases (30, all ended by saturation),
#      then 80 wt% at 0.1C (3 of 5 ended by saturation), then the whole grid (the 60 and 70 wt%
#      0.1C cases ended at the cut-off: the check that the fix leaves them alone), with the tables,
#      Fig. 3, the pictures, the field metrics and the seed's statements of the re-run study.
#
#   bash docs/data/rate_study/rerun/run.sh          # after docs/data/rate_study/run.sh is complete
#   SEED_ONLY=1 bash docs/data/rate_study/rerun/run.sh   # stage 1 only (keeps the checkpoints: park.sh)
#
# Stop: `pkill -TERM -f "study discharge"` (the running case writes a checkpoint; the script ends
# at that call); then `bash docs/data/park.sh save` keeps the running
# case's checkpoint (and the seeded ones) across a machine restart. Run again to continue.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
fem=${FEM_TWIN:-.venv/bin/fem-twin}
py=${PYTHON:-.venv/bin/python}
here=docs/data/rate_study
src=$here/study
dst=$here/rerun/study
params=$here/rerun/parameters.toml
tol=${TOL:-0.05}
size=${SIZE:-50}
export OMP_NUM_THREADS=1
bash docs/data/park.sh restore

# 1. seed
"$py" - "$src" "$dst" <<'EOF'
import json, shutil, sys
from pathlib import Path

import numpy as np

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
log = []
for sd in sorted(src.glob("ncm*_seed*")):
    if not (sd / "structure.npz").exists():
        continue
    td = dst / sd.name
    td.mkdir(parents=True, exist_ok=True)
    for name in ("structure.npz", "design.json"):
        if (sd / name).exists() and not (td / name).exists():
            shutil.copy2(sd / name, td / name)
    cache = sd / ".fem_twin_cache"
    if cache.is_dir():
        (td / cache.name).mkdir(exist_ok=True)
        for f in cache.iterdir():
            if not (td / cache.name / f.name).exists():
                shutil.copy2(f, td / cache.name / f.name)
    for rd in sorted(sd.glob("c*C")):
        ck, out = rd / "checkpoint.npz", td / rd.name
        if not ck.exists() or (out / "checkpoint.npz").exists() or (out / "discharge.json").exists():
            continue
        out.mkdir(exist_ok=True)
        shutil.copy2(ck, out / "checkpoint.npz")
        with np.load(out / "checkpoint.npz", allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
        rows = meta.get("rows", [])
        t = rows[-1]["time_s"] if rows and "time_s" in rows[-1] else meta.get("loop", {}).get("time_s")
        xs = [r["max_lithiation"] for r in rows if "max_lithiation" in r]
        ended = json.loads((rd / "discharge.json").read_text())["steps"][-1]["ended_by"]
        log.append(f"{sd.name}/{rd.name}: from the first study's checkpoint at t = {t} s, {len(rows)} rows"
                   f" (max node lithiation {max(xs):.4f})" if xs else
                   f"{sd.name}/{rd.name}: from the first study's checkpoint at t = {t} s, {len(rows)} rows"
                   f" (rows from before the max-lithiation column)")
        log[-1] += f"; the first study's case ended by: {ended}"
if log:
    with open(dst / "seed.log", "a") as f:
        f.write("\n".join(log) + "\n")
print("\n".join(log) or "seed: nothing new to seed")
EOF
[ -z "${SEED_ONLY:-}" ] || exit 0

# 2. the cases
common=(study discharge --seeds 1-5 --size "$size" --ranks "${RANKS:-2}" --params "$params"
        --lithiation-overshoot "$tol" --fields first-seed --output-every 10 -o "$dst")
run() {  # a SIGTERM ends this script at the stage it stopped
    local log=$here/rerun/instance.log
    "$fem" "${common[@]}" "$@" > "$log" 2>&1 && return 0
    if grep -qs "study stopped by SIGTERM" "$log"; then echo "the re-run was stopped: run this script again"; exit 1; fi
}
run --compositions 60,70,80 --c-rates 0.5,1 || true
run --compositions 80 --c-rates 0.1 || true
"$fem" "${common[@]}" --compositions 60,70,80 --c-rates 0.1,0.5,1 --pictures 0.5,end
"$fem" metrics "$dst" --dod end
"$fem" study statements "$dst"
