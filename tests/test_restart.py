"""Checkpoint and restart of a discharge run (issue 7, "Long runs").

A tiny electrode (4 x 4 x 6 voxels + 2 um separator, ~550 unknowns) through a discharge and a
rest. A run stopped as SIGTERM would stop it and restarted from its checkpoint must give the
uninterrupted run's CSV: the same rows and times, voltages to 1e-6 V (on the same partition they
are bitwise equal). The test marked ``mpi`` also runs under ``mpirun -n 2 python -m pytest -m mpi``;
one serial test sends a real SIGTERM to a 2-rank ``mpirun`` and restarts on 1 rank. The 16-rank
check (``-m slow``) spawns ``mpirun -n 16`` (oversubscribed; half the ranks own no cell).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from fem_twin import phases
from fem_twin._dolfinx import MPI
from fem_twin.cli import main
from fem_twin.errors import InputError
from fem_twin.fem.checkpoint import SIGTERM_MESSAGE, CheckpointOptions
from fem_twin.fem.discharge_run import run_discharge
from fem_twin.fem.stepping import LoopState, SteppingOptions
from fem_twin.microstructure.image import VoxelImage
from fem_twin.parameters.cell import ParameterSet
from fem_twin.protocol import Protocol

PROTOCOL = "discharge 2C for 300 s; rest 2 min"
DT, DT_MAX = 20.0, 60.0
TOL_V = 1e-6
MPIRUN = Path(sys.executable).with_name("mpirun")


def electrode() -> np.ndarray:
    """4 x 4 x 6 voxels (1 um): an NCM column from the collector into LPSCl, one binder voxel."""
    lab = np.full((4, 4, 6), phases.LPSCL, np.uint8)
    lab[1:3, 1:3, 1:6] = phases.NCM
    lab[0, 3, 2] = phases.NBR
    return lab


def _run(comm, out, protocol=PROTOCOL, params=None, **kw):
    return run_discharge(electrode(), 1.0, out, params=params, protocol=Protocol.parse(protocol), separator_um=2.0,
                         stepping=SteppingOptions(dt_initial_s=DT, dt_max_s=DT_MAX), comm=comm, quiet=True,
                         write_fields=False, **kw)


_REFERENCE = {}


@pytest.fixture(scope="module")
def reference():
    """The uninterrupted run on a communicator (cached per size): ``reference(comm)``."""
    dirs = []

    def get(comm):
        if comm.size not in _REFERENCE:
            out = comm.bcast(tempfile.mkdtemp(prefix="fem_twin_ref_") if comm.rank == 0 else None, root=0)
            dirs.append((comm, out))
            res = _run(comm, out, checkpoint=CheckpointOptions(every=0, on_sigterm=False))
            assert res.complete, res.message
            res.outdir = Path(out)
            _REFERENCE[comm.size] = res
        return _REFERENCE[comm.size]

    yield get
    for comm, d in dirs:
        comm.Barrier()
        if comm.rank == 0:
            shutil.rmtree(d, ignore_errors=True)
    _REFERENCE.clear()


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _compare(rows, ref_rows) -> float:
    """Same number of rows and times; returns max |dV|."""
    assert len(rows) == len(ref_rows)
    t, tr = np.array([float(r["time_s"]) for r in rows]), np.array([float(r["time_s"]) for r in ref_rows])
    assert np.max(np.abs(t - tr)) <= 1e-9 * max(tr.max(), 1.0)
    v, vr = np.array([float(r["voltage_V"]) for r in rows]), np.array([float(r["voltage_V"]) for r in ref_rows])
    return float(np.max(np.abs(v - vr)))


@pytest.mark.mpi
def test_stop_and_restart_give_the_uninterrupted_curve(reference, shared_dir):
    """Stop mid-step, restart and stop at the end of the discharge step (a step boundary),
    restart to the end: the result equals the uninterrupted run's."""
    comm = MPI.COMM_WORLD
    ref = reference(comm)
    n1 = sum(1 for r in ref.rows if r["step"] == 0 and r["dt_s"] > 0)  # accepted steps in step 1
    assert n1 > 5
    ck = shared_dir / "checkpoint.npz"

    a = _run(comm, shared_dir, checkpoint=CheckpointOptions(every=2, stop_after=3))
    assert not a.complete and a.message == SIGTERM_MESSAGE
    assert a.summary["interrupted_at_time_s"] == ref.rows[3]["time_s"]  # row 0: the start of step 1
    assert len(a.rows) == 4 and a.summary["checkpoint"]["written"] == 2  # at 2 and at the stop
    if comm.rank == 0:
        assert ck.is_file() and not (shared_dir / "checkpoint.npz.tmp").exists()
        assert json.loads((shared_dir / "discharge.json").read_text())["complete"] is False
    comm.Barrier()

    b = _run(comm, shared_dir, checkpoint=CheckpointOptions(every=2, restart=True, stop_after=n1 - 3))
    assert not b.complete and b.message == SIGTERM_MESSAGE
    assert b.summary["restarted_from"]["time_s"] == a.summary["interrupted_at_time_s"]
    assert b.summary["interrupted_at_time_s"] == pytest.approx(300.0)  # the discharge step has just ended
    assert b.summary["steps"] == []  # ... but its summary is written when the run goes on

    c = _run(comm, shared_dir, checkpoint=CheckpointOptions(every=2, restart=True))
    assert c.complete, c.message
    assert c.summary["restarted_from"]["time_s"] == pytest.approx(300.0)
    assert c.summary["restarted_from"]["restarts"] == 2
    assert [s["ended_by"] for s in c.summary["steps"]] == [s["ended_by"] for s in ref.summary["steps"]]
    assert c.summary["capacity_mAh_per_g"] == pytest.approx(ref.summary["capacity_mAh_per_g"], rel=1e-9)
    assert c.summary["solver"]["newton_iterations"] == ref.summary["solver"]["newton_iterations"]
    dv = _compare(c.rows, ref.rows)
    assert dv <= TOL_V

    if comm.rank == 0:
        rows, ref_rows = _csv(shared_dir / "discharge.csv"), _csv(ref.outdir / "discharge.csv")
        assert _compare(rows, ref_rows) <= TOL_V
        s = json.loads((shared_dir / "discharge.json").read_text())
        assert s["complete"] and s["restarted_from"]["time_s"] == pytest.approx(300.0)
        print(f"\nrestart on {comm.size} rank(s): max |dV| = {dv:.3g} V over {len(rows)} rows")


def test_loop_state_round_trip():
    st = LoopState(step_index=1, t_s=12.5, dt_s=3.0, accepted=7, ended=True, reason="duration",
                   steps=[{"step": 1, "charge_C": 1e-9}])
    assert LoopState.from_dict(json.loads(json.dumps(st.to_dict()))) == st


def _sleepy_cli_script(structure: Path, out: Path, marker: Path) -> str:
    """The CLI on the test case, slowed down (0.3 s per row) once 3 rows are written, with a
    marker file then, so that the SIGTERM surely arrives mid-run."""
    return textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        import fem_twin.fem.discharge_io as io
        from fem_twin.cli import main

        add = io.RunFiles.add
        def slow_add(self, row):
            add(self, row)
            if len(self.rows) >= 3:
                if self.comm.rank == 0:
                    Path({str(marker)!r}).touch()
                time.sleep(0.3)
        io.RunFiles.add = slow_add
        sys.exit(main(["discharge", {str(structure)!r}, "-o", {str(out)!r}, "--separator", "2",
                       "--protocol", {PROTOCOL!r}, "--dt", "{DT}", "--dt-max", "{DT_MAX}",
                       "--no-fields", "-q", "--checkpoint-every", "0", "--mesher", "voxel"]))
    """)


@pytest.mark.skipif(not MPIRUN.exists(), reason="no mpirun next to the Python executable")
def test_sigterm_to_a_two_rank_run_then_restart_on_one_rank(reference, tmp_path, capsys):
    """A real SIGTERM to ``mpirun -n 2 fem-twin discharge``: the ranks agree, write the
    checkpoint and exit 1; ``--restart`` on 1 rank cuts the CSV back to the checkpoint time and
    gives the 1-rank run's curve."""
    ref = reference(MPI.COMM_SELF)
    VoxelImage(electrode(), 1.0).save(tmp_path / "s")
    out, marker = tmp_path / "run", tmp_path / "marker"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([str(MPIRUN), "-n", "2", sys.executable, "-c", _sleepy_cli_script(tmp_path / "s", out,
                                                                                               marker)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        t0 = time.time()
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.time() - t0 < 240, "the 2-rank run did not start"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, err[-3000:]
    assert SIGTERM_MESSAGE in err and "--restart" in err, err[-3000:]
    s = json.loads((out / "discharge.json").read_text())
    assert s["complete"] is False and s["message"] == SIGTERM_MESSAGE and s["ranks"] == 2
    assert 0 < s["interrupted_at_time_s"] < ref.rows[-1]["time_s"]
    n_before = len(_csv(out / "discharge.csv"))
    assert 3 <= n_before < len(ref.rows)
    # as if the run had been killed hard after its checkpoint: the CSV holds rows beyond it
    with open(out / "discharge.csv", "a") as fh:
        fh.write("99999,0,3.9,1e-11,1,1,0.5,1,1,1,1e-11,1e-11\n")

    code = main(["discharge", str(tmp_path / "s"), "-o", str(out), "--separator", "2", "--protocol", PROTOCOL,
                 "--dt", str(DT), "--dt-max", str(DT_MAX), "--no-fields", "-q", "--restart",
                 "--mesher", "voxel"])
    assert code == 0, capsys.readouterr().err
    s = json.loads((out / "discharge.json").read_text())
    assert s["complete"] and s["ranks"] == 1
    assert s["restarted_from"]["checkpoint_ranks"] == 2
    assert s["restarted_from"]["time_s"] == pytest.approx(float(_csv(out / "discharge.csv")[n_before - 1]["time_s"]))
    dv = _compare(_csv(out / "discharge.csv"), ref.rows)
    print(f"\nSIGTERM on 2 ranks at t = {s['restarted_from']['time_s']:g} s, restart on 1 rank: "
          f"max |dV| = {dv:.3g} V")
    assert dv <= TOL_V


def test_checkpoint_of_another_run_is_refused(tmp_path, capsys):
    comm = MPI.COMM_SELF
    with pytest.raises(InputError, match="checkpoint.npz.*no such file"):
        _run(comm, tmp_path, checkpoint=CheckpointOptions(restart=True))
    a = _run(comm, tmp_path, checkpoint=CheckpointOptions(every=0, stop_after=1))
    assert a.message == SIGTERM_MESSAGE and (tmp_path / "checkpoint.npz").is_file()
    with pytest.raises(InputError, match=r"checkpoint\.npz.*protocol"):
        _run(comm, tmp_path, protocol="discharge 1C for 300 s; rest 2 min",
             checkpoint=CheckpointOptions(restart=True))
    params = ParameterSet()
    with pytest.raises(InputError, match=r"checkpoint\.npz.*parameters"):
        _run(comm, tmp_path, params=params.with_overrides({"k_ncm": 2 * params.k_ncm}),
             checkpoint=CheckpointOptions(restart=True))
    # the command line: one line, exit code 2 (another structure)
    lab = electrode()
    lab[0, 0, 5] = phases.NCM
    VoxelImage(lab, 1.0).save(tmp_path / "s")
    capsys.readouterr()
    code = main(["discharge", str(tmp_path / "s"), "-o", str(tmp_path), "--separator", "2", "--protocol", PROTOCOL,
                 "--dt", str(DT), "--dt-max", str(DT_MAX), "--no-fields", "-q", "--restart",
                 "--mesher", "voxel"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "checkpoint.npz" in err[0] and "structure" in err[0], err
    # not a checkpoint at all
    (tmp_path / "checkpoint.npz").write_bytes(b"not a zip file")
    with pytest.raises(InputError, match=r"checkpoint\.npz.*unreadable"):
        _run(comm, tmp_path, checkpoint=CheckpointOptions(restart=True))


def test_a_checkpoint_that_cannot_be_written_does_not_end_the_run(tmp_path, capsys):
    (tmp_path / "checkpoint.npz.tmp").mkdir()  # rank 0 cannot open its temporary file
    res = _run(MPI.COMM_SELF, tmp_path, checkpoint=CheckpointOptions(every=2, stop_after=3))
    assert res.message.startswith("interrupted (SIGTERM); could not write the checkpoint")
    assert res.summary["checkpoint"]["failed"] == 2 and res.summary["checkpoint"]["written"] == 0
    assert len(res.rows) == 4 and not (tmp_path / "checkpoint.npz").exists()
    assert "warning: could not write the checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_sixteen_ranks_give_the_one_rank_curve(reference, tmp_path, request):
    """``mpirun -n 16`` (oversubscribed on this machine; the mesh has 8 voxel layers, so half of
    the ranks own no cell) reproduces the 1-rank curve to 1e-6 V. Minutes on 2 cores: only with
    ``-m slow``."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("spawns mpirun -n 16 (minutes on 2 cores): run with -m slow")
    if not MPIRUN.exists():
        pytest.skip("no mpirun next to the Python executable")
    ref = reference(MPI.COMM_SELF)
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from fem_twin._dolfinx import MPI
        from test_restart import _run
        comm = MPI.COMM_WORLD
        res = _run(comm, {str(tmp_path / "run")!r})
        if comm.rank == 0:
            json.dump({{"complete": res.complete, "message": res.message, "rows": res.rows,
                       "ranks": comm.size}}, open({str(tmp_path / "rows.json")!r}, "w"))
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    out = subprocess.run([str(MPIRUN), "-n", "16", sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=3600)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads((tmp_path / "rows.json").read_text())
    assert got["complete"] and got["ranks"] == 16, got["message"]
    dv = _compare(got["rows"], ref.rows)
    print(f"\n16 ranks vs 1 rank: max |dV| = {dv:.3g} V over {len(ref.rows)} rows "
          f"({time.perf_counter() - t0:.0f} s)")
    assert dv <= TOL_V


pytestmark = pytest.mark.filterwarnings("ignore:No artists with labels:UserWarning")


@pytest.mark.mpi
def test_a_spent_wall_time_budget_stops_like_sigterm_and_restarts(reference, shared_dir):
    """``max_wall_s`` (``--max-wall-time``): once spent, a checkpoint at the next accepted step and an
    incomplete, resumable run (the ranks agree even when their clocks do not); the restart gives the
    uninterrupted curve."""
    comm = MPI.COMM_WORLD
    ref = reference(comm)
    a = _run(comm, shared_dir, checkpoint=CheckpointOptions(every=0, max_wall_s=1e-9))
    assert not a.complete and a.message == "interrupted (wall-time limit 1e-09 s), checkpoint written"
    assert a.summary["interrupted_at_time_s"] == ref.rows[1]["time_s"]  # after the first accepted step
    assert a.summary["checkpoint"]["written"] == 1
    b = _run(comm, shared_dir, checkpoint=CheckpointOptions(every=0, restart=True))
    assert b.complete, b.message
    assert _compare(_csv(shared_dir / "discharge.csv"), _csv(ref.outdir / "discharge.csv")) <= TOL_V
    with pytest.raises(InputError, match="--max-wall-time"):
        CheckpointOptions(max_wall_s=0)


def test_restart_inside_a_cv_hold_and_a_current_profile(tmp_path):
    """Stopped inside a potentiostatic hold and again inside a current profile, then restarted
    each time: the curve (voltage and current) is the uninterrupted run's (issue 18: restart
    mid-profile). Checkpoints carry the control state (current or voltage) and the step's clock."""
    comm = MPI.COMM_SELF
    prof = tmp_path / "drive.csv"
    prof.write_text("time_s,c_rate\n0,1\n60,-0.5\n100,2\n160,\n")
    proto = f"discharge 2C for 120 s; hold at 4.0 V for 150 s; profile {prof}"
    ref = _run(comm, tmp_path / "ref", protocol=proto, checkpoint=CheckpointOptions(every=0, on_sigterm=False))
    assert ref.complete, ref.message
    steps = [r["step"] for r in ref.rows]
    first_hold, first_prof = steps.index(1), steps.index(2)
    assert first_prof - first_hold > 3 and len(steps) - first_prof > 4
    hold_i = [r["current_A"] for r in ref.rows if r["step"] == 1]
    assert max(hold_i) > 1.5 * min(hold_i) > 0  # (the hold's current decays: a real CV step)
    out = tmp_path / "run"
    a = _run(comm, out, protocol=proto, checkpoint=CheckpointOptions(every=0, stop_after=first_hold + 2))
    assert not a.complete and a.rows[-1]["step"] == 1  # stopped inside the hold
    b = _run(comm, out, protocol=proto, checkpoint=CheckpointOptions(every=0, restart=True,
                                                                     stop_after=first_prof + 2 - len(a.rows) + 1))
    assert not b.complete and b.rows[-1]["step"] == 2  # stopped inside the profile
    c = _run(comm, out, protocol=proto, checkpoint=CheckpointOptions(every=0, restart=True))
    assert c.complete, c.message
    assert _compare(c.rows, ref.rows) <= TOL_V
    i, ir = np.array([r["current_A"] for r in c.rows]), np.array([r["current_A"] for r in ref.rows])
    assert np.max(np.abs(i - ir)) <= 1e-6 * np.max(np.abs(ir))
    assert [s["ended_by"] for s in c.summary["steps"]] == [s["ended_by"] for s in ref.summary["steps"]]
