"""Running a design sweep (``fem-twin study sweep``): the structure stage of every design point and
seed (:mod:`.sweep_worker`, one process each), then the discharge of every case (``mpirun -n RANKS
python -m fem_twin.cli discharge STRUCTURE --settings RUN/settings.json``, as ``study discharge``
does), up to ``jobs`` processes at a time, each under the discharge study's watchdog, lock and log;
a SIGTERM is passed on to the running processes and stops the sweep after them.

Resumable: a structure stage only makes its missing files; a complete discharge is reused, an
interrupted one continues with ``--restart``, a failed one runs again. Files made with other
settings (another design in ``structure.npz``, a finished discharge of other parameters, protocol,
separator or mesher) are refused before anything runs.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..errors import FemTwinError, InputError
from ..setup_cache import CACHE_DIRNAME
from .cases import CASE_SETTINGS, StudySettings, read_summary, run_state, settings_mismatch
from .runner import (CASE_RECORD, RUN_LOG, _Launcher, _last_error_line, acquire_lock, case_row, prepare_attempt,
                     release_lock)
from .sweep_cases import SweepCase
from .sweep_keys import build_design, parameter_overrides
from .sweep_worker import STRUCTURE_JOB, conductivity_file

STRUCTURE_LOG = "structure.log"
CASE_PARAMS = "params.toml"
#: written into a case folder whose structure carries no current (the case counts as 0 mAh/g)
NO_PATH_FILE = "no_current_path.json"


@dataclass(frozen=True)
class SweepSettings:
    """What every case of a sweep shares: the discharge study's settings (``study``; its size,
    voxel and separator are the defaults the keys override), the ``--set`` values (``fixed``,
    ((key, value), ...)), whether cases are discharged and their conductivity computed (``method``
    fv or p1), and how many processes run at a time (``jobs``; each discharge on ``study.ranks``)."""

    study: StudySettings = StudySettings()
    fixed: tuple = ()
    discharge: bool = True
    conductivity: bool = False
    method: str = "fv"
    jobs: int = 1

    def values(self, case: SweepCase) -> dict:
        """Every set key of ``case``: the study's size and voxel, ``--set``, then the varied keys."""
        base = {"size_x_um": self.study.size_x_um, "size_y_um": self.study.size_y_um,
                "voxel_um": self.study.voxel_um, "separator_um": self.study.separator_um}
        v = {**dict(self.fixed), **case.values}
        if "size_um" in v:  # (size_x_um / size_y_um alone replace their own extent)
            base.pop("size_x_um"), base.pop("size_y_um")
        return {**base, **v}

    def design(self, case: SweepCase):
        """The case's :class:`~fem_twin.design.ElectrodeDesign` (an InputError names the case)."""
        try:
            return build_design(self.values(case))
        except InputError as exc:
            raise InputError(f"{case.label}: {exc.field}", exc.expected, exc.got) from None

    def parameters(self, case: SweepCase):
        """The case's :class:`~fem_twin.parameters.cell.ParameterSet`: ``--params`` (or the
        defaults) with the parameter keys set."""
        over = parameter_overrides(self.values(case))
        try:
            return self.study.params().with_overrides(over)
        except InputError as exc:
            raise InputError(f"{case.label}: {exc.field}", exc.expected, exc.got) from None

    def case_study(self, case: SweepCase, root: Path) -> StudySettings:
        """The discharge study's settings of one case (size, voxel, separator, parameter file)."""
        d = self.design(case)
        v = self.values(case)
        params = self.study.params_file
        if parameter_overrides(v):
            params = str(case.run_dir(root) / CASE_PARAMS)
        return dataclasses.replace(self.study, size_x_um=d.size_x_um, size_y_um=d.size_y_um, voxel_um=d.voxel_um,
                                   separator_um=float(v["separator_um"]), params_file=params)


def parameters_toml(ps) -> str:
    """A :class:`~fem_twin.parameters.cell.ParameterSet` as the TOML ``--params`` reads (every key)."""
    lines = []
    d = ps.to_dict()
    ocp = d.pop("ocp")
    notes = d.pop("calibration", None)  # (where calibrated values come from: a [calibration] table)
    for k, v in d.items():
        if isinstance(v, bool):
            lines.append(f"{k} = {'true' if v else 'false'}")
        elif isinstance(v, (int, float)):
            lines.append(f"{k} = {float(v)!r}")
        else:
            lines.append(f"{k} = {json.dumps(str(v))}")
    if ocp.get("kind") != "table":
        lines.append(f"ocp = {json.dumps(ocp['kind'])}")
    else:
        lines += ["[ocp]", "x = [" + ", ".join(repr(float(x)) for x in ocp["x"]) + "]",
                  "u_V = [" + ", ".join(repr(float(x)) for x in ocp["u_V"]) + "]"]
        if ocp.get("extend"):
            lines.append("extend = true")
    if notes:
        lines += ["[calibration]"] + [f"{k} = {json.dumps(str(n))}" for k, n in notes.items()]
    return "\n".join(lines) + "\n"


def structures(cases: list[SweepCase]) -> list[SweepCase]:
    """One case per structure folder (design point and seed), in order, C-rate dropped."""
    seen, out = set(), []
    for c in cases:
        key = (c.design_point(), c.seed)
        if key not in seen:
            seen.add(key)
            out.append(SweepCase(c.design_point(), c.seed, None))
    return out


def _jsonable_params(ps) -> dict:
    from .cases import _jsonable

    return json.loads(json.dumps(ps.to_dict(), default=_jsonable))


def check_sweep(root: Path, cases: list[SweepCase], sw: SweepSettings) -> None:
    """Every design and parameter set builds, and files already in ``root`` belong to this sweep
    (InputError otherwise; nothing is written)."""
    from ..microstructure.image import STRUCTURE_FILE, VoxelImage

    if not (isinstance(sw.jobs, int) and sw.jobs >= 1):
        raise InputError("--jobs", "an integer >= 1", sw.jobs)
    largest = 0.0
    for s in structures(cases):
        design = sw.design(s)
        largest = max(largest, float(np.prod(design.shape)))
        sd = s.structure_dir(root)
        if (sd / STRUCTURE_FILE).exists():
            try:
                old = VoxelImage.load(sd).design
            except (FemTwinError, OSError, ValueError):
                old = design  # unreadable: the stage makes it again
            if old is None or not old.same_as(design):
                raise InputError("-o", f"a sweep directory whose {sd.name}/structure.npz has this case's design "
                                 "(the same --set, --size, --voxel; or a new directory)",
                                 _design_difference(old, design))
    if largest:  # every running structure stage holds its image and the generator's work arrays
        from ..commands.structure import GENERATE_BASE_BYTES, GENERATE_BYTES_PER_VOXEL  # fem-twin generate's
        from ..outputs import check_memory

        n = min(sw.jobs, len(structures(cases)))
        check_memory("--jobs/--size/--voxel", n * (GENERATE_BASE_BYTES + GENERATE_BYTES_PER_VOXEL * largest),
                     f"set of {n} structure stage(s) at a time (--jobs), up to {largest:.3g} voxels each")
    if not sw.discharge:
        return
    for c in cases:
        ps = sw.parameters(c)
        rd = c.run_dir(root)
        s = read_summary(rd)
        if s is not None and s.get("complete"):
            why = settings_mismatch(s, c, sw.case_study(c, root), _jsonable_params(ps))
            if why:
                raise InputError("-o", f"a sweep directory whose finished {rd.relative_to(root)} matches the "
                                 "sweep's settings (or a new directory)", why)


def _design_difference(old, new) -> str:
    if old is None:
        return "an imported image"
    return "other " + ", ".join(sorted(old.differences(new)))


class _Pool:
    """Runs ``fn(item, launcher)`` for items on up to ``jobs`` threads, each with its own
    :class:`~fem_twin.study.runner._Launcher`; a SIGTERM (:meth:`handler`) is passed to every
    running process and no new item starts."""

    def __init__(self, jobs: int):
        self.jobs = max(1, int(jobs))
        self.stop = False
        self.running: set = set()
        self.lock = threading.Lock()

    def handler(self, signum, frame):
        self.stop = True
        with self.lock:
            running = list(self.running)
        for launcher in running:
            launcher.handler(signum, frame)

    def _one(self, fn, item):
        if self.stop:
            return None
        launcher = _Launcher()
        with self.lock:
            self.running.add(launcher)
        try:
            return fn(item, launcher)
        finally:
            with self.lock:
                self.running.discard(launcher)

    def map(self, fn, items) -> list:
        items = list(items)
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(self.jobs, len(items))) as ex:
            futs = [ex.submit(self._one, fn, it) for it in items]
            while wait(futs, timeout=0.2).not_done:  # (the main thread stays free for SIGTERM)
                pass
        return [f.result() for f in futs]


def structure_command(sd: Path) -> list[str]:
    """``python -m fem_twin.study.sweep_worker STRUCTURE_DIR``."""
    return [sys.executable, "-m", "fem_twin.study.sweep_worker", str(sd)]


def structure_ready(sd: Path, conductivity: bool, method: str = "fv") -> bool:
    """Every file of the structure stage is there, the conductivities by ``method`` (the stage
    itself checks the files further)."""
    from ..analysis.report import ANALYSIS_FILE
    from ..microstructure.image import STRUCTURE_FILE

    if not all((sd / f).exists() for f in (STRUCTURE_FILE, ANALYSIS_FILE, STRUCTURE_JOB)):
        return False
    for phase in ("ncm", "lpscl") if conductivity else ():
        try:
            if json.loads((sd / conductivity_file(phase)).read_text()).get("method") != method:
                return False
        except (OSError, ValueError):
            return False
    return True


def discharge_command(case: SweepCase, root: Path, st: StudySettings, restart: bool, fields: bool) -> list[str]:
    """Writes the case's ``settings.json``; returns ``mpirun -n RANKS python -m fem_twin.cli
    discharge STRUCTURE --settings RUN/settings.json -o RUN --cache STRUCTURE/.fem_twin_cache`` (``--restart`` or
    ``--overwrite``; the C-rates of a structure share its mesh and conductance factors)."""
    from .cases import mpirun_path

    rd = case.run_dir(root)
    path = st.discharge_settings(case.c_rate, fields).save(rd / CASE_SETTINGS)
    return [mpirun_path(st), "-n", str(st.ranks), sys.executable, "-m", "fem_twin.cli", "discharge",
            str(case.structure_dir(root)), "--settings", str(path), "-o", str(rd),
            "--cache", str(case.structure_dir(root) / CACHE_DIRNAME), "--restart" if restart else "--overwrite"]


def run_sweep(root: Path, cases: list[SweepCase], sw: SweepSettings, structure_cmd=structure_command,
              discharge_cmd=discharge_command, out=print, plots: bool = True) -> list[dict]:
    """Run (or reuse) every case of the sweep; return the CSV rows after writing the CSV, the
    summary and (``plots``) the PNGs. ``structure_cmd(structure_dir) -> argv`` and
    ``discharge_cmd(case, root, study_settings, restart, fields) -> argv`` build the processes
    (tests pass fakes). Failing cases are recorded in their rows, never raised."""
    import signal

    from .sweep_tables import finish_sweep, sweep_row

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    check_sweep(root, cases, sw)
    pool = _Pool(sw.jobs)
    try:
        previous = signal.signal(signal.SIGTERM, pool.handler)
    except ValueError:  # not the main thread
        previous = None
    printing = threading.Lock()

    def say(*a, **k):
        with printing:
            out(*a, **k)

    try:
        sts = structures(cases)
        results = pool.map(lambda s, launcher: _structure_task(root, s, sw, structure_cmd, launcher, say,
                                                               f"[structure {sts.index(s) + 1}/{len(sts)}]"), sts)
        status = {s.structure_dir(root): r for s, r in zip(sts, results)}
        if sw.discharge:
            first_seed = min(c.seed for c in cases) if cases else None
            todo = [c for c in cases if (status.get(c.structure_dir(root)) or "").startswith("ok")]
            pool.map(lambda c, launcher: _discharge_task(root, c, sw, discharge_cmd, launcher, say, first_seed,
                                                         f"[case {cases.index(c) + 1}/{len(cases)}]"), todo)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    rows = [sweep_row(root, c, sw, status.get(c.structure_dir(root))) for c in
            (cases if sw.discharge else structures(cases))]
    finish_sweep(root, rows, [a for a, _ in cases[0].point] if cases else [], out=say, plots=plots)
    if pool.stop:
        say(f"sweep stopped by SIGTERM; run the same command again to continue", flush=True)
    return rows


def _structure_task(root, s: SweepCase, sw: SweepSettings, command, launcher, say, head) -> str:
    """The structure stage of one design point and seed: 'ok...' or why it failed (never raises)."""
    try:
        return _structure_stage(root, s, sw, command, launcher, say, head)
    except Exception as exc:  # a case's failure must not lose the sweep
        why = f"structure failed: {exc.__class__.__name__}: {exc}"
        say(f"{head} {s.label}: FAILED ({why})", flush=True)
        return why


def _structure_stage(root, s: SweepCase, sw: SweepSettings, command, launcher, say, head) -> str:
    sd = s.structure_dir(root)
    busy = acquire_lock(sd)
    if busy:
        say(f"{head} {s.label}: SKIPPED ({busy})", flush=True)
        return f"not run: {busy}"
    try:
        (sd / STRUCTURE_JOB).write_text(json.dumps({"design": sw.design(s).to_dict(), "seed": s.seed,
                                                    "conductivity": sw.conductivity, "method": sw.method},
                                                   indent=2) + "\n")
        if structure_ready(sd, sw.conductivity, sw.method):
            say(f"{head} {s.label}: [reused]", flush=True)
            return "ok (reused)"
        t = time.perf_counter()
        rc, wall = launcher.run(command(sd), sd / STRUCTURE_LOG, append=False)
        if rc != 0:
            why = f"structure failed (exit {rc}): {_last_error_line(sd / STRUCTURE_LOG)}"
            say(f"{head} {s.label}: FAILED ({why})", flush=True)
            return why
        say(f"{head} {s.label}: done in {time.perf_counter() - t:.1f} s", flush=True)
        return "ok"
    finally:
        release_lock(sd)


def _discharge_task(root, case: SweepCase, sw: SweepSettings, command, launcher, say, first_seed, head) -> None:
    """The discharge of one case (never raises: an error is written into its study_case.json)."""
    try:
        _discharge_case(root, case, sw, command, launcher, say, first_seed, head)
    except Exception as exc:  # a case's failure must not lose the sweep
        rd = case.run_dir(root)
        rd.mkdir(parents=True, exist_ok=True)
        err = f"{exc.__class__.__name__}: {exc}"
        (rd / CASE_RECORD).write_text(json.dumps({"returncode": -1, "wall_s": 0.0, "error": err}, indent=2))
        say(f"{head} {case.label}: FAILED ({err})", flush=True)


def _discharge_case(root, case: SweepCase, sw: SweepSettings, command, launcher, say, first_seed, head) -> None:
    from ..analysis.connectivity import no_current_path
    from ..microstructure.image import VoxelImage

    rd = case.run_dir(root)
    busy = acquire_lock(rd)
    if busy:
        say(f"{head} {case.label}: SKIPPED ({busy})", flush=True)
        return
    try:
        st = sw.case_study(case, root)
        state = run_state(rd)
        if state == "complete":
            say(f"{head} {case.label}: [reused]", flush=True)
            return
        why = no_current_path(VoxelImage.load(case.structure_dir(root)).labels)
        if why is not None:
            (rd / NO_PATH_FILE).write_text(json.dumps({"why": why}) + "\n")
            say(f"{head} {case.label}: 0 mAh/g (no current path: {why})", flush=True)
            return
        if parameter_overrides(sw.values(case)):
            (rd / CASE_PARAMS).write_text(parameters_toml(sw.parameters(case)))
        restart, prev_wall = prepare_attempt(rd, state)
        fields = st.fields == "all" or (st.fields == "first-seed" and case.seed == first_seed)
        say(f"{head} {case.label}: running on {st.ranks} rank(s) -> {rd}", flush=True)
        log = rd / RUN_LOG
        rc, wall = launcher.run(command(case, root, st, restart, fields), log, append=restart)
        if restart and rc == 2 and not launcher.stop:  # the checkpoint does not fit: start afresh
            rc, wall2 = launcher.run(command(case, root, st, False, fields), log, append=True)
            wall += wall2
        record = {"returncode": rc, "wall_s": prev_wall + wall, "ranks": st.ranks, "restart": restart,
                  "error": _last_error_line(log) if rc != 0 else ""}
        (rd / CASE_RECORD).write_text(json.dumps(record, indent=2))
        row = case_row(SimpleNamespace(ncm_wt=None, c_rate=case.c_rate, seed=case.seed), st, rd, record)
        if row["complete"]:
            say(f"{head} {case.label}: {row['capacity_mAh_per_g']:.1f} mAh/g ({row['ended_by']}, "
                f"{record['wall_s']:.0f} s)", flush=True)
        else:
            stopped = str(row["ended_by"]).startswith("interrupted")
            say(f"{head} {case.label}: {'STOPPED' if stopped else 'FAILED'} ({row['ended_by']})", flush=True)
    finally:
        release_lock(rd)


