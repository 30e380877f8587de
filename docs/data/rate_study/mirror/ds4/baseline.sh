#!/bin/bash
# The fifth prediction's baselines with today's code (D_s as stored): the same two cases as run.sh
# without --params, so the gap at D_s and at 4 D_s come from one code version. From the repository root:
#   bash docs/data/rate_study/mirror/ds4/baseline.sh
set -e
here=docs/data/rate_study/mirror/ds4
for s in 3 2; do
    src="docs/data/size_study/size24/size_um=24_ncm_wt=80_seed=$s"
    out=$here/baseline_seed$s
    [ -f "$out/discharge.json" ] && grep -q '"complete": true' "$out/discharge.json" && continue
    .venv/bin/python -m fem_twin.cli discharge "$src" --settings "$src/c0.1C/settings.json" \
        -o "$out" --cache $here/cache_seed$s > $here/baseline_seed$s.log 2>&1
done
