"""Running the cases of ``fem-twin study discharge``: one ``mpirun ... fem_twin.cli discharge`` per
case (:func:`worker_command`), under a watchdog and a lock, SIGTERM passed on; the rows and the
study's files (:func:`run_study`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

from ..errors import FemTwinError
from ..setup_cache import CACHE_DIRNAME
from .cases import (CASE_SETTINGS, Case, StudySettings, case_structure, check_existing, mpirun_path, no_path_row,
                    read_summary, run_state, structure_path_problem)
from .tables import STUDY_CSV, SUMMARY_CSV, summarise, summary_table, write_study_csv, write_summary_csv

CASE_RECORD = "study_case.json"


RUN_LOG = "run.log"


def worker_command(case: Case, root: Path, st: StudySettings, restart: bool, fields: bool) -> list[str]:
    """Writes the case's ``settings.json``; returns ``mpirun -n RANKS python -m fem_twin.cli discharge
    STRUCTURE --settings RUN/settings.json -o RUN --cache STRUCTURE/.fem_twin_cache`` (``--restart`` or
    ``--overwrite``; the C-rates of a structure share its mesh and conductance factors)."""
    rd = case.run_dir(root)
    rd.mkdir(parents=True, exist_ok=True)
    path = st.discharge_settings(case.c_rate, fields).save(rd / CASE_SETTINGS)
    return [mpirun_path(st), "-n", str(st.ranks), sys.executable, "-m", "fem_twin.cli", "discharge",
            str(case.structure_dir(root)), "--settings", str(path), "-o", str(rd),
            "--cache", str(case.structure_dir(root) / CACHE_DIRNAME), "--restart" if restart else "--overwrite"]


#: the depths of discharge of the numbers and pictures kept of each case with fields
PRODUCT_DODS = "0.5,end"


def product_commands(run_dir: Path) -> list[list[str]]:
    """What a case with fields leaves in its folder besides the XDMF files (which stay out of git,
    so a study that runs across machine restarts keeps these): ``fem-twin metrics`` (field_metrics.json
    and .csv, read by ``fem-twin metrics STUDY`` when the fields are gone) and ``fem-twin render``
    (fields_dod<D>.png) at :data:`PRODUCT_DODS`. Each in a fresh process (h5py, not DOLFINx)."""
    cli = [sys.executable, "-m", "fem_twin.cli"]
    return [cli + ["metrics", str(run_dir), "--dod", PRODUCT_DODS],
            cli + ["render", str(run_dir), "--dod", PRODUCT_DODS]]


def _child_env() -> dict:
    import fem_twin

    env = dict(os.environ, OMP_NUM_THREADS="1", PYVISTA_OFF_SCREEN="true", MPLBACKEND="Agg")
    pkg_root = str(Path(fem_twin.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([pkg_root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


#: the watchdog of a case (own session, survives the study): a byte on the pipe means "the case
#: ended, exit"; end of file (the study died, even by SIGKILL) kills the case's process tree
_WATCHDOG = r"""
import os, signal, sys
fd, root = int(sys.argv[1]), int(sys.argv[2])
try:
    data = os.read(fd, 1)
except OSError:
    data = b""
if data:
    sys.exit(0)
def kids():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
                out.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out
tree, todo, ch = [], [root], kids()
while todo:
    p = todo.pop()
    tree.append(p)
    todo.extend(ch.get(p, []))
for p in tree:
    try:
        os.kill(p, signal.SIGKILL)
    except OSError:
        pass
"""


class _Watchdog:
    """Kills a case's process tree (mpirun, its proxy and ranks, which MPICH puts in sessions of
    their own) when the study dies, however it dies: a helper process in its own session reads a
    pipe that only the study holds open."""

    def __init__(self, pid: int):
        self.w = None
        self.proc = None
        if not Path("/proc").is_dir():  # pragma: no cover - Linux only
            return
        r, self.w = os.pipe()
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(r), str(pid)], pass_fds=(r,),
                                         start_new_session=True, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            os.close(self.w)
            self.w = None
        finally:
            os.close(r)

    def release(self):
        """The case has ended: tell the watchdog to exit without killing anything."""
        if self.w is None:
            return
        try:
            os.write(self.w, b"x")
        except OSError:
            pass
        os.close(self.w)
        self.w = None
        if self.proc is not None:
            self.proc.wait()


LOCK_FILE = "study.lock"


def acquire_lock(run_dir: Path) -> str | None:
    """Lock a case folder for this process (``run_dir/study.lock`` with the pid): None when taken,
    else why not (a live process holds it). A lock of a dead pid (a killed study) is taken over."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(path.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pid = -1
            if pid == os.getpid():
                return None
            if pid > 0 and _alive(pid):
                return f"locked by a running study (pid {pid}, {path})"
            try:  # stale: its owner is gone
                path.unlink()
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        return None
    return f"could not lock {path}"


def release_lock(run_dir: Path):
    path = Path(run_dir) / LOCK_FILE
    try:
        if int(path.read_text().split()[0]) == os.getpid():
            path.unlink()
    except (OSError, ValueError, IndexError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class _Launcher:
    """Runs one command at a time with its output in a log file; a SIGTERM to the study is passed
    on to the running case (which writes a checkpoint and stops) and stops the study after it."""

    def __init__(self):
        self.proc = None
        self.stop = False

    def handler(self, signum, frame):
        self.stop = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def run(self, cmd: list[str], log: Path, append: bool) -> tuple[int, float]:
        t = time.perf_counter()
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a" if append else "w") as fh:
            fh.write(f"$ {' '.join(cmd)}\n")
            fh.flush()
            try:
                self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=_child_env(),
                                             stdin=subprocess.DEVNULL)
            except OSError as exc:
                fh.write(f"could not start: {exc}\n")
                return 127, time.perf_counter() - t
            guard = _Watchdog(self.proc.pid)
            if self.stop:  # SIGTERM arrived while the case was being prepared or started
                self.proc.send_signal(signal.SIGTERM)
            try:
                while True:
                    try:
                        rc = self.proc.wait()
                        break
                    except InterruptedError:  # pragma: no cover - wait is restarted by Python
                        continue
            finally:
                guard.release()
            self.proc = None
        return rc, time.perf_counter() - t


def _last_error_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    lines = [ln for ln in lines if not ln.startswith("$ ")]
    for ln in reversed(lines):
        if "error" in ln.lower() or "Traceback" in ln or "Killed" in ln:
            return ln[:240]
    return lines[-1][:240] if lines else "no output"


def case_row(case: Case, st: StudySettings, run_dir: Path, record: dict | None = None) -> dict:
    """One row of discharge_study.csv from the case's discharge.json and the runner's record
    (``study_case.json``: returncode, wall_s). Capacities in mAh/g NCM and mAh/cm2."""
    s = read_summary(run_dir)
    if record is None:
        try:
            record = json.loads((Path(run_dir) / CASE_RECORD).read_text())
        except (OSError, ValueError):
            record = None
    row = {"ncm_wt": case.ncm_wt, "c_rate": case.c_rate, "seed": case.seed, "size_um": st.size_um,
           "separator_um": st.separator_um, "capacity_mAh_per_g": None, "capacity_mAh_per_cm2": None,
           "complete": False, "ended_by": "", "unknowns": None, "steps": None, "newton": None, "wall_s": None,
           "dead_ncm_fraction": None, "dead_lpscl_fraction": None, "interface_area_um2": None}
    if s is not None:
        steps = s.get("steps") or []
        dead = s.get("dead_clusters") or {}
        row.update(dead_ncm_fraction=dead.get("dead_ncm_fraction"), dead_lpscl_fraction=dead.get("dead_lpscl_fraction"),
                   interface_area_um2=(s.get("mesh") or {}).get("interface_area_um2"))
        row.update(capacity_mAh_per_g=s.get("capacity_mAh_per_g"), capacity_mAh_per_cm2=s.get("capacity_mAh_per_cm2"),
                   complete=bool(s.get("complete")), unknowns=(s.get("mesh") or {}).get("unknowns"),
                   steps=s.get("accepted_rows"), newton=(s.get("solver") or {}).get("newton_iterations"),
                   wall_s=s.get("wall_time_s"))
        if row["complete"]:
            row["ended_by"] = steps[0].get("ended_by", s.get("message", "")) if steps else s.get("message", "")
        else:
            row["ended_by"] = f"failed: {s.get('message', 'incomplete')}"
    if record is not None:
        row["wall_s"] = round(float(record.get("wall_s", 0.0)), 1)
        rc = record.get("returncode", 0)
        if s is None:
            row["ended_by"] = (f"failed (exit {rc}): {record.get('error', '')}" if rc != 0
                               else "failed: the run wrote no discharge.json")
        elif not row["complete"] and s.get("interrupted_at_time_s") is not None:
            row["ended_by"] = (f"interrupted at t = {float(s['interrupted_at_time_s']):.6g} s (checkpoint written; "
                               f"run the study again to continue)")
        elif not row["complete"]:
            row["ended_by"] = f"failed (exit {rc}): {s.get('message', 'incomplete')}"
    if s is None and not row["ended_by"]:
        row["ended_by"] = "not run"
    return row


def run_study(root: Path, cases: list[Case], st: StudySettings, command=worker_command, out=print,
              structure=case_structure, plots: bool = True, path_check=structure_path_problem,
              products=product_commands) -> list[dict]:
    """Run (or reuse) every case; return the CSV rows and write the CSV, summary and plots.

    ``command(case, root, settings, restart, fields) -> argv`` builds each case's command (the
    default is the mpirun worker; tests pass a fake), ``structure(case, root, settings)`` makes
    the structure; ``path_check(case, root)`` says why a structure carries no current (its case is
    recorded as 0 mAh/g without a run) or None; ``plots=False`` skips the PNGs. A case that ends
    complete with fields then runs ``products(run_dir)`` (commands whose output is appended to its
    run.log; a failing one is said there and in the study's output, and loses nothing else); so does
    a reused one with fields and no field_metrics.json (a stop came before its products).
    Failing cases are recorded in the rows, never raised. A SIGTERM stops the study after the
    running case has written its checkpoint (its row says so); run again to continue.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    check_existing(root, cases, st)
    first_seed = min(c.seed for c in cases) if cases else None
    launcher = _Launcher()
    try:
        previous = signal.signal(signal.SIGTERM, launcher.handler)
    except ValueError:  # not the main thread
        previous = None
    rows = []
    held = None  # the case folder this study has locked
    try:
        for k, case in enumerate(cases, 1):
            if held is not None:
                release_lock(held)
                held = None
            if launcher.stop:
                break
            rd = case.run_dir(root)
            head = f"[{k}/{len(cases)}] {case.label}:"
            busy = acquire_lock(rd)
            if busy:  # another study runs this case now: never two runs in one folder
                row = case_row(case, st, rd, {"returncode": -1, "wall_s": 0.0, "error": busy})
                row["complete"], row["ended_by"] = False, f"not run: {busy}"
                out(f"{head} SKIPPED ({busy})", flush=True)
                rows.append(row)
                continue
            held = rd
            state = run_state(rd)
            if state == "complete":
                row = case_row(case, st, rd)
                out(f"{head} {_describe(row)} [reused]", flush=True)
                rows.append(row)
                if (rd / "fields_ncm.xdmf").exists() and not (rd / "field_metrics.json").exists():
                    _make_products(products(rd), launcher, rd / RUN_LOG, head, out)  # (a stop came first)
                continue
            try:
                structure(case, root, st)
            except FemTwinError as exc:
                record = {"returncode": -1, "wall_s": 0.0, "error": f"structure: {exc}"}
                row = case_row(case, st, rd, record)
                row["ended_by"] = f"failed: structure: {exc}"
                out(f"{head} FAILED ({row['ended_by']})", flush=True)
                rows.append(row)
                continue
            why = path_check(case, root)
            if why is not None:  # nothing to run: the piece delivers 0 mAh/g (recorded, counted)
                row = no_path_row(case, st, why)
                out(f"{head} {_describe(row)}", flush=True)
                rows.append(row)
                write_study_csv(root / STUDY_CSV, rows)
                continue
            out(f"{head} running on {st.ranks} rank(s) -> {rd} ... ", end="", flush=True)
            fields = st.fields == "all" or (st.fields == "first-seed" and case.seed == first_seed)
            restart, prev_wall = prepare_attempt(rd, state)
            log = rd / RUN_LOG
            if launcher.stop:  # (SIGTERM during the structure generation)
                break
            rc, wall = launcher.run(command(case, root, st, restart, fields), log, append=restart)
            if restart and rc == 2 and not launcher.stop:  # the checkpoint does not fit: start afresh
                with open(log, "a") as fh:
                    fh.write("study: the restart was refused (exit 2); running the case from the start\n")
                rc, wall2 = launcher.run(command(case, root, st, False, fields), log, append=True)
                wall += wall2
            record = {"returncode": rc, "wall_s": prev_wall + wall, "ranks": st.ranks, "restart": restart,
                      "error": _last_error_line(log) if rc != 0 else ""}
            rd.mkdir(parents=True, exist_ok=True)
            (rd / CASE_RECORD).write_text(json.dumps(record, indent=2))
            row = case_row(case, st, rd, record)
            out(_describe(row) if row["complete"] else
                (f"STOPPED ({row['ended_by']})" if row["ended_by"].startswith("interrupted")
                 else f"FAILED ({row['ended_by']})"), flush=True)
            rows.append(row)
            write_study_csv(root / STUDY_CSV, rows)
            if row["complete"] and fields and (rd / "fields_ncm.xdmf").exists():
                _make_products(products(rd), launcher, log, head, out)
    finally:
        if held is not None:
            release_lock(held)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if launcher.stop:  # keep the complete cases after the stop in the table and the statistics
        seen = {(r["ncm_wt"], r["c_rate"], r["seed"]) for r in rows}
        for case in cases:
            rd = case.run_dir(root)
            row = case_row(case, st, rd) if run_state(rd) == "complete" else None
            if row is not None and (row["ncm_wt"], row["c_rate"], row["seed"]) not in seen:
                rows.append(row)
    finish_study(root, rows, cases, out=out, plots=plots)
    if launcher.stop:
        out(f"study stopped by SIGTERM after {len(rows)} of {len(cases)} cases; run the same command again "
            f"to continue", flush=True)
    return rows


def _make_products(commands: list[list[str]], launcher: _Launcher, log: Path, head: str, out) -> None:
    """Run a finished case's product commands (output appended to its run.log); a failure is said."""
    for cmd in commands:
        if launcher.stop:
            break
        prc, _ = launcher.run(cmd, log, append=True)
        if prc != 0:
            out(f"{head} {' '.join(cmd[1:])} failed (exit {prc}; see {log})", flush=True)


def _describe(row: dict) -> str:
    if not row["complete"]:
        return f"incomplete ({row['ended_by']})"
    wall = f", {row['wall_s']:.0f} s" if row.get("wall_s") is not None else ""
    return (f"{row['capacity_mAh_per_g']:.1f} mAh/g, {row['capacity_mAh_per_cm2']:.4f} mAh/cm2 "
            f"({row['ended_by']}; {row['steps']} steps, {row['newton']} Newton{wall})")


def finish_study(root: Path, rows: list[dict], cases: list[Case], out=print, plots: bool = True) -> list[Path]:
    """Write the CSV, the summary CSV and (``plots``) the Fig. 3 PNGs (a failing plot only warns)."""
    root = Path(root)
    write_study_csv(root / STUDY_CSV, rows)
    summary = summarise(rows)
    write_summary_csv(root / SUMMARY_CSV, summary)
    if summary:
        out(summary_table(summary), flush=True)
    written = [root / STUDY_CSV, root / SUMMARY_CSV]
    if plots:
        try:
            from ..post.discharge_plots import plot_study_curves

            by_case = {(c.ncm_wt, c.c_rate, c.seed): c for c in cases}
            curves = [{**r, "run_dir": by_case[(r["ncm_wt"], r["c_rate"], r["seed"])].run_dir(root)}
                      for r in rows if (r["ncm_wt"], r["c_rate"], r["seed"]) in by_case]
            written += plot_study_curves(root, curves)
        except Exception as exc:  # a plot must not lose the study
            warnings.warn(f"study plots not written: {exc.__class__.__name__}: {exc}", RuntimeWarning,
                          stacklevel=2)
    out("-> " + ", ".join(str(p) for p in written), flush=True)
    return written


def prepare_attempt(rd: Path, state: str) -> tuple[bool, float]:
    """Before a case in ``rd`` runs (again): an earlier attempt's discharge.json is moved to
    discharge.previous.json (it must not pass for this one's); returns (restart: the case was
    interrupted, so it continues from its checkpoint; wall seconds of the earlier attempts)."""
    restart = state == "interrupted"
    if (rd / "discharge.json").exists():
        (rd / "discharge.json").replace(rd / "discharge.previous.json")
    prev_wall = 0.0
    if restart:
        try:
            prev_wall = float(json.loads((rd / CASE_RECORD).read_text()).get("wall_s", 0.0))
        except (OSError, ValueError, TypeError, AttributeError):
            prev_wall = 0.0
        # an attempt that died with its machine left no record (or an older one); its checkpoint
        # knows the time loop of every attempt up to it (not the set-ups, not the steps after it)
        prev_wall = max(prev_wall, checkpoint_time_loop_s(rd / "checkpoint.npz"))
    return restart, prev_wall


def checkpoint_time_loop_s(path: Path) -> float:
    """The time loop (s) a discharge checkpoint had run when it was written (0 when unreadable)."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
        return float(meta.get("time_loop_s", 0.0))
    except Exception:  # missing, truncated, not a zip, no or odd meta: nothing known (never fatal)
        return 0.0
