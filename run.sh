#!/usr/bin/env bash
# fem_twin: set up everything from nothing, then run the main job or the tests.
#   bash run.sh main    # set up, then the default discharge demo on 2 ranks (see README)
#   bash run.sh structure  # set up, then generate + analyse the default electrode
#   bash run.sh test    # set up, then the whole test suite: serial, mpirun -n 2, the 16-rank check
# A second run skips the set-up steps that are already done.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"

find_python() {
    local c v
    for c in "${FEM_TWIN_PYTHON:-}" python3.12 python3.13 python3; do
        [ -n "$c" ] || continue
        if command -v "$c" >/dev/null 2>&1; then
            v=$("$c" -c 'import sys; print(int(sys.version_info >= (3, 12)))' 2>/dev/null || echo 0)
            if [ "$v" = 1 ]; then command -v "$c"; return; fi
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        local root; root=$(pyenv root)
        for c in "$root"/versions/3.12*/bin/python "$root"/versions/3.13*/bin/python; do
            [ -x "$c" ] && { echo "$c"; return; }
        done
    fi
    echo "run.sh: no Python >= 3.12 found (on PATH or through pyenv); set FEM_TWIN_PYTHON" >&2
    return 1
}

setup() {
    local stamp="$VENV/.fem_twin-installed" want
    want=$(cat pyproject.toml | sha256sum | cut -c1-16)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        local py; py=$(find_python)
        echo "run.sh: creating $VENV with $py"
        "$py" -m venv "$VENV"
    fi
    echo "run.sh: installing fem_twin and its dependencies into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -m pip install -q -e ".[pip,test]" 2>&1 | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c "import fem_twin, dolfinx_solver, dolfinx, porespy" \
        || { echo "run.sh: installation failed" >&2; exit 1; }
    echo "$want" > "$stamp"
}

export OMP_NUM_THREADS=1 PYVISTA_OFF_SCREEN=true MPLBACKEND=Agg
cmd=${1:-main}
shift || true
case "$cmd" in
    setup) setup ;;
    main)
        setup
        "$VENV/bin/mpirun" -n 2 "$VENV/bin/python" demos/discharge.py "$@"
        ;;
    structure)
        setup
        "$VENV/bin/python" demos/structure.py "$@"
        ;;
    test)
        setup
        echo "== serial tests =="
        "$VENV/bin/python" -m pytest -q tests "$@"
        echo "== tests under mpirun -n 2 (marker mpi) =="
        "$VENV/bin/mpirun" -n 2 "$VENV/bin/python" -m pytest -q -m mpi tests "$@"
        echo "== the tiny case on 16 ranks (marker slow; mpirun -n 16, oversubscribed) =="
        "$VENV/bin/python" -m pytest -q -m slow tests "$@"
        ;;
    *) echo "usage: bash run.sh [main|test|structure|setup]" >&2; exit 2 ;;
esac
