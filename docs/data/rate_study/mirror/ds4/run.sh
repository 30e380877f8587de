#!/bin/bash
# The fifth prediction's runs (PREDICTION.md): 24 um 80 wt% seeds 3 and 2 at 0.1C, one after the other
# on 1 rank each, with the stored size-study cases' settings. From the repository root:
#   bash docs/data/rate_study/mirror/ds4/run.sh            # D_s x 4 (params_ds4.toml) -> seed<S>/
#   bash docs/data/rate_study/mirror/ds4/run.sh baseline   # D_s as stored, today's code -> baseline_seed<S>/
set -e
here=docs/data/rate_study/mirror/ds4
mode=${1:-ds4}
case $mode in
    ds4) prefix=seed; params=(--params $here/params_ds4.toml) ;;
    baseline) prefix=baseline_seed; params=() ;;
    *) echo "run.sh: expected 'ds4' or 'baseline', got '$mode'" >&2; exit 2 ;;
esac
for s in 3 2; do
    src="docs/data/size_study/size24/size_um=24_ncm_wt=80_seed=$s"
    out=$here/$prefix$s
    [ -f "$out/discharge.json" ] && grep -q '"complete": true' "$out/discharge.json" && continue
    .venv/bin/python -m fem_twin.cli discharge "$src" --settings "$src/c0.1C/settings.json" "${params[@]}" \
        -o "$out" --cache $here/cache_seed$s > $here/$prefix$s.log 2>&1
done
