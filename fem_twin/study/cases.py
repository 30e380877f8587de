"""The cases of the parameter studies. Shared by ``fem-twin study conductivity`` and ``fem-twin study
discharge`` (and ``fem-twin render``): the parsing of the study's lists (one accepted NCM wt% range,
:data:`NCM_WT_RANGE`), the case folders (:func:`structure_dir`) and their structures
(:func:`ensure_structure`). The discharge study's own: what every case shares (:class:`StudySettings`),
the cases (:class:`Case`: NCM wt% x C-rate x seed) and their states.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..fem import settings as S
from ..meshing.meshers import DEFAULT_MESHER

#: NCM wt% accepted by both studies, ends included (the seed's designs are 60-90 wt%; far outside,
#: the LPSCl or the NCM network stops percolating and the results are meaningless)
NCM_WT_RANGE = (50.0, 90.0)


#: C-rates accepted (the seed's study is 0.1-1C; the demo's stepping is tuned for <= a few C)
C_RATE_RANGE = (0.0, 10.0)


#: the settings of each case's run (fem_twin/fem/settings.py), written next to it
CASE_SETTINGS = "settings.json"


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
    """``--compositions`` of both studies: comma-separated NCM wt% values (NBR 2 wt%, LPSCl the rest)
    within :data:`NCM_WT_RANGE` (ends included), duplicates removed. A trailing comma is fine
    (``"60,"``); an empty item between values (``"60,,70"``) is an error. Errors are
    :class:`InputError` naming ``--compositions``."""
    lo, hi = NCM_WT_RANGE
    items = str(text).split(",")
    if items and not items[-1].strip():  # the trailing comma
        items = items[:-1]
    if any(not v.strip() for v in items):
        raise InputError("--compositions", f"comma-separated NCM wt% values in [{lo:g}, {hi:g}] "
                         "without empty items", text)
    return parse_float_list(text, "--compositions", "NCM wt% values", lo, hi, lo_open=False)


def parse_c_rates(text: str) -> list[float]:
    """C-rates > 0 and <= :data:`C_RATE_RANGE` [1]."""
    return parse_float_list(text, "--c-rates", "C-rates", *C_RATE_RANGE)


def parse_seeds(text: str) -> list[int]:
    t = str(text).strip()
    try:
        if "-" in t and "," not in t:
            a, b = (int(v) for v in t.split("-"))
            seeds = list(range(a, b + 1))
        else:
            seeds = [int(v) for v in t.split(",")]  # an empty item ("1,,2") is an error
    except ValueError:
        raise InputError("--seeds", "a range like 1-5 or a list like 1,2,3", text) from None
    if not seeds or min(seeds) < 0 or max(seeds) >= 2 ** 63:
        raise InputError("--seeds", "a non-empty range or list of seeds in [0, 2**63 - 1]", text)
    return seeds


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


def structure_dir(root: Path, ncm_wt: float, seed: int) -> Path:
    """The folder of one composition and seed in a study directory: ``ROOT/ncm<W>_seed<S>``
    (``.`` in the wt% written as ``p``, e.g. ``ncm72p5_seed1``)."""
    return Path(root) / f"ncm{ncm_wt:g}_seed{int(seed)}".replace(".", "p")


def ensure_structure(root: Path, ncm_wt: float, seed: int, size_um: tuple[float, float], voxel_um: float) -> Path:
    """Generate ``structure.npz`` of NCM ``ncm_wt`` wt% and ``seed`` (x, y extent ``size_um``, voxel
    ``voxel_um``) into :func:`structure_dir` like ``fem-twin generate``, unless it exists; return the
    folder. Used by both studies (the conductivity study calls it on rank 0)."""
    import dataclasses

    import numpy as np

    from ..design import Composition, ElectrodeDesign
    from ..microstructure.generate import generate
    from ..microstructure.image import STRUCTURE_FILE

    d = structure_dir(root, ncm_wt, seed)
    if (d / STRUCTURE_FILE).exists():
        return d
    design = ElectrodeDesign(composition=Composition.from_ncm_wt(ncm_wt), size_x_um=size_um[0],
                             size_y_um=size_um[1], voxel_um=voxel_um)
    image = generate(design, np.random.default_rng(seed))
    dataclasses.replace(image, seed=int(seed)).save(d)
    return d


@dataclass(frozen=True)
class StudySettings:
    """What every case of a study shares. Lengths in um, voltage in V, time steps in hours at the C-rate."""

    size_x_um: float = 50.0
    size_y_um: float = 50.0
    separator_um: float = S.SEPARATOR_UM
    separator_growth: float = S.SEPARATOR_GROWTH  #: graded separator mesh (1: voxel layers)
    mesher: str = DEFAULT_MESHER  #: voxel or smooth (fem_twin.meshing.meshers)
    transport: str = S.DEFAULT_TRANSPORT  #: fv-matched or p1 (fem_twin.fem.transport_matching)
    cutoff_V: float = S.CUTOFF_V
    ranks: int = 2
    voxel_um: float = 0.5
    params_file: str | None = None
    solver: str = "auto"
    dt_max_h: float = S.DT_MAX_H
    max_dod: float | None = None
    fields: str = "first-seed"
    output_every: int = 5
    mpirun: str | None = None
    #: accepted NCM lithiation past [0, 1] (SteppingOptions.lithiation_overshoot; 0: the strict bound)
    lithiation_overshoot: float = S.LITHIATION_OVERSHOOT

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

    def discharge_settings(self, c_rate: float, fields: bool) -> S.DischargeSettings:
        """The settings of one case's run: the defaults with the study's choices."""
        return S.DischargeSettings(
            protocol=self.protocol_text(c_rate),
            params=str(Path(self.params_file).resolve()) if self.params_file else None, mesher=self.mesher,
            transport=self.transport,
            separator=S.SeparatorSettings(thickness_um=self.separator_um, growth=self.separator_growth),
            stepping=S.SteppingOptions(dt_max_h=self.dt_max_h, lithiation_overshoot=self.lithiation_overshoot),
            solver=S.SolverSettings(self.solver),
            outputs=S.OutputSettings(fields=bool(fields), output_every=self.output_every))


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
    if not (math.isfinite(st.lithiation_overshoot) and 0 <= st.lithiation_overshoot < 0.5):
        raise InputError("--lithiation-overshoot", "a lithiation in [0, 0.5)", st.lithiation_overshoot)
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
        return structure_dir(root, self.ncm_wt, self.seed)

    def run_dir(self, root: Path) -> Path:
        return self.structure_dir(root) / f"c{self.c_rate:g}C"


def case_list(compositions, c_rates, seeds) -> list[Case]:
    """Every composition x C-rate x seed, seed by seed (the first seed covers the table first), and
    within a seed C-rate by C-rate: two instances do not start the runs of one structure together,
    and the later runs find its mesh and conductance factors in its cache (:mod:`fem_twin.setup_cache`)."""
    return [Case(float(w), float(r), int(s)) for s in seeds for r in c_rates for w in compositions]


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
    transport = (summary.get("transport") or {}).get("transport", "p1")
    if transport != st.transport:
        return f"transport {transport} (study: {st.transport})"
    want = Protocol.parse(st.protocol_text(case.c_rate)).describe()
    if summary.get("protocol") != want:
        return f"protocol '{summary.get('protocol')}' (study: '{want}')"
    if summary.get("parameters") != params_dict:
        return "other cell parameters (--params)"
    tol = float((summary.get("lithiation_bounds") or {}).get("overshoot_allowed", S.LITHIATION_OVERSHOOT))
    if abs(tol - st.lithiation_overshoot) > 1e-12:
        return f"lithiation overshoot {tol:g} (study: {st.lithiation_overshoot:g})"
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


def case_structure(case: Case, root: Path, st: StudySettings) -> Path:
    """The discharge study's structure of ``case`` (:func:`ensure_structure` with the study's size)."""
    return ensure_structure(root, case.ncm_wt, case.seed, (st.size_x_um, st.size_y_um), st.voxel_um)


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
