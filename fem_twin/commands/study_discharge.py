"""``fem-twin study discharge``: the seed's rate study (Figs. 3-6) over compositions, C-rates and seeds.

For every case (NCM wt% x C-rate x seed) the structure is generated into ``DIR/ncm<W>_seed<S>/``
exactly like ``fem-twin generate --composition W:98-W:2 --seed S --size X,Y`` (kept when
``structure.npz`` exists; the same folder as ``study conductivity``, so both studies share it) and
discharged into ``DIR/ncm<W>_seed<S>/c<R>C/`` by its own ``mpirun -n RANKS python -m
fem_twin.commands.study_discharge ...`` (memory is freed after each case; a failing case is
recorded, the study goes on; its output goes to ``run.log`` in the case folder). A case whose
``discharge.json`` is complete is skipped; one interrupted (SIGTERM to the study is forwarded, a
checkpoint is written) or killed after a checkpoint continues with ``--restart``; a failed one
is run again. A case whose structure carries no current at all (no NCM cluster reaches the
collector, no LPSCl cluster reaches the separator, or the connected parts do not touch; small
pieces can be cut off like this) is not run: its row says 0 mAh/g, ``no current path: <why>``, and
it counts in the statistics (``n_no_current_path`` in the summary). The time steps are like the demo's (demos/discharge.py): 1/100 h at the C-rate first,
at most ``--dt-max`` h (default 0.05 h), at most 0.1 V per step.

Writes ``DIR/discharge_study.csv`` (one row per case), ``DIR/discharge_study_summary.csv`` (mean,
std, min, max over the seeds per composition and C-rate, complete cases only) and the seed's
Fig. 3 as ``DIR/discharge_study_by_rate.png`` (one panel per C-rate, one colour per composition;
rows: mAh/g NCM and mAh/cm2) and ``DIR/discharge_study_by_composition.png`` (the seed's layout:
one panel per composition, one colour per C-rate), each with the seed-to-seed band (min-max of
the curves on a common capacity grid) and the mean curve. XDMF fields are written for the first
seed only (``--fields``); ``--pictures 0.5,end`` renders them afterwards (``fem-twin render``).

Cases run seed by seed (all compositions and C-rates of the first seed first), so the early part
of a long study already covers the whole table.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import FemTwinError, InputError
from ..meshing.meshers import DEFAULT_MESHER, MESHERS, add_mesher_argument

STUDY_CSV = "discharge_study.csv"
SUMMARY_CSV = "discharge_study_summary.csv"
CASE_RECORD = "study_case.json"
RUN_LOG = "run.log"
CSV_COLUMNS = ["ncm_wt", "c_rate", "seed", "size_um", "separator_um", "capacity_mAh_per_g",
               "capacity_mAh_per_cm2", "complete", "ended_by", "unknowns", "steps", "newton", "wall_s",
               "dead_ncm_fraction", "dead_lpscl_fraction", "interface_area_um2"]
#: NCM wt% accepted by the study (the seed's designs are 60-90 wt%; far outside, the LPSCl or the
#: NCM network stops percolating and the discharge is meaningless)
NCM_WT_RANGE = (50.0, 90.0)
#: C-rates accepted (the seed's study is 0.1-1C; the demo's stepping is tuned for <= a few C)
C_RATE_RANGE = (0.0, 10.0)
#: the demo's time stepping (fractions of an hour at the C-rate, V per step, saturation)
DT_INITIAL_H = 0.01
MAX_DV_V = 0.1
DT_MAX_H = 0.05  #: the demo's: 0.1 h wasted Newton steps on rejected steps
SATURATION_DT_H = 2e-3


# -- arguments -----------------------------------------------------------------------------------
def register_study_discharge(kinds) -> None:
    """Add ``discharge`` to the sub-parsers of ``fem-twin study`` (``kinds``)."""
    doc = __doc__.split("\n\n")
    d = kinds.add_parser("discharge", help="discharge capacities and curves against composition, C-rate "
                                           "and seed (the seed's Figs. 3-6)",
                         description=doc[1], epilog="\n\n".join(doc[2:]),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--compositions", default="60,70,80", help="NCM wt%% list (default 60,70,80; NBR 2 wt%%)")
    d.add_argument("--c-rates", default="0.1,0.5,1", help="C-rate list (default 0.1,0.5,1)")
    d.add_argument("--seeds", default="1-5", help="seeds: a range 1-5 or a list 1,2,3 (default 1-5)")
    d.add_argument("--size", default="50", help="x (or x,y) extent of the structure in um (default 50, the "
                                                 "seed's cell; >= 16: the largest particles)")
    d.add_argument("--separator", type=float, default=30.0, help="LPSCl separator thickness in um (default 30)")
    d.add_argument("--separator-growth", type=float, default=1.5,
                   help="separator mesh layers grow by this factor away from the composite (default 1.5; "
                        "1: voxel layers)")
    add_mesher_argument(d)
    d.add_argument("--cutoff", type=float, default=3.0, help="discharge cut-off voltage in V (default 3.0)")
    d.add_argument("--ranks", type=int, default=2, help="MPI ranks per case (default 2)")
    d.add_argument("--params", default=None, help="TOML file overriding cell parameters")
    d.add_argument("--voxel", type=float, default=0.5, help="voxel edge in um (default 0.5)")
    d.add_argument("--solver", default="auto", choices=["auto", "mumps", "fieldsplit"],
                   help="linear solver of each case (default auto)")
    d.add_argument("--dt-max", type=float, default=DT_MAX_H,
                   help=f"largest time step as a fraction of an hour at the C-rate (default {DT_MAX_H:g})")
    d.add_argument("--max-dod", type=float, default=None,
                   help="also stop each discharge after this fraction of an hour at its C-rate "
                        "(a cut-short protocol for trials; default: none)")
    d.add_argument("--fields", default="first-seed", choices=["first-seed", "all", "none"],
                   help="which cases write XDMF fields (default first-seed: the smallest seed)")
    d.add_argument("--output-every", type=int, default=5, help="XDMF fields every N steps (default 5)")
    d.add_argument("--pictures", default=None, metavar="DODS",
                   help="after the study render the fields at these depths of discharge (time fractions "
                        "of the discharge, or 'end'), e.g. 0.5,end; see 'fem-twin render -h'")
    d.add_argument("--mpirun", default=None, help="mpirun executable (default: next to python, else on PATH)")
    d.add_argument("-o", "--output", required=True, help="study directory")
    d.set_defaults(func=cmd_study_discharge)


def parse_float_list(text: str, option: str, what: str, lo: float, hi: float, lo_open: bool = True) -> list[float]:
    """Comma-separated numbers in (lo, hi] (or [lo, hi] when not ``lo_open``), duplicates removed."""
    expected = f"comma-separated {what} in {'(' if lo_open else '['}{lo:g}, {hi:g}]"
    try:
        vals = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise InputError(option, expected, text) from None
    ok = all(math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi for v in vals)
    if not vals or not ok:
        raise InputError(option, expected, text)
    return list(dict.fromkeys(vals))


def parse_compositions(text: str) -> list[float]:
    """NCM wt% values (NBR 2 wt%, LPSCl the rest) within :data:`NCM_WT_RANGE`."""
    return parse_float_list(text, "--compositions", "NCM wt% values", *NCM_WT_RANGE,
                            lo_open=False)


def parse_c_rates(text: str) -> list[float]:
    """C-rates > 0 and <= :data:`C_RATE_RANGE` [1]."""
    return parse_float_list(text, "--c-rates", "C-rates", *C_RATE_RANGE)


def parse_size(text: str) -> tuple[float, float]:
    """``"50"`` or ``"50,50"`` -> (x, y) extent in um."""
    try:
        vals = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        vals = ()
    if len(vals) == 1:
        vals = (vals[0], vals[0])
    if len(vals) != 2 or not all(math.isfinite(v) and v > 0 for v in vals):
        raise InputError("--size", "an x extent or x,y extents in um, e.g. 50 or 50,50", text)
    return vals


@dataclass(frozen=True)
class StudySettings:
    """What every case of a study shares. Lengths in um, voltage in V, time steps in hours at the C-rate."""

    size_x_um: float = 50.0
    size_y_um: float = 50.0
    separator_um: float = 30.0
    separator_growth: float = 1.5  #: graded separator mesh (1: voxel layers)
    mesher: str = DEFAULT_MESHER  #: voxel or smooth (fem_twin.meshing.meshers)
    cutoff_V: float = 3.0
    ranks: int = 2
    voxel_um: float = 0.5
    params_file: str | None = None
    solver: str = "auto"
    dt_max_h: float = DT_MAX_H
    max_dod: float | None = None
    fields: str = "first-seed"
    output_every: int = 5
    mpirun: str | None = None

    @property
    def size_um(self):
        """The CSV's size_um: the x extent, or "XxY" when not square."""
        return self.size_x_um if self.size_x_um == self.size_y_um else f"{self.size_x_um:g}x{self.size_y_um:g}"

    def protocol_text(self, c_rate: float) -> str:
        s = f"discharge {c_rate:g}C to {self.cutoff_V:g} V"
        if self.max_dod is not None:
            s += f" for {self.max_dod * 3600.0 / c_rate:.10g} s"
        return s

    def params(self):
        from ..parameters.cell import ParameterSet

        return ParameterSet.from_toml(self.params_file) if self.params_file else ParameterSet()


def check_settings(st: StudySettings, compositions: list[float]) -> None:
    """Refuse bad settings before any case runs (InputError with the option's name)."""
    from ..design import Composition, ElectrodeDesign
    from ..protocol import Protocol

    if not (math.isfinite(st.separator_um) and st.separator_um >= 0):
        raise InputError("--separator", "a thickness >= 0 um", st.separator_um)
    if not (math.isfinite(st.separator_growth) and st.separator_growth >= 1):
        raise InputError("--separator-growth", "a factor >= 1", st.separator_growth)
    if not (isinstance(st.ranks, int) and st.ranks >= 1):
        raise InputError("--ranks", "an integer >= 1", st.ranks)
    if not (math.isfinite(st.dt_max_h) and 0 < st.dt_max_h <= 1):
        raise InputError("--dt-max", "a fraction of an hour in (0, 1]", st.dt_max_h)
    if st.max_dod is not None and not (math.isfinite(st.max_dod) and 0 < st.max_dod <= 2):
        raise InputError("--max-dod", "a fraction of an hour at the C-rate in (0, 2]", st.max_dod)
    if st.output_every < 1:
        raise InputError("--output-every", "an integer >= 1", st.output_every)
    params = st.params()
    ocv = float(params.ocp.numpy(params.initial_lithiation))
    if not (math.isfinite(st.cutoff_V) and 0 < st.cutoff_V < ocv):
        raise InputError("--cutoff", f"a voltage in (0, {ocv:.3f}) V (below the open-circuit voltage)", st.cutoff_V)
    Protocol.parse(st.protocol_text(1.0))
    for w in compositions:  # sizes vs particle sizes, feasible volume fractions
        ElectrodeDesign(composition=Composition.from_ncm_wt(w), size_x_um=st.size_x_um,
                        size_y_um=st.size_y_um, voxel_um=st.voxel_um)
    mpirun_path(st)


def mpirun_path(st: StudySettings) -> str:
    """The mpirun that launches each case: --mpirun, else the one next to python, else on PATH."""
    if st.mpirun:
        p = shutil.which(st.mpirun)
        if p is None:
            raise InputError("--mpirun", "an executable mpirun", st.mpirun)
        return p
    here = Path(sys.executable).parent / "mpirun"
    if here.exists():
        return str(here)
    p = shutil.which("mpirun")
    if p is None:
        raise InputError("--mpirun", "an mpirun next to python or on PATH", "none found")
    return p


# -- cases -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One discharge of the study: NCM wt% (NBR 2 wt%, LPSCl the rest), C-rate, seed."""

    ncm_wt: float
    c_rate: float
    seed: int

    @property
    def label(self) -> str:
        return f"NCM {self.ncm_wt:g} wt% {self.c_rate:g}C seed {self.seed}"

    def structure_dir(self, root: Path) -> Path:
        return Path(root) / f"ncm{self.ncm_wt:g}_seed{self.seed}".replace(".", "p")

    def run_dir(self, root: Path) -> Path:
        return self.structure_dir(root) / f"c{self.c_rate:g}C"


def case_list(compositions, c_rates, seeds) -> list[Case]:
    """Every composition x C-rate x seed, seed by seed (the first seed covers the table first)."""
    return [Case(float(w), float(r), int(s)) for s in seeds for w in compositions for r in c_rates]


def read_summary(run_dir: Path) -> dict | None:
    """``run_dir/discharge.json`` as a dict, or None when missing or unreadable."""
    try:
        return json.loads((Path(run_dir) / "discharge.json").read_text())
    except (OSError, ValueError):
        return None


def run_state(run_dir: Path) -> str:
    """'complete' (discharge.json complete), 'interrupted' (a checkpoint to continue from: the run
    was stopped by SIGTERM or killed), 'failed' (discharge.json incomplete) or 'new'."""
    s = read_summary(run_dir)
    ckpt = (Path(run_dir) / "checkpoint.npz").exists()
    if s is not None and s.get("complete"):
        return "complete"
    if ckpt and (s is None or s.get("interrupted_at_time_s") is not None or s.get("running")):
        return "interrupted"
    return "failed" if s is not None else "new"


def _jsonable(o):
    from ..fem.discharge_io import _jsonable as to_json

    return to_json(o)


def settings_mismatch(summary: dict, case: Case, st: StudySettings, params_dict: dict) -> str | None:
    """Why a finished discharge.json does not belong to this study's settings (None when it does)."""
    from ..protocol import Protocol

    mesh = summary.get("mesh", {})
    h = mesh.get("voxel_um")
    vox = mesh.get("voxels") or [0, 0, 0]
    if h is None or abs(vox[0] * h - st.size_x_um) > 1e-6 or abs(vox[1] * h - st.size_y_um) > 1e-6:
        return f"size {vox[0] * (h or 0):g}x{vox[1] * (h or 0):g} um (study: {st.size_x_um:g}x{st.size_y_um:g})"
    if abs(float(mesh.get("separator_um", -1)) - st.separator_um) > 1e-9:
        return f"separator {mesh.get('separator_um')} um (study: {st.separator_um:g})"
    if abs(float(mesh.get("separator_growth", 1.0)) - st.separator_growth) > 1e-9:
        return f"separator growth {mesh.get('separator_growth', 1.0)} (study: {st.separator_growth:g})"
    if mesh.get("mesher", "voxel") != st.mesher:
        return f"mesher {mesh.get('mesher', 'voxel')} (study: {st.mesher})"
    want = Protocol.parse(st.protocol_text(case.c_rate)).describe()
    if summary.get("protocol") != want:
        return f"protocol '{summary.get('protocol')}' (study: '{want}')"
    if summary.get("parameters") != params_dict:
        return "other cell parameters (--params)"
    return None


def check_existing(root: Path, cases: list[Case], st: StudySettings) -> None:
    """Refuse a study directory whose structures or finished discharges were made with other
    settings (a different size, voxel, composition, separator, protocol or parameters)."""
    from ..microstructure.image import STRUCTURE_FILE, VoxelImage

    params_dict = json.loads(json.dumps(st.params().to_dict(), default=_jsonable))
    seen = set()
    for c in cases:
        sd = c.structure_dir(root)
        if sd not in seen and (sd / STRUCTURE_FILE).exists():
            seen.add(sd)
            img = VoxelImage.load(sd)
            nx, ny, _ = img.shape
            h = img.voxel_size_um
            design = img.design
            if abs(h - st.voxel_um) > 1e-12 or abs(nx * h - st.size_x_um) > 1e-6 or abs(ny * h - st.size_y_um) > 1e-6:
                raise InputError("-o", f"a study directory whose {sd.name}/structure.npz is {st.size_x_um:g}x"
                                 f"{st.size_y_um:g} um at {st.voxel_um:g} um voxels (or a new directory)",
                                 f"{nx * h:g}x{ny * h:g} um at {h:g} um")
            if design is not None and abs(design.composition.ncm - c.ncm_wt) > 1e-9:
                raise InputError("-o", f"{sd.name}/structure.npz with NCM {c.ncm_wt:g} wt%",
                                 f"{design.composition.ncm:g} wt%")
        s = read_summary(c.run_dir(root))
        if s is not None and s.get("complete"):
            why = settings_mismatch(s, c, st, params_dict)
            if why:
                raise InputError("-o", f"a study directory whose finished {c.run_dir(root).relative_to(root)} "
                                 f"matches the study settings (or a new directory)", why)


def ensure_structure(case: Case, root: Path, st: StudySettings):
    """Generate ``structure.npz`` of the case like ``fem-twin generate`` unless it exists."""
    import dataclasses

    import numpy as np

    from ..design import Composition, ElectrodeDesign
    from ..microstructure.generate import generate
    from ..microstructure.image import STRUCTURE_FILE

    d = case.structure_dir(root)
    if (d / STRUCTURE_FILE).exists():
        return d
    design = ElectrodeDesign(composition=Composition.from_ncm_wt(case.ncm_wt), size_x_um=st.size_x_um,
                             size_y_um=st.size_y_um, voxel_um=st.voxel_um)
    image = generate(design, np.random.default_rng(case.seed))
    dataclasses.replace(image, seed=int(case.seed)).save(d)
    return d


def worker_command(case: Case, root: Path, st: StudySettings, restart: bool, fields: bool) -> list[str]:
    """``mpirun -n RANKS python -m fem_twin.commands.study_discharge STRUCTURE OUT ...``."""
    cmd = [mpirun_path(st), "-n", str(st.ranks), sys.executable, "-m", "fem_twin.commands.study_discharge",
           str(case.structure_dir(root)), str(case.run_dir(root)), "--c-rate", repr(case.c_rate),
           "--cutoff", repr(st.cutoff_V), "--separator", repr(st.separator_um),
           "--separator-growth", repr(st.separator_growth), "--dt-max", repr(st.dt_max_h),
           "--output-every", str(st.output_every), "--solver", st.solver, "--mesher", st.mesher]
    if st.max_dod is not None:
        cmd += ["--max-dod", repr(st.max_dod)]
    if st.params_file:
        cmd += ["--params", str(Path(st.params_file).resolve())]
    if not fields:
        cmd.append("--no-fields")
    if restart:
        cmd.append("--restart")
    return cmd


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


NO_PATH = "no current path"


def structure_path_problem(case: Case, root: Path) -> str | None:
    """Why the case's structure carries no discharge current (see
    :func:`fem_twin.analysis.connectivity.no_current_path`), None when it can or has no structure.npz."""
    from ..analysis.connectivity import no_current_path
    from ..microstructure.image import STRUCTURE_FILE, VoxelImage

    d = case.structure_dir(root)
    if not (d / STRUCTURE_FILE).exists():
        return None
    return no_current_path(VoxelImage.load(d).labels)


def no_path_row(case: Case, st: StudySettings, why: str) -> dict:
    """The row of a case whose structure carries no current: a result (0 mAh/g), not a failure."""
    return {"ncm_wt": case.ncm_wt, "c_rate": case.c_rate, "seed": case.seed, "size_um": st.size_um,
            "separator_um": st.separator_um, "capacity_mAh_per_g": 0.0, "capacity_mAh_per_cm2": 0.0,
            "complete": True, "ended_by": f"{NO_PATH}: {why}; not run", "unknowns": None, "steps": 0,
            "newton": 0, "wall_s": 0.0, "dead_ncm_fraction": None, "dead_lpscl_fraction": None,
            "interface_area_um2": None}


def run_study(root: Path, cases: list[Case], st: StudySettings, command=worker_command, out=print,
              structure=ensure_structure, plots: bool = True, path_check=structure_path_problem) -> list[dict]:
    """Run (or reuse) every case; return the CSV rows and write the CSV, summary and plots.

    ``command(case, root, settings, restart, fields) -> argv`` builds each case's command (the
    default is the mpirun worker; tests pass a fake), ``structure(case, root, settings)`` makes
    the structure; ``path_check(case, root)`` says why a structure carries no current (its case is
    recorded as 0 mAh/g without a run) or None; ``plots=False`` skips the PNGs. Failing cases are recorded in the rows, never raised. A SIGTERM stops the study
    after the running case has written its checkpoint (its row says so); run again to continue.
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
            restart = state == "interrupted"
            prev_wall = 0.0
            if (rd / "discharge.json").exists():  # an earlier attempt's summary must not pass for this one
                (rd / "discharge.json").replace(rd / "discharge.previous.json")
            if restart:
                try:
                    prev_wall = float(json.loads((rd / CASE_RECORD).read_text()).get("wall_s", 0.0))
                except (OSError, ValueError):
                    prev_wall = 0.0
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


# -- tables --------------------------------------------------------------------------------------
def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(r.get(k)) for k in columns})


def write_study_csv(path: Path, rows: list[dict]) -> None:
    """discharge_study.csv: :data:`CSV_COLUMNS`, one row per case."""
    _write_csv(path, rows, CSV_COLUMNS)


def read_study_csv(path: Path) -> list[dict]:
    """Rows of discharge_study.csv with numbers as floats/ints, ``complete`` as bool, empty as None."""
    out = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            row = {}
            for k, v in r.items():
                if v == "":
                    row[k] = None
                elif k == "complete":
                    row[k] = v == "True"
                elif k == "ended_by":
                    row[k] = v
                else:
                    try:
                        row[k] = int(v) if k in ("seed", "unknowns", "steps", "newton") else float(v)
                    except ValueError:
                        row[k] = v
            out.append(row)
    return out


def _stats(vals: list[float]) -> tuple:
    if not vals:
        return (None, None, None, None)
    n = len(vals)
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return (mean, std, min(vals), max(vals))


def summarise(rows: list[dict]) -> list[dict]:
    """Per (NCM wt%, C-rate): number of cases and of complete ones, and mean, sample standard
    deviation (0 for one seed), min and max of the capacities (mAh/g NCM, mAh/cm2) over the
    complete cases. A case whose structure carries no current counts as complete with 0 mAh/g
    (``n_no_current_path`` of them): a small piece cut off from the collector or the separator is a
    real outcome of that size, and leaving it out would bias the mean upwards."""
    out = []
    for w, r in sorted({(row["ncm_wt"], row["c_rate"]) for row in rows}):
        sel = [row for row in rows if row["ncm_wt"] == w and row["c_rate"] == r]
        ok = [row for row in sel if row["complete"] and row["capacity_mAh_per_g"] is not None]
        s = {"ncm_wt": w, "c_rate": r, "size_um": sel[0]["size_um"], "separator_um": sel[0]["separator_um"],
             "n_cases": len(sel), "n_complete": len(ok),
             "n_no_current_path": sum(1 for row in ok if str(row.get("ended_by") or "").startswith(NO_PATH))}
        for key in ("capacity_mAh_per_g", "capacity_mAh_per_cm2"):
            for name, v in zip(("mean", "std", "min", "max"), _stats([float(x[key]) for x in ok])):
                s[f"{key}_{name}"] = v
        out.append(s)
    return out


SUMMARY_COLUMNS = ["ncm_wt", "c_rate", "size_um", "separator_um", "n_cases", "n_complete", "n_no_current_path"] + [
    f"{k}_{s}" for k in ("capacity_mAh_per_g", "capacity_mAh_per_cm2") for s in ("mean", "std", "min", "max")]


def summary_table(summary: list[dict]) -> str:
    """The summary as two Markdown tables (mAh/g NCM, mAh/cm2): one row per NCM wt%, one column per
    C-rate, each cell ``mean ± std (min-max), n`` over the complete cases (``n/N`` when some of the
    N cases are not complete; ``+k no path`` counts the 0 mAh/g pieces among them)."""
    comps = sorted({r["ncm_wt"] for r in summary})
    rates = sorted({r["c_rate"] for r in summary})
    by = {(r["ncm_wt"], r["c_rate"]): r for r in summary}
    lines = []
    for key, unit, fmt in (("capacity_mAh_per_g", "mAh/g NCM", "{:.1f}"), ("capacity_mAh_per_cm2", "mAh/cm2", "{:.3f}")):
        lines += ["", f"| NCM wt% | " + " | ".join(f"{r:g}C ({unit})" for r in rates) + " |",
                  "|---|" + "---|" * len(rates)]
        for w in comps:
            cells = []
            for r in rates:
                s = by.get((w, r))
                if s is None or not s["n_complete"]:
                    cells.append("" if s is None else f"0/{s['n_cases']} complete")
                    continue
                f = fmt.format
                n = f"{s['n_complete']}" if s["n_complete"] == s["n_cases"] else f"{s['n_complete']}/{s['n_cases']}"
                dead = f", {s['n_no_current_path']} no path" if s.get("n_no_current_path") else ""
                cells.append(f"{f(s[key + '_mean'])} ± {f(s[key + '_std'])} ({f(s[key + '_min'])}-"
                             f"{f(s[key + '_max'])}), n = {n}{dead}")
            lines.append(f"| {w:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines[1:])


def write_summary_csv(path: Path, summary: list[dict]) -> None:
    """discharge_study_summary.csv: :data:`SUMMARY_COLUMNS`, one row per composition x C-rate."""
    _write_csv(path, summary, SUMMARY_COLUMNS)


# -- the command ---------------------------------------------------------------------------------
def settings_from_args(args) -> tuple[list[Case], StudySettings]:
    from .study import parse_seeds

    comps = parse_compositions(args.compositions)
    rates = parse_c_rates(args.c_rates)
    seeds = parse_seeds(args.seeds)
    sx, sy = parse_size(args.size)
    if not (math.isfinite(args.voxel) and args.voxel > 0):
        raise InputError("--voxel", "a voxel edge > 0 um", args.voxel)
    st = StudySettings(size_x_um=sx, size_y_um=sy, separator_um=args.separator,
                       separator_growth=args.separator_growth, mesher=args.mesher, cutoff_V=args.cutoff,
                       ranks=args.ranks, voxel_um=args.voxel, params_file=args.params, solver=args.solver,
                       dt_max_h=args.dt_max, max_dod=args.max_dod, fields=args.fields,
                       output_every=args.output_every, mpirun=args.mpirun)
    check_settings(st, comps)
    return case_list(comps, rates, seeds), st


def cmd_study_discharge(args) -> int:
    cases, st = settings_from_args(args)
    dods = None
    if args.pictures:
        from ..post.field_pictures import parse_dods

        dods = parse_dods(args.pictures)
    from ..outputs import output_dir

    root = output_dir(args.output)
    rows = run_study(root, cases, st)
    if dods:
        from ..post.field_pictures import render_study

        try:
            for p in render_study(root, dods):
                print(f"  picture {p}", flush=True)
        except FemTwinError as exc:
            print(f"fem-twin study discharge: pictures not written: {exc}", file=sys.stderr)
    return 0 if all(r["complete"] for r in rows) and len(rows) == len(cases) else 1


# -- fem-twin render -----------------------------------------------------------------------------
RENDER_DOC = """Render discharge fields off-screen like the seed's Figs. 4-6 from the XDMF output.

DIR is a discharge output folder (fields_*.xdmf from 'fem-twin discharge' or a study case) or a
'study discharge' folder. Per case and depth of discharge: fields_dod<D>.png (NCM lithiation,
Li+ flux magnitude in the LPSCl, surface overpotential on the NCM|LPSCl interface; --quantities).
A study folder also gets, per C-rate, the compositions side by side:
DIR/fields_c<R>C_seed<S>_dod<D>.png (one colour scale per row); several case folders get
fields_compare_dod<D>.png. A DOD is a fraction of the discharge's duration; the nearest written
frame is used and its DOD, time, voltage and capacity are printed on the panel."""


def register(sub) -> None:
    """Add the top-level ``render`` command."""
    r = sub.add_parser("render", help="pictures of discharge fields (the seed's Figs. 4-6)",
                       description=RENDER_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("dirs", nargs="+", metavar="DIR", help="discharge output folder(s) or a study folder")
    r.add_argument("--dod", default="0.5,end",
                   help="depths of discharge: fractions of the discharge's duration or 'end' (default 0.5,end)")
    r.add_argument("--quantities", default=None,
                   help="comma-separated from lithiation,c_s,phi_s,flux,i_e,phi_e,c_e,eta,j "
                        "(default lithiation,flux,eta)")
    r.add_argument("--c-rates", default=None, help="study folder: only these C-rates (default all)")
    r.add_argument("--seed", type=int, default=None, help="study folder: this seed (default the smallest with fields)")
    r.add_argument("--no-cut", action="store_true", help="do not cut away the front corner")
    r.add_argument("--panel-px", default=None, metavar="W,H",
                   help="size of one panel in pixels (default 620,560; 560,520 side by side)")
    r.add_argument("-o", "--output", default=None, help="output folder (default: each case's folder / the study)")
    r.set_defaults(func=cmd_render)


def cmd_render(args) -> int:
    from ..post.field_pictures import parse_dods, parse_quantities, render_dirs

    dods = parse_dods(args.dod)
    quantities = parse_quantities(args.quantities)
    rates = parse_c_rates(args.c_rates) if args.c_rates else None
    px = None
    if args.panel_px:
        try:
            px = tuple(int(v) for v in args.panel_px.split(","))
        except ValueError:
            px = ()
        if len(px) != 2 or min(px) < 100:
            raise InputError("--panel-px", "W,H in pixels, each >= 100, e.g. 620,560", args.panel_px)
    for p in render_dirs(args.dirs, dods, quantities, args.output, rates, args.seed, cut=not args.no_cut,
                         panel_px=px):
        print(f"picture {p}", flush=True)
    return 0


# -- the worker (one case, inside mpirun) --------------------------------------------------------
def worker_main(argv: list[str] | None = None) -> int:
    """One case inside ``mpirun``: exit 0 complete, 1 incomplete (files hold what was computed;
    after SIGTERM a checkpoint), 2 bad input (one line on stderr)."""
    ap = argparse.ArgumentParser(prog="python -m fem_twin.commands.study_discharge",
                                 description="one discharge case of 'fem-twin study discharge'")
    ap.add_argument("structure", help="directory holding structure.npz")
    ap.add_argument("output", help="output directory")
    ap.add_argument("--c-rate", type=float, required=True)
    ap.add_argument("--cutoff", type=float, default=3.0)
    ap.add_argument("--separator", type=float, default=30.0)
    ap.add_argument("--separator-growth", type=float, default=1.0)
    ap.add_argument("--dt-max", type=float, default=DT_MAX_H, help="fraction of an hour at the C-rate")
    ap.add_argument("--max-dod", type=float, default=None)
    ap.add_argument("--output-every", type=int, default=5)
    ap.add_argument("--solver", default="auto")
    ap.add_argument("--mesher", default="voxel", choices=MESHERS)
    ap.add_argument("--params", default=None)
    ap.add_argument("--no-fields", action="store_true")
    ap.add_argument("--restart", action="store_true")
    ap.add_argument("--checkpoint-every", type=int, default=10)
    a = ap.parse_args(argv)
    from .._dolfinx import MPI

    comm = MPI.COMM_WORLD
    try:
        from ..fem.checkpoint import CheckpointOptions
        from ..fem.discharge_run import run_discharge
        from ..fem.discharge_solvers import LinearSolverSpec
        from ..fem.stepping import SteppingOptions
        from ..microstructure.image import VoxelImage
        from ..protocol import Protocol

        st = StudySettings(separator_um=a.separator, separator_growth=a.separator_growth, cutoff_V=a.cutoff,
                           params_file=a.params,
                           dt_max_h=a.dt_max, max_dod=a.max_dod)
        params = st.params()
        protocol = Protocol.parse(st.protocol_text(a.c_rate))
        hour = 3600.0 / a.c_rate
        stepping = SteppingOptions(dt_initial_s=DT_INITIAL_H * hour, dt_max_s=a.dt_max * hour, max_dV=MAX_DV_V,
                                   output_every=a.output_every, saturation_dt=SATURATION_DT_H)
        image = VoxelImage.load(a.structure)
        result = run_discharge(image.labels, image.voxel_size_um, Path(a.output), params=params,
                               protocol=protocol, separator_um=a.separator, separator_growth=a.separator_growth,
                               mesher=a.mesher, solver=LinearSolverSpec.parse(a.solver, []),
                               stepping=stepping, comm=comm, write_fields=not a.no_fields,
                               checkpoint=CheckpointOptions(every=a.checkpoint_every, restart=a.restart))
    except FemTwinError as exc:
        if comm.rank == 0:
            print(f"study discharge worker: error: {exc}", file=sys.stderr, flush=True)
        return 2
    if not result.complete and comm.rank == 0:
        print(f"study discharge worker: error: {result.message}", file=sys.stderr, flush=True)
    return 0 if result.complete else 1


if __name__ == "__main__":
    sys.exit(worker_main())
