#!/usr/bin/env bash
# The size study of issue 19 (docs/rate_study.md, "Size study"): every size's sweep in turn, smallest
# first, then the verdict. Resumable: a finished case is reused, an interrupted one continues from its
# checkpoint (kept in the working tree, not in git), so running this again continues the study.
# Stop it with SIGTERM to the sweep (pkill -TERM -f "study sweep --vary size_um"): the running cases
# write their checkpoints and the script stops without going on to the next size.
#
#   bash docs/data/size_study/run.sh [JOBS]      # JOBS cases at once, one rank each (default 2)
set -euo pipefail
cd "$(dirname "$0")/../../.."
jobs=${1:-2}
fem=${FEM_TWIN:-.venv/bin/fem-twin}
# The 70 wt% seed-1 1C case at 50 um is the full cell of docs/fidelity.md 9h (same design, same seed:
# the labels' sha256 in imports/full70_50um_seed1_1C/labels_sha256.txt is the sweep's structure's, checked
# with `fem-twin study sweep --vary size_um=50 --vary ncm_wt=70 --seeds 1 --no-discharge`; same settings
# but its output every 10 steps and 2 ranks): placed as that case, so the sweep reuses it.
imported=docs/data/size_study/imports/full70_50um_seed1_1C
case50=docs/data/size_study/size50/size_um=50_ncm_wt=70_seed=1/c1C
if [ ! -e "$case50/discharge.json" ]; then
    mkdir -p "$case50"
    cp "$imported"/discharge.json "$imported"/discharge.csv "$imported"/run.log "$imported"/study_case.json "$case50"/
fi
for size in 16 24 32 50; do
    OMP_NUM_THREADS=1 "$fem" study sweep --vary "size_um=$size" --vary ncm_wt=70,80 --seeds 1-3 --c-rates 1,0.1 \
        --jobs "$jobs" --ranks 1 --fields none -o "docs/data/size_study/size$size" || {
        rc=$?
        # exit 1: not every case is complete (stopped, or a case failed: see its sweep.csv);
        # exit 2: the sweep refused its input (the message above says which); fix that first
        if [ "$rc" -eq 1 ]; then echo "size $size um not complete: stopping here (run again to continue)"
        else echo "size $size um: the sweep refused or failed (exit $rc): see the message above"; fi
        exit "$rc"; }
done
"$fem" study size docs/data/size_study/size16 docs/data/size_study/size24 docs/data/size_study/size32 \
    docs/data/size_study/size50 -o docs/data/size_study
