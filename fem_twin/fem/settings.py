"""The settings of one discharge run, validated, with every default in this module.

:class:`DischargeSettings` is what ``fem-twin discharge`` (``--settings case.json`` and its options),
``demos/discharge.py`` and each case of ``fem-twin study discharge`` build and hand to
:func:`fem_twin.fem.discharge_run.discharge`; so one electrode gives one curve whatever the entry
point. Sections:

- ``protocol`` (text, e.g. ``"discharge 1C to 3.0 V; rest 10 min"``), ``params`` (a TOML file of
  cell parameters, or null), ``mesher``, ``transport``, ``temperature_K`` (K, or absent: the parameters' own);
- ``separator``: thickness (um) and the growth factor of its mesh layers;
- ``stepping``: the adaptive time stepping (:class:`SteppingOptions`);
- ``solver``: linear solver and extra PETSc options;
- ``outputs``: XDMF fields, their cadence, progress lines;
- ``checkpoints``: every how many accepted steps ``checkpoint.npz`` is written.

JSON: :meth:`DischargeSettings.to_json` / :meth:`DischargeSettings.from_json` (a missing key takes
its default; an unknown key or a bad value is an :class:`~fem_twin.errors.InputError` naming the
field, e.g. ``stepping.dt_max_h: expected a fraction of an hour in (0, 1], got 3``).

The time-step defaults (issue 17: the CLI, the demo and the study used different ones) are the
demo's first step and largest step with the CLI's saturation limit: 1/100 h at the step's C-rate
first, at most 1/20 h, at most 0.1 V per step, a concentration failure below 2e-4 h ends the step as
surface saturation; the separator mesh is graded (growth 1.5).

No DOLFINx here: the module is imported by command-line parsing.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ..errors import InputError
from ..meshing.meshers import DEFAULT_MESHER, MESHERS
from .transport_matching import DEFAULT_TRANSPORT, TRANSPORTS  # noqa: F401 (re-exported)

# -- the defaults ------------------------------------------------------------------------------
C_RATE = 1.0  #: discharge C-rate of the default protocol
CUTOFF_V = 3.0  #: its cut-off voltage
DT_INITIAL_H = 0.01  #: first time step of a protocol step, fraction of an hour at its C-rate
DT_MAX_H = 0.05  #: largest time step, fraction of an hour at the C-rate (0.1 h wasted Newton steps)
MAX_DV_V = 0.1  #: largest voltage change per time step before dt shrinks
SATURATION_DT_H = 2e-4  #: a failure below this dt (fraction of an hour) may end the step (SurfaceSaturation)
MAX_DI = 0.2  #: CV hold: largest relative change of the current per time step before dt shrinks
CUTOFF_TOL_I = 0.01  #: CV hold: a step ending below its end current by more than this fraction is shortened
LITHIATION_OVERSHOOT = 0.0  #: accepted NCM lithiation past (0, 1) per node (0: a node at x >= 1 rejects the step)
SNES_MAX_ITS = 25  #: SNES's Newton limit of the discharge (``discharge_snes_max_it``)
NEWTON_MAX_ITS = 12  #: Newton iterations of a time step before it is cut back (SNES's own limit: SNES_MAX_ITS)
SEPARATOR_UM = 30.0  #: the seed's LPSCl separator
SEPARATOR_GROWTH = 1.5  #: graded separator mesh (a 30 um separator in 11 layers, curve within 1 mV)
OUTPUT_EVERY = 10  #: XDMF fields every N accepted steps
CHECKPOINT_EVERY = 10  #: checkpoint.npz every N accepted steps (0: only on SIGTERM)
SOLVERS = ("auto", "mumps", "fieldsplit")


def default_protocol_text(c_rate: float = C_RATE, cutoff_V: float = CUTOFF_V) -> str:
    """``discharge <c_rate>C to <cutoff> V`` (exact: the numbers round-trip)."""
    return f"discharge {float(c_rate)!r}C to {float(cutoff_V)!r} V"


# -- validation helpers ------------------------------------------------------------------------
def _number(section: str, name: str, v, expected: str, ok, optional: bool = False):
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not ok(v):
        raise InputError(f"{section}.{name}", expected + (" or null" if optional else ""), v)
    return float(v)


def _integer(section: str, name: str, v, lo: int):
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise InputError(f"{section}.{name}", f"an integer >= {lo}", v)
    return v


def _flag(section: str, name: str, v):
    if not isinstance(v, bool):
        raise InputError(f"{section}.{name}", "true or false", v)
    return v


def _set(obj, name, value):
    object.__setattr__(obj, name, value)  # (frozen dataclasses: normalise in __post_init__)


def _positive(x):
    return x > 0


def _non_negative(x):
    return x >= 0


def _fraction_of_hour(x):
    return 0 < x <= 1


# -- sections ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SteppingOptions:
    """Adaptive backward-Euler stepping (:func:`fem_twin.fem.stepping.run_protocol`). Times in
    fractions of an hour (``_h``) are per protocol step, at its C-rate (a rest: its duration)."""

    dt_initial_h: float = DT_INITIAL_H  #: first time step of each protocol step
    dt_max_h: float = DT_MAX_H  #: largest time step
    dt_initial_s: float | None = None  #: first time step in s (overrides dt_initial_h)
    dt_max_s: float | None = None  #: largest time step in s (overrides dt_max_h)
    dt_min_s: float = 1e-4
    grow: float = 1.6
    cut: float = 0.25
    max_cutbacks: int = 10
    easy_newton_its: int = 5
    #: a time step longer than ``saturation_dt`` whose Newton solve has not converged after this
    #: many iterations is cut back (fail fast: on the seed's full cell an iteration costs 10-40 s and
    #: the accepted steps take 3-8); shorter steps and the potentials' solve at the start of a
    #: protocol step keep SNES's own limit (``discharge_snes_max_it``, 25), which also caps this one
    newton_max_its: int = NEWTON_MAX_ITS
    max_dV: float = MAX_DV_V
    cutoff_tol_V: float = 2e-3
    output_every: int = OUTPUT_EVERY  #: XDMF fields every N accepted steps (and at each step's end)
    #: a concentration-bound failure with dt below this fraction of an hour at the C-rate ends the
    #: step as "surface saturated" (the kinetics sqrt(c_max - c_s) cannot carry the current); so
    #: does any failure below it once the time step creeps (the last accepted step shorter than
    #: ``collapse_dt``) with the NCM surface saturated (fem_twin/fem/terminations.py)
    saturation_dt: float = SATURATION_DT_H
    #: step-collapse guard: ``collapse_steps`` accepted steps in a row shorter than ``collapse_dt``
    #: (fraction of an hour at the C-rate), or the last ``stall_steps`` accepted steps together
    #: shorter than ``stall_dt`` (fraction of an hour: the mean lithiation has stopped advancing),
    #: end the step: as "surface saturation" when the NCM surface is saturated (discharge) or
    #: emptied (charge), as a failed run otherwise
    collapse_dt: float = 2e-4
    collapse_steps: int = 20
    stall_steps: int = 200
    stall_dt: float = 0.05
    #: CV holds (the current is the output): dt shrinks when the current changed by more than
    #: ``max_dI`` times itself in one step (else it grows by ``grow`` up to ``dt_max``); a time step
    #: whose current ends below the hold's end current by more than ``cutoff_tol_I`` (relative) is
    #: shortened (interpolated in ln|I|), like a CC step overshooting its cut-off voltage
    max_dI: float = MAX_DI
    cutoff_tol_I: float = CUTOFF_TOL_I
    #: how far an NCM node's lithiation x may leave (0, 1) in an accepted time step: a Newton solution
    #: with a node outside (-tol, 1 + tol) is rejected (and, below ``saturation_dt``, ends the step as
    #: surface saturation). 0 (default): the first node at x >= 1 does. The lumped scheme keeps x in
    #: (0, 1) only on meshes whose NCM stiffness is an M-matrix (the voxel mesh's Kuhn tetrahedra); on
    #: the smooth gmsh mesh ~27 % of the NCM edges couple with K_ij > 0 and diffusion can push a node
    #: near c_max past 1 while the rest of the electrode still carries the current (docs/rate_study.md,
    #: "How the 0.5C and 1C runs end"). A node past 1 takes no current (the kinetics see x clipped to
    #: 1 - 1e-10, or smoothed: ``saturation_smoothing``, without which Newton stalls once a node has
    #: crossed); each CSV row reports the largest x and discharge.json the run's
    #: (``lithiation_bounds``), so what was let through is on file
    lithiation_overshoot: float = LITHIATION_OVERSHOOT

    def __post_init__(self):
        s = "stepping"
        hour = "a fraction of an hour in (0, 1]"
        for name, expected, ok, opt in (
                ("dt_initial_h", hour, _fraction_of_hour, False), ("dt_max_h", hour, _fraction_of_hour, False),
                ("dt_initial_s", "a time step > 0 s", _positive, True),
                ("dt_max_s", "a time step > 0 s", _positive, True),
                ("dt_min_s", "a time step > 0 s", _positive, False), ("grow", "a factor >= 1", lambda x: x >= 1, False),
                ("cut", "a factor in (0, 1)", lambda x: 0 < x < 1, False),
                ("max_dV", "a voltage > 0 V", _positive, False), ("cutoff_tol_V", "a voltage > 0 V", _positive, False),
                ("saturation_dt", "a fraction of an hour >= 0", _non_negative, False),
                ("collapse_dt", "a fraction of an hour >= 0", _non_negative, False),
                ("stall_dt", "a fraction of an hour >= 0", _non_negative, False),
                ("max_dI", "a fraction > 0", _positive, False),
                ("cutoff_tol_I", "a fraction in (0, 1)", lambda x: 0 < x < 1, False),
                ("lithiation_overshoot", "a lithiation in [0, 0.5)", lambda x: 0 <= x < 0.5, False)):
            _set(self, name, _number(s, name, getattr(self, name), expected, ok, optional=opt))
        for name, lo in (("max_cutbacks", 0), ("easy_newton_its", 0), ("output_every", 1), ("collapse_steps", 0),
                         ("stall_steps", 0), ("newton_max_its", 1)):
            _integer(s, name, getattr(self, name), lo)

    def first_dt_s(self, hour_s: float) -> float:
        """The first time step of a protocol step whose hour at its C-rate is ``hour_s`` seconds."""
        return self.dt_initial_s or hour_s * self.dt_initial_h

    def max_dt_s(self, hour_s: float) -> float:
        return self.dt_max_s or hour_s * self.dt_max_h

    def as_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class SeparatorSettings:
    """The LPSCl separator between the Li plane and the composite."""

    thickness_um: float = SEPARATOR_UM
    growth: float = SEPARATOR_GROWTH  #: mesh layers grow by this factor away from the composite (1: voxels)

    def __post_init__(self):
        _set(self, "thickness_um", _number("separator", "thickness_um", self.thickness_um, "a thickness >= 0 um",
                                           _non_negative))
        _set(self, "growth", _number("separator", "growth", self.growth, "a factor >= 1", lambda x: x >= 1))


@dataclass(frozen=True)
class SolverSettings:
    """``name``: auto (MUMPS up to 30k unknowns, field split above), mumps or fieldsplit;
    ``petsc``: extra options ``KEY=VALUE`` (prefix discharge_ for SNES, discharge_inner_ for the
    linear solver)."""

    name: str = "auto"
    petsc: tuple = ()

    def __post_init__(self):
        if self.name not in SOLVERS:
            raise InputError("solver.name", " or ".join(SOLVERS), self.name)
        if isinstance(self.petsc, str) or not all(isinstance(x, str) for x in self.petsc):
            raise InputError("solver.petsc", "a list of KEY=VALUE strings", self.petsc)
        _set(self, "petsc", tuple(self.petsc))

    def spec(self):
        """The :class:`~fem_twin.fem.discharge_solvers.LinearSolverSpec` (checks the PETSc options)."""
        from .discharge_solvers import LinearSolverSpec

        return LinearSolverSpec.parse(self.name, list(self.petsc))


@dataclass(frozen=True)
class OutputSettings:
    fields: bool = True  #: XDMF fields (fields_*.xdmf)
    output_every: int = OUTPUT_EVERY  #: fields every N accepted steps (and at each step's end)
    quiet: bool = False  #: no progress lines

    def __post_init__(self):
        _flag("outputs", "fields", self.fields)
        _flag("outputs", "quiet", self.quiet)
        _integer("outputs", "output_every", self.output_every, 1)


@dataclass(frozen=True)
class CheckpointSettings:
    every: int = CHECKPOINT_EVERY  #: checkpoint.npz every N accepted steps (0: only on SIGTERM)
    #: wall-time budget in s: then a checkpoint and the run stops as after SIGTERM (None: none)
    max_wall_s: float | None = None

    def __post_init__(self):
        _integer("checkpoints", "every", self.every, 0)
        _set(self, "max_wall_s", _number("checkpoints", "max_wall_s", self.max_wall_s, "a time > 0 s", _positive,
                                         optional=True))

    def options(self, restart: bool = False):
        """:class:`~fem_twin.fem.checkpoint.CheckpointOptions` of a run (``restart``: continue one)."""
        from .checkpoint import CheckpointOptions

        return CheckpointOptions(every=self.every, restart=bool(restart), max_wall_s=self.max_wall_s)


_SECTIONS = {"separator": SeparatorSettings, "stepping": SteppingOptions, "solver": SolverSettings,
             "outputs": OutputSettings, "checkpoints": CheckpointSettings}
#: stepping fields kept out of the settings' stepping section (outputs.output_every sets it)
_STEPPING_HIDDEN = ("output_every",)
#: stepping fields added after settings files and calibration records existed: written only when
#: they differ from these defaults, so the settings of a run that does not use them are the same
#: JSON as before (a calibration's evaluation keys, fem_twin/calibration.py, still match)
_STEPPING_WRITTEN_WHEN_SET = {"lithiation_overshoot": LITHIATION_OVERSHOOT}


@dataclass(frozen=True)
class DischargeSettings:
    """Everything of a discharge run except the structure, the output folder and ``--restart``."""

    protocol: str = default_protocol_text()
    params: str | None = None  #: TOML file of cell parameters (fem_twin/parameters/cell.py), None: defaults
    mesher: str = DEFAULT_MESHER
    separator: SeparatorSettings = field(default_factory=SeparatorSettings)
    stepping: SteppingOptions = field(default_factory=SteppingOptions)
    solver: SolverSettings = field(default_factory=SolverSettings)
    outputs: OutputSettings = field(default_factory=OutputSettings)
    checkpoints: CheckpointSettings = field(default_factory=CheckpointSettings)
    #: cell temperature in K (None: the parameter set's ``temperature_K``); k, D_s, D_e and kappa
    #: follow their Arrhenius factors when the parameter set has activation energies
    temperature_K: float | None = None
    #: "fv-matched" (each phase's conductivity a diagonal tensor such that the mesh's conductances along
    #: x, y, z equal the extrapolated voxel finite-volume ones, fem_twin/fem/transport_matching.py) or
    #: "p1" (plain P1)
    transport: str = DEFAULT_TRANSPORT

    def __post_init__(self):
        _set(self, "temperature_K", _number("settings", "temperature_K", self.temperature_K,
                                            "a temperature in [200, 400] K", lambda x: 200 <= x <= 400,
                                            optional=True))
        if not isinstance(self.protocol, str) or not self.protocol.strip():
            raise InputError("protocol", "steps such as 'discharge 1C to 3.0 V; rest 10 min'", self.protocol)
        self.protocol_object()  # (parses: InputError on a bad step)
        if self.params is not None and not isinstance(self.params, str):
            raise InputError("params", "the path of a TOML file or null", self.params)
        if self.mesher not in MESHERS:
            raise InputError("mesher", " or ".join(MESHERS), self.mesher)
        if self.transport not in TRANSPORTS:
            raise InputError("transport", " or ".join(TRANSPORTS), self.transport)
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise InputError(name, f"a {cls.__name__}", getattr(self, name))

    # -- what the run takes ----------------------------------------------------------------------
    def protocol_object(self):
        from ..protocol import Protocol

        return Protocol.parse(self.protocol)

    def parameters(self):
        """The :class:`~fem_twin.parameters.cell.ParameterSet` (defaults, or ``params`` read)."""
        from ..parameters.cell import ParameterSet

        p = ParameterSet.from_toml(self.params) if self.params else ParameterSet()
        return p.at_temperature(self.temperature_K)

    def stepping_options(self) -> SteppingOptions:
        """The time loop's options, with the fields cadence of ``outputs``."""
        return replace(self.stepping, output_every=self.outputs.output_every)

    def replace(self, **changes) -> "DischargeSettings":
        """A copy with top-level fields or, as ``section__field=value``, section fields changed."""
        top = {k: v for k, v in changes.items() if "__" not in k}
        by_section: dict = {}
        for k, v in changes.items():
            if "__" in k:
                sec, name = k.split("__", 1)
                by_section.setdefault(sec, {})[name] = v
        for sec, ch in by_section.items():
            top[sec] = replace(getattr(self, sec), **ch)
        return replace(self, **top)

    # -- JSON --------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {"protocol": self.protocol, "params": self.params, "mesher": self.mesher, "transport": self.transport}
        if self.temperature_K is not None:
            d["temperature_K"] = self.temperature_K
        for name in _SECTIONS:
            sec = asdict(getattr(self, name))
            if name == "stepping":
                for k in _STEPPING_HIDDEN:
                    sec.pop(k)
                for k, default in _STEPPING_WRITTEN_WHEN_SET.items():
                    if sec[k] == default:
                        sec.pop(k)
            if name == "solver":
                sec["petsc"] = list(sec["petsc"])
            d[name] = sec
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path) -> Path:
        path = Path(path)
        path.write_text(self.to_json() + "\n")
        return path

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> "DischargeSettings":
        """Settings from a dict like :meth:`to_dict`'s (missing keys: defaults). ``where`` prefixes
        the field in errors (a file name)."""
        pre = f"{where}: " if where else ""
        if not isinstance(d, dict):
            raise InputError(pre + "settings", "a JSON object", d)
        top = {f.name for f in fields(cls)}
        kw = {}
        for key, value in d.items():
            if key not in top:
                raise InputError(pre + str(key), "a settings field: " + ", ".join(sorted(top)), value)
            if key in _SECTIONS:
                sec_cls = _SECTIONS[key]
                names = [f.name for f in fields(sec_cls) if not (key == "stepping" and f.name in _STEPPING_HIDDEN)]
                if not isinstance(value, dict):
                    raise InputError(pre + key, "an object with " + ", ".join(names), value)
                for k in value:
                    if k not in names:
                        raise InputError(f"{pre}{key}.{k}", f"a field of {key}: " + ", ".join(names), value[k])
                kw[key] = value
            else:
                kw[key] = value
        try:
            sections = {k: _SECTIONS[k](**v) for k, v in kw.items() if k in _SECTIONS}
            return cls(**{**kw, **sections})
        except InputError as exc:
            if not pre:
                raise
            raise InputError(pre + exc.field, exc.expected, exc.got) from None

    @classmethod
    def from_json(cls, text: str, where: str = "") -> "DischargeSettings":
        try:
            d = json.loads(text)
        except ValueError as exc:
            raise InputError(where or "settings", f"JSON ({exc})", text[:60]) from None
        return cls.from_dict(d, where)

    @classmethod
    def load(cls, path) -> "DischargeSettings":
        """Settings from a JSON file; a relative ``params`` path is taken relative to the file."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise InputError("--settings", "a readable JSON settings file", f"{path} ({exc.strerror})") from None
        st = cls.from_json(text, where=str(path))
        if st.params and not Path(st.params).is_absolute():
            st = replace(st, params=str((path.parent / st.params).resolve()))
        return st
