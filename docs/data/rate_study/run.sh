#!/usr/bin/env bash
# Issue 19 from end to end, resumable: run it again after any stop and it continues where it was.
#
#   1. the size study (docs/data/size_study/run.sh): 16, 24, 32, 50 um x 70/80 wt% x seeds 1-3 x 1C/0.1C,
#      then its verdict (docs/data/size_study/size_study.json: representative_size_um);
#   2. the calibration at that size: initial_lithiation such that the 60 wt% seed-1 electrode gives
#      133.3 mAh/g NCM at 0.1C (docs/calibration.md: 20 mAh/g = 15 % in the seed's Fig. 3 text), on 2 ranks;
#   3. the seed's 45 cases (60/70/80 wt% x 0.1/0.5/1C x seeds 1-5) at that size with the calibrated
#      parameters, one case at a time on 2 ranks (JOBS=2 RANKS=1: two instances of the same study,
#      each skipping the case the other holds, study.lock), fields for seed 1; then once more to
#      write the tables, Fig. 3 and the pictures;
#   4. the field metrics (Figs. 4-6 as numbers) and the table of the seed's statements.
#
#   bash docs/data/rate_study/run.sh            # everything; stops (exit != 0) at the first stage not complete
#   SIZE=24 bash docs/data/rate_study/run.sh    # skip stage 1: use this size
#
# Why one case on 2 ranks: on this 2-core machine the same 50 um case (60 wt% seed 1, 0.1C) took
# 1,346 s on 2 ranks alone and 3,790 s on 1 rank beside another 1-rank case (0.40 against 0.13 s
# per preconditioner application: two 7.5 GB runs share the memory bandwidth), so two at a time
# finish a case every ~1,950 s, one on 2 ranks every ~1,350 s; the answers agree to 4e-10 mAh/g.
#
# Outputs: docs/data/rate_study/calibration/ (calibration.json, calibrated_parameters.toml, .png) and
# docs/data/rate_study/study/ (discharge_study.csv, _summary.csv, the two Fig. 3 PNGs, field_metrics.csv,
# seed_statements.md).
#
# A machine restart loses what .gitignore keeps off git, among it the running cases' checkpoints:
# `bash docs/data/park.sh save` after a stop keeps them (in a ref of their own, not on main), and this
# script puts them back first (park.sh restore), so the stopped cases continue.
#
# Stop: `pkill -TERM -f "study sweep|study discharge|cli calibrate"` in any stage: the sweep, the
# studies and the calibration pass SIGTERM on, the running cases write checkpoints, and this script ends
# at the stage's non-zero exit. (SIGTERM to this script itself is handled in stage 3 only: in stages 1-2
# bash would end and leave the running command going.) A changed SIZE keeps the structures and the
# calibration already made: remove docs/data/rate_study/study and .../calibration first.
set -euo pipefail
cd "$(dirname "$0")/../../.."
fem=${FEM_TWIN:-.venv/bin/fem-twin}
py=${PYTHON:-.venv/bin/python}
mpirun=${MPIRUN:-.venv/bin/mpirun}
here=${RATE_STUDY_DIR:-docs/data/rate_study}
study=$here/study
export OMP_NUM_THREADS=1
bash docs/data/park.sh restore

# 1. the representative size
if [ -z "${SIZE:-}" ]; then
    bash docs/data/size_study/run.sh 2
    SIZE=$("$py" -c "import json; print(f\"{json.load(open('docs/data/size_study/size_study.json'))['representative_size_um']:g}\")")
fi
echo "rate study at ${SIZE} x ${SIZE} um"

# the structures, by the study's own function (made here one at a time, so the two instances below
# never generate the same one at once)
"$py" -c "
from pathlib import Path
from fem_twin.study.cases import ensure_structure
for w in (60, 70, 80):
    for s in range(1, 6):
        ensure_structure(Path('$study'), w, s, (float($SIZE), float($SIZE)), 0.5)
"

# 2. the calibration (one number, stated)
cal=$here/calibration
"$mpirun" -n 2 "$py" -m fem_twin.cli calibrate "$study/ncm60_seed1" --target-capacity 133.3 --c-rate 0.1 \
    --cutoff 3.0 --parameter initial_lithiation --bracket 0.27,0.6 --tol 0.5 -o "$cal" \
    --source "Park et al. 2020 (Adv. Energy Mater. 10, 2001563), Fig. 3a-c text: at 0.1C the 60 wt% electrode delivers 20 mAh/g (15 %) more than the 80 wt% one, i.e. 20/0.15 = 133.3 mAh/g NCM; fitted on the ${SIZE} um seed-1 piece"
params=$cal/calibrated_parameters.toml

# 3. the 45 cases, then the tables and pictures. With JOBS=2 each instance exits 1 when it skipped
# the cases the other one held, so their exit codes say nothing; a stop (SIGTERM to this script, or to
# the 'study discharge' processes) is told by the instances' logs, and ends the script here.
args=(study discharge --compositions 60,70,80 --c-rates 0.1,0.5,1 --seeds 1-5 --size "$SIZE" --ranks "${RANKS:-2}"
      --params "$params" --fields first-seed --output-every 10 -o "$study")
p1= p2=
trap 'kill -TERM $p1 $p2 2>/dev/null; wait; exit 143' TERM INT
rm -f "$here/instance1.log" "$here/instance2.log"
"$fem" "${args[@]}" > "$here/instance1.log" 2>&1 & p1=$!
if [ "${JOBS:-1}" = 2 ]; then
    sleep "${STAGGER_S:-60}"  # (the first instance locks its case first)
    "$fem" "${args[@]}" > "$here/instance2.log" 2>&1 & p2=$!
fi
wait $p1 || true
[ -z "$p2" ] || wait $p2 || true
trap - TERM INT
if grep -qs "study stopped by SIGTERM" "$here/instance1.log" "$here/instance2.log"; then
    echo "the study was stopped: run this script again to continue"; exit 1
fi
# one more pass: runs what is still incomplete (e.g. a case that failed in both instances) and writes
# discharge_study.csv, the summary, Fig. 3 and the pictures from all 45 cases; exit 1 if any is incomplete
"$fem" "${args[@]}" --pictures 0.5,end

# 4. Figs. 4-6 as numbers, and the seed's statements next to ours
"$fem" metrics "$study" --dod end
"$fem" study statements "$study"
