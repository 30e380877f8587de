#!/usr/bin/env bash
# A periodic 50 um cell (issue 19, part 1, second bullet): the size study's 80 wt% seed-1 50 um structure
# (labels identical to docs/data/size_study/size50's, which the rate study also uses) discharged at 1C on
# the smooth-periodic mesh, everything else as the size study (no fields). It settles whether the cut
# 50 um cells' 117 mAh/g or the periodic 24 um pieces' ~125 is the representative 80 wt% 1C capacity
# (docs/rate_study.md, "Periodic 24 um pieces"). One case, ~1.5-2 h on 2 ranks alone; resumable.
#
#   bash docs/data/size_study/periodic50/run.sh [RANKS]      (default 2)
#   python docs/data/size_study/periodic50/compare.py        (the row, once it has run)
set -euo pipefail
cd "$(dirname "$0")/../../../.."
fem=${FEM_TWIN:-.venv/bin/fem-twin}
OMP_NUM_THREADS=1 "$fem" study sweep --vary size_um=50 --vary ncm_wt=80 --seeds 1 --c-rates 1 \
    --jobs 1 --ranks "${1:-2}" --fields none --mesher smooth-periodic -o docs/data/size_study/periodic50
