"""Calibration of cell parameters against a capacity or a voltage curve (``fem-twin calibrate``).

The pieces:

- which parameters can be fitted and over which bracket (:func:`check_parameter`,
  :func:`parse_bracket`): every number of :class:`~fem_twin.parameters.cell.ParameterSet` with a
  range in :data:`~fem_twin.parameters.cell.RANGES`; the bracket must lie in that range and give
  valid parameter sets at both ends;
- the root finder :func:`find_parameter` (a pure function of a callable ``capacity = f(value)``):
  both ends of the bracket, then Illinois (regula falsi with the stale end's residual halved),
  in log(value) for parameters that span decades; stops when the capacity is within ``ftol``;
- the curve fit :func:`fit_curve` (a pure function of a callable ``residuals = f(values)``): a
  bounded Brent minimisation of the sum of squares for one parameter, a bounded trust-region least
  squares (scipy) for two, each with a small budget of evaluations;
- a measured curve (:func:`read_curve`) and the residuals of a simulated one (:func:`curve_residuals`);
- the evaluator :class:`DischargeEvaluator`: one full discharge per value through
  :func:`fem_twin.fem.discharge_run.discharge` into ``OUT/eval_NN/`` (``params.toml``,
  ``settings.json``, the discharge's files and ``eval.json``), reused when the same parameter
  set and settings were finished before (a calibration run again continues where it stopped; an
  evaluation killed after a checkpoint continues from it);
- the report (:func:`write_report`): ``calibration.json``, the fitted TOML and ``calibration.png``.

DOLFINx is imported only by the evaluator.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import FemTwinError, InputError
from .json_compare import same_json
from .log import logger
from .parameters.cell import RANGES, ParameterSet

#: brackets used when ``--bracket`` is not given
DEFAULT_BRACKETS = {"initial_lithiation": (0.27, 0.6), "k_ncm": (1e-9, 1e-5), "d_ncm_m2_s": (1e-16, 1e-13),
                    "max_lithiation": (0.7, 0.999)}
#: parameters searched in log(value) (they span decades); the others in the value itself
LOG_PARAMETERS = ("k_ncm", "d_ncm_m2_s", "d_lpscl_m2_s", "sigma_ncm_S_m", "sigma_lpscl_S_m",
                  "li_exchange_current_A_m2", "sigma_lpscl_intercept_S_cm")
CURVE_COLUMNS = ("capacity_mAh_per_g", "voltage_V")
EVAL_RECORD = "eval.json"
REPORT = "calibration.json"
FITTED_TOML = "calibrated_parameters.toml"
PLOT = "calibration.png"


class CalibrationError(FemTwinError):
    """A calibration could not go on (an evaluation failed or was interrupted); not bad input."""


class TargetOutOfRange(InputError):
    """The target capacity is not between the capacities at the two ends of the bracket."""

    def __init__(self, target, name, lo, hi, f_lo, f_hi):
        self.ends = ((lo, f_lo), (hi, f_hi))
        super().__init__("--target-capacity",
                         f"a capacity the bracket reaches: {f_lo:.2f} mAh/g at {name} = {lo:.6g}, "
                         f"{f_hi:.2f} mAh/g at {name} = {hi:.6g} (widen or move --bracket)", target)


# -- parameters and brackets -----------------------------------------------------------------------
def check_parameter(name: str) -> str:
    """``name`` if it is a number of the parameter set with a documented range, else InputError."""
    if name not in RANGES:
        raise InputError("--parameter", "a numeric parameter of the parameter set (fem_twin/parameters/cell.py): "
                         + ", ".join(sorted(RANGES)), name)
    return name


def default_scale(name: str, lo: float, hi: float) -> str:
    return "log" if (name in LOG_PARAMETERS and lo > 0) or (lo > 0 and hi / lo >= 100) else "linear"


def parse_bracket(text: str | None, name: str, base: ParameterSet, option: str = "--bracket") -> tuple[float, float]:
    """``"lo,hi"`` for parameter ``name`` (None: :data:`DEFAULT_BRACKETS`): lo < hi, both within the
    parameter's range, and a valid parameter set at both ends (e.g. initial_lithiation below
    max_lithiation). Each error names ``option``."""
    lo_ok, hi_ok, unit = RANGES[name]
    if text is None:
        if name not in DEFAULT_BRACKETS:
            raise InputError(option, f"LO,HI for {name} (no default bracket; its range is [{lo_ok:g}, {hi_ok:g}] "
                             f"{unit})", None)
        lo, hi = DEFAULT_BRACKETS[name]
    else:
        try:
            vals = [float(v) for v in str(text).split(",")]
        except ValueError:
            vals = []
        if len(vals) != 2 or not all(math.isfinite(v) for v in vals) or not vals[0] < vals[1]:
            raise InputError(option, f"two numbers LO,HI with LO < HI for {name}", text)
        lo, hi = vals
    if not (lo_ok <= lo and hi <= hi_ok):
        raise InputError(option, f"a bracket inside the valid range of {name}, [{lo_ok:g}, {hi_ok:g}] {unit}",
                         f"{lo:g},{hi:g}")
    for v in (lo, hi):
        try:
            base.with_overrides({name: v})
        except InputError as exc:
            raise InputError(option, f"ends that give a valid parameter set ({exc})", f"{lo:g},{hi:g}") from None
    return float(lo), float(hi)


class _Scale:
    """value <-> search variable u (log10 or the value itself)."""

    def __init__(self, kind: str):
        if kind not in ("linear", "log"):
            raise InputError("--scale", "linear or log", kind)
        self.kind = kind

    def to_u(self, x):
        return math.log10(x) if self.kind == "log" else float(x)

    def to_x(self, u):
        """(rounded to 12 significant digits: values read as written, e.g. 0.525 not 0.5249999999999999)"""
        return float(f"{10.0 ** u if self.kind == 'log' else float(u):.12g}")


# -- the root finder (pure) ------------------------------------------------------------------------
@dataclass
class RootResult:
    """What :func:`find_parameter` found: ``value`` with the capacity nearest the target of all
    evaluations, ``converged`` when within ``ftol``; ``evaluations`` are (value, capacity) in order."""

    value: float
    capacity: float
    converged: bool
    message: str
    evaluations: list = field(default_factory=list)
    bracket: tuple = ()


def find_parameter(f, lo: float, hi: float, target: float, ftol: float, xtol: float = 0.0, max_evals: int = 10,
                   scale: str = "linear", name: str = "parameter") -> RootResult:
    """The value in [lo, hi] where ``f(value)`` (a capacity) equals ``target`` to within ``ftol``.

    Evaluates both ends first (``TargetOutOfRange`` when the target is not between their
    capacities, naming both), then Illinois steps on the bracket (regula falsi; when the same end
    is kept twice in a row its residual is halved, so the bracket shrinks from both sides): no
    monotonicity or smoothness needed beyond a sign change, a nearly linear f converges in one
    or two interior evaluations. ``scale='log'`` interpolates in log10(value). Stops when a
    capacity is within ``ftol`` (converged), when the bracket is narrower than ``xtol`` (in the
    value) or after ``max_evals`` evaluations (not converged; the best value so far is returned).
    """
    if not (math.isfinite(ftol) and ftol > 0):
        raise InputError("--tol", "a capacity tolerance > 0 mAh/g", ftol)
    if max_evals < 2:
        raise InputError("--max-evals", "an integer >= 2 (both ends of the bracket)", max_evals)
    if not lo < hi:
        raise InputError("--bracket", "LO < HI", (lo, hi))
    sc = _Scale(scale)
    evals: list[tuple[float, float]] = []

    def g(x):
        q = float(f(x))
        if not math.isfinite(q):
            raise CalibrationError(f"the capacity at {name} = {x:.6g} is not a number ({q})")
        evals.append((float(x), q))
        return q - target

    def result(converged, message, a, b):
        x, q = min(reversed(evals), key=lambda e: abs(e[1] - target))  # (ties: the latest)
        return RootResult(x, q, converged, message, list(evals), (min(a, b), max(a, b)))

    ra = g(lo)
    if abs(ra) <= ftol:
        return result(True, f"capacity within {ftol:g} mAh/g of the target at the lower end", lo, hi)
    rb = g(hi)
    if abs(rb) <= ftol:
        return result(True, f"capacity within {ftol:g} mAh/g of the target at the upper end", lo, hi)
    if ra * rb > 0:
        raise TargetOutOfRange(target, name, lo, hi, ra + target, rb + target)
    a, b = sc.to_u(lo), sc.to_u(hi)
    side = 0
    while len(evals) < max_evals:
        c = (a * rb - b * ra) / (rb - ra)
        if not (min(a, b) < c < max(a, b)):  # (round-off at a collapsed bracket)
            c = 0.5 * (a + b)
        rc = g(sc.to_x(c))
        if abs(rc) <= ftol:
            return result(True, f"capacity within {ftol:g} mAh/g of the target after {len(evals)} evaluations",
                          sc.to_x(a), sc.to_x(b))
        if rc * rb > 0:  # c takes b's place; the root is between a and c
            b, rb = c, rc
            if side == -1:
                ra *= 0.5
            side = -1
        else:
            a, ra = c, rc
            if side == +1:
                rb *= 0.5
            side = +1
        if abs(sc.to_x(b) - sc.to_x(a)) <= xtol:
            return result(False, f"bracket narrower than {xtol:g} but no capacity within {ftol:g} mAh/g of the "
                          "target (a jump in the capacity?)", sc.to_x(a), sc.to_x(b))
    return result(False, f"no capacity within {ftol:g} mAh/g of the target after {max_evals} evaluations "
                  "(--max-evals)", sc.to_x(a), sc.to_x(b))


# -- curves ----------------------------------------------------------------------------------------
def read_curve(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A measured discharge curve: a CSV with a header holding ``capacity_mAh_per_g`` and
    ``voltage_V`` (other columns ignored), at least 3 rows, capacities >= 0 and non-decreasing.
    Errors name the file and the column (and the row)."""
    p = Path(path)
    if not p.is_file():
        raise InputError("--curve", "an existing CSV file", str(p))
    try:
        with open(p, newline="") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError("--curve", "a readable CSV file", f"{p} ({exc})") from None
    for col in CURVE_COLUMNS:
        if col not in header:
            raise InputError(f"{p}: column {col}", f"a CSV with the columns {', '.join(CURVE_COLUMNS)}",
                             f"columns {header}")
    cols = {c: [] for c in CURVE_COLUMNS}
    for i, row in enumerate(rows, start=2):
        row = {(k or "").strip(): v for k, v in row.items()}
        for col in CURVE_COLUMNS:
            try:
                v = float(row[col])
            except (TypeError, ValueError):
                raise InputError(f"{p}: column {col}, line {i}", "a number", row[col]) from None
            if not math.isfinite(v):
                raise InputError(f"{p}: column {col}, line {i}", "a finite number", row[col])
            cols[col].append(v)
    q, v = (np.array(cols[c]) for c in CURVE_COLUMNS)
    if q.size < 3:
        raise InputError(f"{p}", "at least 3 rows of capacity_mAh_per_g, voltage_V", f"{q.size} rows")
    if q.min() < 0 or np.any(np.diff(q) < 0):
        raise InputError(f"{p}: column capacity_mAh_per_g", "capacities >= 0, non-decreasing down the file",
                         f"{q.min():g} .. {q.max():g}" if q.min() < 0 else "a decreasing step")
    if v.min() <= 0 or v.max() > 6:
        raise InputError(f"{p}: column voltage_V", "voltages in (0, 6] V", f"{v.min():g} .. {v.max():g}")
    return q, v


def curve_residuals(sim_q, sim_v, meas_q, meas_v, volts_per_mAh_g: float | None = None) -> np.ndarray:
    """The distance (in V) of each measured point from the simulated curve in the capacity-voltage
    plane, capacity converted to volts by ``volts_per_mAh_g`` (default: the measured curve's
    voltage span over its capacity span), signed + where the simulated voltage at that capacity
    is higher. Unlike the voltage difference at equal capacity it stays proportional to a shift
    of the curve on the steep end of discharge as well as on the plateau; measured points
    beyond the simulated end count their distance from that end."""
    sq, sv = np.asarray(sim_q, float), np.asarray(sim_v, float)
    mq, mv = np.asarray(meas_q, float), np.asarray(meas_v, float)
    if sq.size == 0:
        return np.full(mq.shape, np.nan)
    if volts_per_mAh_g is None:
        span_q = float(np.ptp(mq)) or 1.0
        volts_per_mAh_g = (float(np.ptp(mv)) or 1.0) / span_q
    order = np.argsort(sq, kind="stable")
    sq, sv = sq[order] * volts_per_mAh_g, sv[order]
    px, py = mq[:, None] * volts_per_mAh_g, mv[:, None]
    if sq.size == 1:
        d = np.hypot(px[:, 0] - sq[0], py[:, 0] - sv[0])
    else:
        ax, ay, bx, by = sq[:-1], sv[:-1], sq[1:], sv[1:]
        dx, dy = bx - ax, by - ay
        den = np.where(dx * dx + dy * dy > 0, dx * dx + dy * dy, 1.0)
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / den, 0.0, 1.0)
        d = np.hypot(px - (ax + t * dx), py - (ay + t * dy)).min(axis=1)
    above = np.interp(mq, sq / volts_per_mAh_g, sv) >= mv
    return np.where(above, d, -d)


@dataclass
class FitResult:
    values: tuple
    rms_V: float
    converged: bool
    message: str
    evaluations: list = field(default_factory=list)  # (values, rms_V)


def fit_curve(f, bounds: list[tuple[float, float]], scales: list[str], max_evals: int = 12, xtol: float = 1e-3,
              x0: list[float] | None = None) -> FitResult:
    """The values (one or two) within ``bounds`` that minimise the sum of squares of the residual
    vector ``f(values)``. The search runs on each parameter mapped to [0, 1] over its bound (in
    log10 when its scale is 'log'). One parameter: Brent's bounded minimiser (scipy
    ``minimize_scalar``, ``xatol = xtol`` of the bound's width, at most ``max_evals`` evaluations).
    Two: bounded trust-region least squares (scipy ``least_squares``, 2-point differences of 2 %
    of the width, ``max_nfev = max_evals``). Repeated values are evaluated once."""
    from scipy.optimize import least_squares, minimize_scalar

    n = len(bounds)
    if n not in (1, 2) or len(scales) != n:
        raise InputError("--parameter", "one or two parameters", n)
    if max_evals < 2:
        raise InputError("--max-evals", "an integer >= 2", max_evals)
    sc = [_Scale(s) for s in scales]
    ub = [(sc[i].to_u(lo), sc[i].to_u(hi)) for i, (lo, hi) in enumerate(bounds)]
    cache: dict = {}
    evals: list = []

    def values_of(t):
        return tuple(sc[i].to_x(ub[i][0] + float(np.clip(t[i], 0, 1)) * (ub[i][1] - ub[i][0])) for i in range(n))

    def res(t):
        x = values_of(t)
        if x not in cache:
            if len(cache) >= max_evals:
                raise _Budget()
            r = np.asarray(f(x), float)
            if r.size == 0 or not np.all(np.isfinite(r)):
                raise CalibrationError(f"the residuals at {x} are not finite")
            cache[x] = r
            evals.append((x, float(np.sqrt(np.mean(r ** 2)))))
        return cache[x]

    def best(converged, message):
        x, rms = min(evals, key=lambda e: e[1])
        return FitResult(x, rms, converged, message, list(evals))

    t0 = [0.5] * n if x0 is None else [(sc[i].to_u(v) - ub[i][0]) / (ub[i][1] - ub[i][0]) for i, v in enumerate(x0)]
    try:
        if n == 1:
            out = minimize_scalar(lambda t: float(np.sum(res([t]) ** 2)), bounds=(0.0, 1.0), method="bounded",
                                  options={"xatol": xtol, "maxiter": max_evals})
            return best(bool(out.success), f"bounded Brent: {out.message} ({len(evals)} evaluations)")
        out = least_squares(res, t0, bounds=([0.0] * n, [1.0] * n), diff_step=0.02, max_nfev=max_evals,
                            xtol=xtol, ftol=1e-6)
        return best(bool(out.status > 0), f"least squares: {out.message} ({len(evals)} evaluations)")
    except _Budget:
        return best(False, f"stopped after {max_evals} evaluations (--max-evals)")


class _Budget(Exception):
    pass


# -- the discharge evaluations ---------------------------------------------------------------------
def _to_json(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _jsonable(d):
    """``d`` as JSON would give it back (tuples as lists, numpy numbers as numbers)."""
    return json.loads(json.dumps(d, default=_to_json))


def _same_key(a, b) -> bool:
    """Records of the same run: equal settings and parameters, numbers equal to 1e-9 relative
    (a value written with fewer digits is the same evaluation)."""
    return same_json(a, b, rel_tol=1e-9)


@dataclass
class Evaluation:
    """One discharge of the calibration: its parameter values, capacity (mAh/g NCM), curve, wall
    time (of the run that made it; 0 s for nothing new when reused) and folder."""

    values: dict
    capacity: float
    wall_s: float
    folder: str
    reused: bool
    curve: tuple = ((), ())
    residual: float | None = None


class DischargeEvaluator:
    """``evaluator({name: value, ...}) -> Evaluation``: one full discharge of ``labels`` with the
    base parameters and these values, as ``settings`` say, in ``outdir/eval_NN/``.

    A finished evaluation of the same parameter set and settings (``eval.json`` and a complete
    ``discharge.json``) is reused; one interrupted after a checkpoint is continued (``--restart``);
    others get the next free number. Collective under MPI (rank 0 decides and writes the records)."""

    def __init__(self, labels, voxel_um: float, outdir: str | Path, settings, base: ParameterSet, comm=None,
                 log=None, cache_dir: str | Path | None = None):
        from .fem.settings import DischargeSettings

        if comm is None:
            from ._dolfinx import MPI

            comm = MPI.COMM_WORLD
        self.labels, self.voxel_um, self.outdir = labels, float(voxel_um), Path(outdir)
        self.settings: DischargeSettings = settings.replace(params=None)
        self.base, self.comm = base, comm
        #: the runs share one mesh and one set of conductance factors (fem_twin.setup_cache)
        self.cache_dir = cache_dir
        self.log = log or ((lambda m: logger.info(m)) if comm.rank == 0 else (lambda m: None))
        self.history: list[Evaluation] = []

    def _key(self, params: ParameterSet) -> dict:
        """What makes two evaluations the same: structure, parameters and the settings that change
        the curve (not the outputs or the checkpoint cadence)."""
        import hashlib

        if not hasattr(self, "_structure"):
            lab = np.ascontiguousarray(np.asarray(self.labels, dtype=np.uint8))
            self._structure = {"sha256": hashlib.sha256(lab.tobytes()).hexdigest(), "shape": list(lab.shape),
                               "voxel_um": self.voxel_um}
        st = {k: v for k, v in self.settings.to_dict().items() if k not in ("outputs", "checkpoints", "params")}
        if st.get("transport") == "p1":  # (evaluations from before --transport were p1 and had no key)
            del st["transport"]
        return _jsonable({"structure": self._structure, "parameters": params.to_dict(), "settings": st})

    def _find(self, key: dict) -> tuple[Path, str]:
        """(folder, state): a folder with this key ('complete', 'interrupted' or 'other') or the next new one."""
        from .study.cases import run_state

        n = 0
        for d in sorted(self.outdir.glob("eval_[0-9]*")):
            try:
                n = max(n, int(d.name.split("_")[1]) + 1)
                rec = json.loads((d / EVAL_RECORD).read_text())
            except (OSError, ValueError, IndexError):
                continue
            if _same_key(rec.get("key"), key):
                state = run_state(d)
                return d, state if state in ("complete", "interrupted") else "other"
        return self.outdir / f"eval_{n:02d}", "new"

    def __call__(self, values: dict) -> Evaluation:
        from .fem.discharge_run import discharge

        params = self.base.with_overrides(dict(values))
        key = self._key(params)
        comm = self.comm
        found = None
        if comm.rank == 0:
            self.outdir.mkdir(parents=True, exist_ok=True)
            found = self._find(key)
        folder, state = comm.bcast(found, root=0)
        folder = Path(folder)
        desc = ", ".join(f"{k} = {v:.6g}" for k, v in values.items())
        if state == "complete":
            ev = comm.bcast(self._evaluation(folder, values, reused=True) if comm.rank == 0 else None, root=0)
            self.log(f"calibrate: {folder.name}: {desc} -> {ev.capacity:.2f} mAh/g [reused]")
            self.history.append(ev)
            return ev
        if comm.rank == 0:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "params.toml").write_text(
                f"# evaluation of fem-twin calibrate: {desc}\n" + params.to_toml())
            self.settings.replace(params="params.toml").save(folder / "settings.json")
            (folder / EVAL_RECORD).write_text(json.dumps({"values": values, "key": key}, indent=2) + "\n")
        comm.Barrier()
        self.log(f"calibrate: {folder.name}: {desc} -> running" + (" (continuing from its checkpoint)"
                                                                   if state == "interrupted" else ""))
        t = time.perf_counter()
        restart = state == "interrupted"
        try:
            res = discharge(self.labels, self.voxel_um, folder, self.settings, comm=comm, restart=restart,
                            params=params, cache_dir=self.cache_dir)
        except InputError:
            if not restart:
                raise
            self.log(f"calibrate: {folder.name}: its checkpoint does not fit; running it from the start")
            res = discharge(self.labels, self.voxel_um, folder, self.settings, comm=comm, params=params,
                            cache_dir=self.cache_dir)
        wall = time.perf_counter() - t
        if not res.complete:
            if res.summary.get("interrupted_at_time_s") is not None:
                raise CalibrationError(f"{folder.name} ({desc}) interrupted ({res.message}); run the same command "
                                       "again to continue")
            raise CalibrationError(f"{folder.name} ({desc}) did not finish: {res.message}")
        comm.Barrier()  # (rank 0 has written the summary)
        ev = comm.bcast(self._evaluation(folder, values, reused=False, wall_s=wall) if comm.rank == 0 else None,
                        root=0)
        self.log(f"calibrate: {folder.name}: {desc} -> {ev.capacity:.2f} mAh/g ({wall:.0f} s)")
        self.history.append(ev)
        return ev

    def _evaluation(self, folder: Path, values: dict, reused: bool, wall_s: float | None = None) -> Evaluation:
        s = json.loads((folder / "discharge.json").read_text())
        q, v = [], []
        with open(folder / "discharge.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                q.append(float(row["capacity_mAh_per_g"]))
                v.append(float(row["voltage_V"]))
        return Evaluation(dict(values), float(s["capacity_mAh_per_g"]),
                          float(s.get("wall_time_s", 0.0)) if wall_s is None else wall_s,
                          str(folder), reused, (tuple(q), tuple(v)))


# -- the whole calibration -------------------------------------------------------------------------
def calibrate_to_capacity(evaluate, name: str, bracket: tuple[float, float], target: float, ftol: float,
                          max_evals: int, scale: str, xtol: float = 0.0):
    """:func:`find_parameter` on ``evaluate({name: value}).capacity``; returns (RootResult, [Evaluation])."""
    evs: list[Evaluation] = []

    def f(x):
        ev = evaluate({name: x})
        ev.residual = ev.capacity - target
        evs.append(ev)
        return ev.capacity

    try:
        res = find_parameter(f, bracket[0], bracket[1], target, ftol, xtol=xtol, max_evals=max_evals, scale=scale,
                             name=name)
    except (TargetOutOfRange, CalibrationError) as exc:
        exc.evaluations = evs
        raise
    return res, evs


def calibrate_to_curve(evaluate, names: list[str], brackets: list[tuple[float, float]], meas_q, meas_v,
                       max_evals: int, scales: list[str], xtol: float = 1e-3):
    """:func:`fit_curve` of the simulated curves to (meas_q, meas_v); returns (FitResult, [Evaluation])."""
    evs: list[Evaluation] = []

    def f(x):
        ev = evaluate(dict(zip(names, x)))
        r = curve_residuals(ev.curve[0], ev.curve[1], meas_q, meas_v)
        ev.residual = float(np.sqrt(np.mean(r ** 2)))
        evs.append(ev)
        return r

    try:
        res = fit_curve(f, brackets, scales, max_evals=max_evals, xtol=xtol)
    except CalibrationError as exc:
        exc.evaluations = evs
        raise
    return res, evs


def calibration_note(source: str, what: str, where: str) -> str:
    """The note a calibrated value carries: ``fitted to SOURCE (WHAT) by fem-twin calibrate on WHERE, DATE``."""
    return f"fitted to {source} ({what}) by fem-twin calibrate on {where}, {time.strftime('%Y-%m-%d')}"


def note_of_the_same_fit(outdir: Path, note: str, fitted_values: dict, evaluations: list[Evaluation]) -> str:
    """``note``, or the note ``outdir/calibration.json`` already holds when this calibration computed
    nothing new (every evaluation reused) and found the same values with the same note but for its
    date: the date says when the value was fitted, so a re-run on a later day keeps the fitted
    parameter file byte for byte (a study that compares its --params file sees no change)."""
    if not evaluations or not all(e.reused for e in evaluations):
        return note
    try:
        before = json.loads((Path(outdir) / "calibration.json").read_text())
    except (OSError, ValueError):
        return note
    old = before.get("note")
    if (isinstance(old, str) and before.get("fitted_values") == fitted_values
            and old.rpartition(", ")[0] == note.rpartition(", ")[0]):
        return old
    return note


def write_report(outdir: Path, report: dict, fitted: ParameterSet | None, evaluations: list[Evaluation],
                 meas=None) -> list[Path]:
    """``calibration.json`` (``report`` plus every evaluation), the fitted TOML (when ``fitted``) and
    ``calibration.png``; rank 0 only. A failing plot only warns."""
    import warnings

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    report = dict(report)
    report["evaluations"] = [{"folder": Path(e.folder).name, **{k: v for k, v in e.values.items()},
                              "capacity_mAh_per_g": e.capacity,
                              ("residual_mAh_per_g" if report.get("mode") == "capacity" else "rms_residual_V"):
                                  e.residual,
                              "wall_s": round(e.wall_s, 2), "reused": e.reused} for e in evaluations]
    report["runs"] = len(evaluations)
    report["new_runs"] = sum(not e.reused for e in evaluations)
    report["wall_s_of_the_runs"] = round(sum(e.wall_s for e in evaluations), 1)
    written = []
    if fitted is not None:
        p = outdir / FITTED_TOML
        p.write_text("# written by fem-twin calibrate (see calibration.json); load with --params\n"
                     + fitted.to_toml())
        report["fitted_parameters_file"] = p.name
        written.append(p)
    p = outdir / REPORT
    p.write_text(json.dumps(_jsonable(report), indent=2) + "\n")
    written.insert(0, p)
    try:
        written.append(plot_calibration(outdir / PLOT, report, evaluations, meas))
    except Exception as exc:  # the plot must not lose the calibration
        warnings.warn(f"calibration plot not written: {exc.__class__.__name__}: {exc}", RuntimeWarning, stacklevel=2)
    return written


def plot_calibration(path: Path, report: dict, evaluations: list[Evaluation], meas=None) -> Path:
    """Left: capacity against the parameter (target mode; every evaluation numbered, the target and
    its tolerance) or the RMS residual against the evaluation (curve mode). Right: the discharge
    curves of the evaluations, the fitted one bold, the measured curve (curve mode)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = report["parameters"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    fitted = report.get("fitted_values") or {}
    if report.get("mode") == "capacity":
        name = names[0]
        xs = [e.values[name] for e in evaluations]
        qs = [e.capacity for e in evaluations]
        ax1.plot(xs, qs, "o", color="C0")
        for i, (x, q) in enumerate(zip(xs, qs)):
            ax1.annotate(str(i + 1), (x, q), textcoords="offset points", xytext=(4, 4), fontsize=8)
        order = np.argsort(xs)
        ax1.plot(np.asarray(xs)[order], np.asarray(qs)[order], "-", color="C0", alpha=0.4)
        t, tol = report["target_capacity_mAh_per_g"], report["tolerance_mAh_per_g"]
        ax1.axhline(t, color="k", lw=0.8)
        ax1.axhspan(t - tol, t + tol, color="k", alpha=0.1)
        if name in fitted:
            ax1.axvline(fitted[name], color="C3", lw=0.8, ls="--")
        if report.get("scale", {}).get(name) == "log":
            ax1.set_xscale("log")
        ax1.set_xlabel(name)
        ax1.set_ylabel("capacity (mAh/g NCM)")
        ax1.set_title(f"target {t:g} ± {tol:g} mAh/g: {'converged' if report.get('converged') else 'NOT converged'}",
                      fontsize=10)
    else:
        ax1.plot(range(1, len(evaluations) + 1), [1e3 * (e.residual or np.nan) for e in evaluations], "o-")
        ax1.set_xlabel("evaluation")
        ax1.set_ylabel("RMS voltage residual (mV)")
        ax1.set_yscale("log")
        ax1.set_title(", ".join(names), fontsize=10)
    best = report.get("best_folder")
    for e in evaluations:
        lab = ", ".join(f"{k}={v:.4g}" for k, v in e.values.items())
        bold = Path(e.folder).name == best
        ax2.plot(e.curve[0], e.curve[1], lw=2.0 if bold else 0.8, alpha=1.0 if bold else 0.5,
                 color="C3" if bold else None, label=lab + (" (fitted)" if bold else ""))
    if meas is not None:
        ax2.plot(meas[0], meas[1], "k.", ms=4, label="measured")
    ax2.set_xlabel("capacity (mAh/g NCM)")
    ax2.set_ylabel("voltage (V)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
