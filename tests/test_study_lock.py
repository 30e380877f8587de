"""Studies (issue 16): a case's processes die with the study (even after SIGKILL), and a case folder
is locked while a study runs it (a lock of a dead pid is taken over)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from fem_twin.commands.study_discharge import LOCK_FILE, _alive, acquire_lock, case_list, release_lock, run_study

sys.path.insert(0, str(Path(__file__).parent))
from test_study_discharge import ST, fake, no_structure  # noqa: E402,F401  (fixture)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_lock_is_exclusive_and_a_stale_lock_is_taken_over(tmp_path):
    rd = tmp_path / "case"
    assert acquire_lock(rd) is None
    assert (rd / LOCK_FILE).read_text().split()[0] == str(os.getpid())
    release_lock(rd)
    assert not (rd / LOCK_FILE).exists()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (rd / LOCK_FILE).write_text(f"{other.pid}\n")
        why = acquire_lock(rd)
        assert why is not None and f"pid {other.pid}" in why
    finally:
        other.kill()
        other.wait()
    (rd / LOCK_FILE).write_text(f"{_dead_pid()}\n")
    assert acquire_lock(rd) is None  # stale: taken over
    assert (rd / LOCK_FILE).read_text().split()[0] == str(os.getpid())


def test_a_locked_case_is_not_run_twice(tmp_path, fake, capsys):
    root = tmp_path / "study"
    cases = case_list([60], [1.0], [1, 2])
    busy = cases[0].run_dir(root)
    busy.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (busy / LOCK_FILE).write_text(f"{other.pid}\n")
        rows = run_study(root, cases, ST, command=fake, structure=no_structure, plots=False)
    finally:
        other.kill()
        other.wait()
    assert [c for c, _, _ in fake.calls] == [cases[1]]  # only the free case ran
    assert not rows[0]["complete"] and "locked by a running study" in rows[0]["ended_by"]
    assert rows[1]["complete"]
    assert not (cases[1].run_dir(root) / LOCK_FILE).exists()  # released after the case
    assert (busy / LOCK_FILE).exists()  # someone else's lock is left alone


def test_sigkill_of_the_study_kills_its_case(tmp_path):
    """The case (here a sleeping process standing in for mpirun) must not outlive a SIGKILLed study,
    and the rerun takes over the dead study's lock."""
    marker = tmp_path / "child.pid"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pathlib import Path
        from fem_twin.commands.study_discharge import case_list, run_study
        from test_study_discharge import ST, no_structure
        child = "import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
        run_study(Path({str(tmp_path / 'study')!r}), case_list([60], [1.0], [1]), ST,
                  command=lambda *a: [sys.executable, "-c", child], structure=no_structure,
                  path_check=lambda c, r: None, plots=False)
    """)
    study = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).parent.parent)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))))
    try:
        t0 = time.time()
        while not (marker.exists() and marker.read_text()) and time.time() - t0 < 60:
            time.sleep(0.1)
        child = int(marker.read_text())
        assert _alive(child)
        os.kill(study.pid, signal.SIGKILL)
        study.wait()
        t0 = time.time()
        while _alive(child) and time.time() - t0 < 10:
            time.sleep(0.1)
        assert not _alive(child), "the case outlived the study"
    finally:
        if study.poll() is None:
            study.kill()
    rd = case_list([60], [1.0], [1])[0].run_dir(tmp_path / "study")
    assert (rd / LOCK_FILE).exists()  # left by the killed study ...
    assert acquire_lock(rd) is None  # ... and taken over
