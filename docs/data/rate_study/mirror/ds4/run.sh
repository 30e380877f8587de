#!/bin/bash
# The fifth prediction's runs (PREDICTION.md): 24 um 80 wt% seeds 3 and 2 at 0.1C with D_s x 4, one
# after the other on 1 rank each, with the stored size-study cases' settings. From the repository root:
#   bash docs/data/rate_study/mirror/ds4/run.sh
set -e
here=docs/data/rate_study/mirror/ds4
for s in 3 2; do
    src="docs/data/size_study/size24/size_um=24_ncm_wt=80_seed=$s"
    out=$here/seed$s
    [ -f "$out/discharge.json" ] && grep -q '"complete": true' "$out/discharge.json" && continue
    .venv/bin/python -m fem_twin.cli discharge "$src" --settings "$src/c0.1C/settings.json" \
        --params $here/params_ds4.toml -o "$out" --cache $here/cache_seed$s > $here/seed$s.log 2>&1
done
