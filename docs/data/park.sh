#!/usr/bin/env bash
# Keep the studies' restart checkpoints across machine restarts without putting them on main.
#
# The studies under docs/data (size_study, rate_study) keep their light results in git, but a case
# that is running when the machine stops only survives as its checkpoint.npz (~10-30 MB at 50 um),
# which .gitignore keeps off main (a clone for CI must stay small). This script stores those
# checkpoints, and the structures' transport-matching factors (.fem_twin_cache/transport-match-*.json,
# ~1 kB each, ~6 min on 1 rank to make at 50 um), in one commit of their own under the ref
# refs/fem-twin/parked (not a branch: `git clone` does not fetch it), replacing the previous one,
# and puts them back:
#
#   bash docs/data/park.sh save      # before a stop, after the studies wrote their checkpoints
#   bash docs/data/park.sh restore   # after a restart, before the studies run again
#   bash docs/data/park.sh list      # what is parked
#
# save leaves out the checkpoints of complete cases; restore writes a parked checkpoint back only where the case is not complete (its discharge.json
# does not say "complete": true) and no checkpoint exists, so it never overwrites a newer one; the
# study then continues the case from it (fem_twin.study.cases.run_state: 'interrupted'). A parked
# cache file is written back where none is (its name holds the hash of what it was made from).
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
ref=refs/fem-twin/parked
what=${1:-}

case "$what" in
save)
    files=()
    while read -r f; do  # (a complete case's checkpoint is of no further use)
        if [ "$(basename "$f")" = checkpoint.npz ] && [ -f "$(dirname "$f")/discharge.json" ] \
                && grep -q '"complete": true' "$(dirname "$f")/discharge.json"; then
            continue
        fi
        files+=("$f")
    done < <(find docs/data \( -name checkpoint.npz -o -path "*/.fem_twin_cache/transport-match-*.json" \) -type f | sort)
    idx=$(mktemp -u)
    trap 'rm -f "$idx"' EXIT
    if [ ${#files[@]} -eq 0 ]; then
        echo "park: no checkpoint.npz or transport-match-*.json under docs/data; $ref left as it is"
        exit 0
    fi
    GIT_INDEX_FILE=$idx git add -f -- "${files[@]}"
    tree=$(GIT_INDEX_FILE=$idx git write-tree)
    commit=$(git commit-tree "$tree" -m "parked checkpoints $(date -u +%FT%TZ): ${#files[@]} file(s)")
    git update-ref "$ref" "$commit"
    git prune --expire=now 2>/dev/null || true  # drop the checkpoints parked before
    for f in "${files[@]}"; do echo "parked $f ($(du -h "$f" | cut -f1))"; done
    ;;
restore)
    if ! git rev-parse -q --verify "$ref" > /dev/null; then
        echo "park: nothing parked ($ref does not exist)"
        exit 0
    fi
    git ls-tree -r --name-only "$ref" | while read -r f; do
        d=$(dirname "$f")
        if [ -e "$f" ]; then
            echo "kept $f (a checkpoint is there)"
        elif [ "$(basename "$f")" = checkpoint.npz ] && [ -f "$d/discharge.json" ] \
                && grep -q '"complete": true' "$d/discharge.json"; then
            echo "skipped $f (the case is complete)"
        else
            mkdir -p "$d"
            git cat-file blob "$ref:$f" > "$f.tmp" && mv "$f.tmp" "$f"
            echo "restored $f"
        fi
    done
    ;;
list)
    git rev-parse -q --verify "$ref" > /dev/null && git log -1 --format=%s "$ref" && git ls-tree -r -l "$ref" \
        || echo "park: nothing parked"
    ;;
*)
    echo "usage: bash docs/data/park.sh save|restore|list" >&2
    exit 2
    ;;
esac
