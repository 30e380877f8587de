#!/usr/bin/env bash
# Periodic 24 um pieces (issue 19, part 1, second bullet): the size study's 80 wt% 24 um structures
# (seeds 1-3, labels identical to docs/data/size_study/size24's) discharged at 1C on the smooth-periodic
# mesh, everything else as the size study (one rank per case, no fields). Resumable like the size study.
#
#   bash docs/data/size_study/periodic24/run.sh [JOBS]
set -euo pipefail
cd "$(dirname "$0")/../../../.."
fem=${FEM_TWIN:-.venv/bin/fem-twin}
OMP_NUM_THREADS=1 "$fem" study sweep --vary size_um=24 --vary ncm_wt=80 --seeds 1-3 --c-rates 1 \
    --jobs "${1:-1}" --ranks 1 --fields none --mesher smooth-periodic -o docs/data/size_study/periodic24
