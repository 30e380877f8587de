"""A pseudo-two-dimensional (P2D, Doyle-Fuller-Newman) half cell built from a 3D structure's numbers.

PyBaMM's DFN with ``{"working electrode": "positive"}`` (Li metal counter electrode, separator,
composite cathode) is given the numbers our 3D model sees, so that the difference between the
two curves is what homogenisation loses (issue 18, section 4). Mapping (:class:`P2DInputs`, units
in the names; every value carries its source in ``sources``):

- electrode thickness L and face area A_cc: the structure's (``analysis.json``: shape x voxel);
- separator thickness: the 3D cell's (``discharge.json`` of the 3D run, else ``--separator``),
  pure LPSCl: porosity 1, tortuosity factor 1;
- NCM volume fractions (``analysis.json``): ``eps_ncm`` all NCM (defines 1C and the mass, as the 3D
  run does: :func:`fem_twin.fem.discharge_run.electrode_numbers`), ``eps_ncm_active`` the NCM
  connected to the collector with the finite-element mesh's non-periodic convention (the 3D run
  makes the rest inert): PyBaMM's active material volume fraction;
- electrolyte volume fraction ``eps_lpscl``: LPSCl connected to the separator (non-periodic);
- transport: ``b_ncm`` and ``b_lpscl`` = sigma_eff / sigma along z from ``conductivity_ncm.json``
  and ``conductivity_lpscl.json`` (the through-plane transport efficiency, no Bruggeman
  exponent). PyBaMM option ``"transport efficiency": "tortuosity factor"`` multiplies a phase's
  intrinsic conductivity by eps_k / tau_k, with eps_k the porosity (electrolyte) or 1 - porosity
  (electrode), so tau_e = eps_lpscl / b_lpscl and tau_s = (1 - eps_lpscl) / b_ncm give exactly
  sigma_eff = b sigma;
- reacting area per electrode volume ``area_per_volume_per_m``: ``analysis.json``'s
  ``active_contact_area_density_per_m`` (NCM | LPSCl faces between NCM connected to the collector
  and LPSCl connected to the separator). Estimate ``raw`` (voxel faces, the staircase) is the area
  the 3D discharge's kinetics integrate over on the voxel mesh (``interface_area = "mesh"``, the
  default); ``corrected`` (raw x 2/3, the isotropic estimate of the smooth surface) approximates
  what ``interface_area = "smoothed-normal"`` weights the facets to; ``"3d-run"`` is that weighted
  area itself, from a 3D run's ``discharge.json`` (:func:`area_of_3d_run`; on the demo's polyhedral
  particles it is 17 % below raw x 2/3). :func:`area_estimate_for` picks the analysis estimate
  matching the parameter set, the command prefers ``3d-run`` for smoothed-normal when it has a 3D
  run, so both models see the same area; PyBaMM's spheres have a = 3 eps_s / R, the
  difference goes into the exchange current (``area_factor``, see
  :mod:`fem_twin.parameters.pybamm_values`);
- particle radius ``radius_um``: half the volume-weighted mean diameter D[4,3] of the design's NCM
  (secondary-particle) PSD (:func:`volume_weighted_radius_um`), the size that holds most of the
  capacity; ``sauter_radius_um`` (D[3,2] / 2) is reported alongside;
- OCP, exchange current, D_s, c_max, initial lithiation, temperature, Li | LPSCl exchange current:
  the same :class:`~fem_twin.parameters.cell.ParameterSet`;
- the solid electrolyte: a single-ion conductor. The 3D model's equations for LPSCl (kappa,
  D_e, t+ with i_e = -kappa grad phi_e + 2 kappa RT/F (1 - t+) grad ln c_e) are PyBaMM's
  concentrated-solution electrolyte with thermodynamic factor 1, so the DFN gets
  kappa = sigma_LPSCl(eps_NCM) (the seed's formula, as in 3D), D_e = d_lpscl, t+ = t_plus (0.99)
  and c_e0 = c_lpscl; with t_plus = 1 or ``freeze_electrolyte`` t+ = 1, so c_e stays flat
  exactly (no source term), as the 3D model freezes it.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import FemTwinError, FileFormatError, InputError
from .parameters.cell import FARADAY, ParameterSet
from .protocol import Protocol

AREA_ESTIMATES = ("raw", "corrected", "3d-run")
CONDUCTIVITY_FILES = {"ncm": "conductivity_ncm.json", "lpscl": "conductivity_lpscl.json"}
INSTALL_HINT = "PyBaMM is not installed: pip install fem_twin[p2d]"


class MissingPyBaMM(FemTwinError):
    """PyBaMM (the optional extra ``p2d``) is not installed."""

    def __init__(self):
        super().__init__(INSTALL_HINT)


class P2DSolverError(RuntimeError):
    """PyBaMM's solver failed (the run did not finish: exit code 1 on the command line)."""


def _pybamm():
    from .parameters.pybamm_values import import_pybamm

    try:
        return import_pybamm()
    except ImportError:
        raise MissingPyBaMM() from None


@dataclass(frozen=True)
class P2DInputs:
    """Homogenised description of a composite cathode (see the module docstring for each source)."""

    thickness_um: float  #: composite electrode thickness L (um)
    separator_um: float  #: LPSCl separator thickness (um)
    face_area_um2: float  #: electrode face area A_cc (um2)
    eps_ncm: float  #: all NCM / electrode volume (defines 1C and the NCM mass)
    eps_ncm_active: float  #: NCM connected to the collector / electrode volume (holds the capacity)
    eps_lpscl: float  #: LPSCl connected to the separator / electrode volume (the electrolyte)
    b_ncm: float  #: sigma_eff / sigma of NCM through the electrode (z)
    b_lpscl: float  #: sigma_eff / sigma of LPSCl through the electrode (z)
    area_per_volume_per_m: float  #: NCM | LPSCl reacting area / electrode volume (1/m)
    area_estimate: str  #: 'raw' (voxel faces), 'corrected' (x 2/3) or '3d-run' (the 3D kinetics' area)
    radius_um: float  #: particle radius (um): D[4,3] / 2 of the NCM PSD
    sauter_radius_um: float = math.nan  #: D[3,2] / 2 of the same PSD (um), for reference
    sources: dict = field(default_factory=dict)  #: value name -> where it came from

    def __post_init__(self):
        for name in ("thickness_um", "face_area_um2", "eps_ncm", "eps_ncm_active", "eps_lpscl", "b_ncm",
                     "b_lpscl", "area_per_volume_per_m", "radius_um"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise InputError(name, "a finite number > 0", v)
        if not (isinstance(self.separator_um, (int, float)) and math.isfinite(self.separator_um)
                and self.separator_um > 0):
            raise InputError("--separator", "a thickness > 0 um", self.separator_um)
        for name in ("eps_ncm", "eps_ncm_active", "eps_lpscl", "b_ncm", "b_lpscl"):
            if getattr(self, name) > 1:
                raise InputError(name, "a fraction <= 1", getattr(self, name))
        if self.eps_ncm_active + self.eps_lpscl > 1 + 1e-12:
            raise InputError("eps_ncm_active + eps_lpscl", "<= 1", self.eps_ncm_active + self.eps_lpscl)
        if self.area_estimate not in AREA_ESTIMATES:
            raise InputError("--area", " or ".join(AREA_ESTIMATES), self.area_estimate)

    # -- derived ---------------------------------------------------------------------------------
    @property
    def sphere_area_per_volume_per_m(self) -> float:
        """3 eps_ncm_active / R (1/m): the area of PyBaMM's spheres per electrode volume."""
        return 3.0 * self.eps_ncm_active / (self.radius_um * 1e-6)

    @property
    def area_factor(self) -> float:
        """Reacting area / the spheres' area: the factor on PyBaMM's exchange current."""
        return self.area_per_volume_per_m / self.sphere_area_per_volume_per_m

    @property
    def tortuosity_electrolyte(self) -> float:
        """PyBaMM's tau_e = eps_lpscl / b_lpscl."""
        return self.eps_lpscl / self.b_lpscl

    @property
    def tortuosity_electrode(self) -> float:
        """PyBaMM's tau_s = (1 - porosity) / b_ncm (PyBaMM's solid fraction is 1 - porosity)."""
        return (1.0 - self.eps_lpscl) / self.b_ncm

    def ncm_volume_m3(self, active: bool = False) -> float:
        eps = self.eps_ncm_active if active else self.eps_ncm
        return eps * self.thickness_um * self.face_area_um2 * 1e-18

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["derived"] = {"area_factor": self.area_factor,
                        "sphere_area_per_volume_per_m": self.sphere_area_per_volume_per_m,
                        "tortuosity_electrolyte": self.tortuosity_electrolyte,
                        "tortuosity_electrode": self.tortuosity_electrode}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "P2DInputs":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# -- input extraction -----------------------------------------------------------------------------
def volume_weighted_radius_um(psd) -> float:
    """Half the volume-weighted mean diameter D[4,3] = sum_i w_i d_i (um) of a volume-based PSD
    table (:class:`~fem_twin.microstructure.psd.ParticleSizeDistribution`; w_i the volume in class
    i, d_i its geometric mid-diameter)."""
    d = np.asarray(psd.diameters_um, float)
    w = np.diff(np.asarray(psd.cumulative, float))
    mid = np.sqrt(d[1:] * d[:-1])
    return float(0.5 * np.sum(w * mid) / np.sum(w))


def sauter_radius_um(psd) -> float:
    """Half the Sauter mean diameter D[3,2] = 1 / sum_i (w_i / d_i) (um) of a volume-based PSD."""
    d = np.asarray(psd.diameters_um, float)
    w = np.diff(np.asarray(psd.cumulative, float))
    mid = np.sqrt(d[1:] * d[:-1])
    return float(0.5 * np.sum(w) / np.sum(w / mid))


def area_estimate_for(params: ParameterSet) -> str:
    """'raw' for ``interface_area = "mesh"`` (the 3D kinetics on the voxel faces), 'corrected' for
    ``"smoothed-normal"`` (facets weighted towards the smooth surface's area; :func:`area_of_3d_run`
    gives the weighted area itself when a 3D run exists)."""
    return "raw" if params.interface_area == "mesh" else "corrected"


def area_of_3d_run(run_dir: str | Path) -> tuple[float, str]:
    """(area in um2, source) the kinetics of a 3D run integrated over: ``discharge.json``
    ``mesh.interface_weighted_area_um2`` (smoothed-normal weights) or ``mesh.interface_area_um2``."""
    path = Path(run_dir) / "discharge.json"
    mesh = _get(_read_json(path, "the 3D run's summary"), path, "mesh")
    for key in ("interface_weighted_area_um2", "interface_area_um2"):
        v = mesh.get(key)
        if isinstance(v, (int, float)) and v > 0:
            return float(v), f"{path}: mesh.{key}"
    raise FileFormatError(path, "no mesh.interface_area_um2")


def mesher_of_3d_run(run_dir: str | Path) -> str:
    """The mesher of a 3D run (``discharge.json`` ``mesh.mesher``; runs without it were voxel runs)."""
    path = Path(run_dir) / "discharge.json"
    return str(_get(_read_json(path, "the 3D run's summary"), path, "mesh").get("mesher") or "voxel")


def conductances_of_3d_run(run_dir: str | Path) -> dict | None:
    """{"ncm": (b, source), "lpscl": (b, source)}: the through-plane (z) sigma_eff / sigma a 3D run
    with ``transport = "fv-matched"`` gave its phases (``discharge.json`` ``transport.<phase>.fv[2]``,
    the extrapolated finite-volume target its P1 tensor was matched to), or None for a plain-P1 run
    (whose conductances are the P1 ones of ``conductivity --method p1``). A phase whose z axis was
    not matched is left out."""
    path = Path(run_dir) / "discharge.json"
    rec = _read_json(path, "the 3D run's summary").get("transport")
    if not isinstance(rec, dict) or rec.get("transport") != "fv-matched":
        return None
    out = {}
    for phase in CONDUCTIVITY_FILES:
        m = rec.get(phase)
        if not isinstance(m, dict):
            continue
        fv, p1 = m.get("fv") or (), m.get("p1") or ()
        if len(fv) == 3 and len(p1) == 3 and all(isinstance(v, (int, float)) and v > 0 for v in (fv[2], p1[2])):
            out[phase] = (float(fv[2]), f"{path}: transport.{phase}.fv[2] (the 3D run's matched target: "
                                        "finite volumes 1x and 2x extrapolated)")
    return out or None


def _read_json(path: Path, hint: str) -> dict:
    from .outputs import read_json_object

    return read_json_object(path, f"no such file ({hint})")


def _get(d: dict, path: Path, *keys):
    v = d
    for k in keys:
        if not isinstance(v, dict) or k not in v:
            raise FileFormatError(path, f"no key {'.'.join(keys)}")
        v = v[k]
    return v


def read_conductivity(d: Path, phase: str) -> tuple[float, str]:
    """(sigma_eff / sigma, source) of ``phase`` along z from ``d/conductivity_<phase>.json``."""
    path = Path(d) / CONDUCTIVITY_FILES[phase]
    c = _read_json(path, f"run 'fem-twin conductivity {d} --phase {phase} --method p1'")
    if str(c.get("axis", "z")).lower() != "z":
        raise FileFormatError(path, f"axis {c.get('axis')!r}, the P2D needs z (through the electrode)")
    if not c.get("percolates", False) or not (c.get("relative_conductivity") or 0) > 0:
        raise InputError(f"{path.name}", f"{phase} conducting along z (the P2D needs a path; the P1 "
                         "method, 26-connected as the discharge, may find one)",
                         f"no path (method {c.get('method')})")
    b = float(_get(c, path, "relative_conductivity"))
    return b, f"{path.name}: relative_conductivity (method {c.get('method')}, mesher {c.get('mesher', 'voxel')})"


def inputs_from_directory(d: str | Path, separator_um: float, params: ParameterSet | None = None,
                          area_estimate: str | None = None, separator_source: str = "--separator",
                          area_um2: tuple[float, str] | None = None,
                          conductances: dict | None = None) -> P2DInputs:
    """:class:`P2DInputs` of the structure in ``d`` from ``design.json``, ``analysis.json`` and
    ``conductivity_{ncm,lpscl}.json`` (InputError naming the missing file and the command that
    writes it). ``area_estimate``: 'raw', 'corrected' or None (:func:`area_estimate_for`);
    ``area_um2``: (area in um2, its source) to use instead, e.g. :func:`area_of_3d_run`;
    ``conductances``: {phase: (sigma_eff / sigma along z, source)} to use instead of a phase's
    conductivity file, e.g. :func:`conductances_of_3d_run`."""
    from .design import ElectrodeDesign

    d = Path(d)
    params = params or ParameterSet()
    est = "3d-run" if area_um2 is not None else (area_estimate or area_estimate_for(params))
    if est not in AREA_ESTIMATES[:2] and area_um2 is None:
        raise InputError("--area", " or ".join(AREA_ESTIMATES), est)
    dpath = d / "design.json"
    meta = _read_json(dpath, f"run 'fem-twin generate ... -o {d}'")
    if not meta.get("design"):
        raise InputError("design.json", "a generated structure's design (its NCM PSD gives the particle "
                         "radius)", "no design (an imported image)")
    psd = ElectrodeDesign.from_dict(meta["design"]).ncm_psd
    apath = d / "analysis.json"
    a = _read_json(apath, f"run 'fem-twin analyze {d}'")
    shape = [int(n) for n in _get(a, apath, "shape")]
    h = float(_get(a, apath, "voxel_size_um"))
    vf = _get(a, apath, "volume_fraction")
    dead = _get(a, apath, "dead_fraction_nonperiodic")
    if area_um2 is None:
        area = float(_get(a, apath, "active_contact_area_density_per_m", est))
        area_src = (f"analysis.json: active_contact_area_density_per_m.{est} "
                    f"(interface_area = {params.interface_area!r} in the parameter set)")
    else:
        area = float(area_um2[0]) / (shape[0] * shape[1] * shape[2] * h ** 3) * 1e6
        area_src = area_um2[1]
    given = conductances or {}
    b_ncm, src_ncm = given["ncm"] if "ncm" in given else read_conductivity(d, "ncm")
    b_lps, src_lps = given["lpscl"] if "lpscl" in given else read_conductivity(d, "lpscl")
    sources = {
        "thickness_um": "analysis.json: shape[2] x voxel_size_um",
        "face_area_um2": "analysis.json: shape[0] x shape[1] x voxel_size_um^2",
        "separator_um": separator_source,
        "eps_ncm": "analysis.json: volume_fraction.ncm",
        "eps_ncm_active": "analysis.json: volume_fraction.ncm x (1 - dead_fraction_nonperiodic.ncm)",
        "eps_lpscl": "analysis.json: volume_fraction.lpscl x (1 - dead_fraction_nonperiodic.lpscl)",
        "b_ncm": src_ncm, "b_lpscl": src_lps,
        "area_per_volume_per_m": area_src,
        "radius_um": "design.json: ncm_psd, D[4,3] / 2 (volume-weighted)",
    }
    return P2DInputs(
        thickness_um=shape[2] * h, separator_um=float(separator_um), face_area_um2=shape[0] * shape[1] * h * h,
        eps_ncm=float(vf["ncm"]), eps_ncm_active=float(vf["ncm"]) * (1.0 - float(dead["ncm"])),
        eps_lpscl=float(vf["lpscl"]) * (1.0 - float(dead["lpscl"])), b_ncm=b_ncm, b_lpscl=b_lps,
        area_per_volume_per_m=area, area_estimate=est, radius_um=volume_weighted_radius_um(psd),
        sauter_radius_um=sauter_radius_um(psd), sources=sources)


# -- the model ------------------------------------------------------------------------------------
def one_c_current_A(inputs: P2DInputs, params: ParameterSet) -> float:
    """1C of the electrode (A): all its NCM's mass x the practical capacity, as the 3D run."""
    return params.one_c_current_A(inputs.ncm_volume_m3())


def parameter_values(inputs: P2DInputs, params: ParameterSet, current_A: float, cutoff_V: float = 3.0):
    """PyBaMM parameter values of the DFN half cell (see the module docstring)."""
    from .parameters.pybamm_values import half_cell_parameter_values

    _pybamm()
    p = params
    sigma_e = p.sigma_lpscl(inputs.eps_ncm)
    d_e = p.d_lpscl_m2_s
    t_plus = 1.0 if p.frozen_ce else p.t_plus
    electrolyte = {
        "Electrolyte conductivity [S.m-1]": lambda c_e, T: sigma_e + 0.0 * c_e,
        "Electrolyte diffusivity [m2.s-1]": lambda c_e, T: d_e + 0.0 * c_e,
        "Cation transference number": t_plus,
        "Thermodynamic factor": 1.0,
        "Positive electrode tortuosity factor (electrolyte)": inputs.tortuosity_electrolyte,
        "Positive electrode tortuosity factor (electrode)": inputs.tortuosity_electrode,
        "Separator tortuosity factor (electrolyte)": 1.0,
        "Separator porosity": 1.0,
        "Separator thickness [m]": inputs.separator_um * 1e-6,
        "Negative electrode charge transfer coefficient": p.alpha_a,
    }
    i_li = p.li_exchange_current_A_m2 if p.li_contact == "butler-volmer" else 1e8
    return half_cell_parameter_values(
        p, radius_m=inputs.radius_um * 1e-6, eps_s=inputs.eps_ncm_active, thickness_m=inputs.thickness_um * 1e-6,
        face_area_m2=inputs.face_area_um2 * 1e-12, current_A=current_A, cutoff_V=cutoff_V,
        nominal_capacity_Ah=one_c_current_A(inputs, params), area_factor=inputs.area_factor,
        porosity=inputs.eps_lpscl, sigma_s_S_m=p.sigma_ncm_S_m, li_exchange_current_A_m2=i_li,
        electrolyte=electrolyte)


def experiment_steps(protocol: Protocol) -> list[str]:
    """PyBaMM experiment strings of our protocol steps (C-rates of the nominal capacity = 1C)."""
    out = []
    for s in protocol.steps:
        if s.kind == "rest":
            out.append(f"Rest for {s.duration_s:.10g} seconds")
            continue
        if s.kind == "hold":
            parts = ([f"for {s.duration_s:.10g} seconds"] if s.duration_s is not None else []) + \
                    ([f"until C/{1.0 / s.until_c_rate:.10g}"] if s.until_c_rate is not None else [])
            out.append(f"Hold at {s.hold_V:.10g} V " + " or ".join(parts))
            continue
        if s.kind == "profile":
            from .errors import InputError

            raise InputError("protocol", "steps the P2D cross-check can run (not 'profile')", s.describe())
        verb = "Discharge" if s.kind == "discharge" else "Charge"
        parts = []
        if s.duration_s is not None:
            parts.append(f"for {s.duration_s:.10g} seconds")
        if s.until_V is not None:
            parts.append(f"until {s.until_V:.10g} V")
        out.append(f"{verb} at {s.c_rate:.10g}C " + " or ".join(parts))
    return out


@dataclass
class P2DCurve:
    """The P2D run's rows (one per output time) and its per-step capacities."""

    time_s: np.ndarray
    step: np.ndarray
    voltage_V: np.ndarray
    current_A: np.ndarray  #: > 0 on discharge
    capacity_mAh_per_g: np.ndarray  #: charge passed in the current step / NCM mass
    mean_lithiation: np.ndarray
    step_capacity_mAh_per_g: list  #: per step: |charge| / NCM mass
    mass_g: float

    def rows(self) -> list[dict]:
        return [{"time_s": float(t), "step": int(k), "voltage_V": float(v), "current_A": float(i),
                 "capacity_mAh_per_g": float(q), "mean_lithiation": float(x)}
                for t, k, v, i, q, x in zip(self.time_s, self.step, self.voltage_V, self.current_A,
                                            self.capacity_mAh_per_g, self.mean_lithiation)]


def mesh_points(n_x: int = 30) -> dict:
    """PyBaMM mesh: ``n_x`` points across the electrode, 10 across the separator, 30 in r."""
    return {"x_s": 10, "x_p": int(n_x), "r_p": 30}


def run(inputs: P2DInputs, params: ParameterSet, protocol: Protocol, model: str = "DFN",
        n_x: int = 30, period_s: float | None = None, rtol: float = 1e-8) -> P2DCurve:
    """Run ``protocol`` on PyBaMM's ``model`` ('DFN', or 'SPM' / 'SPMe' for checks) half cell of
    ``inputs`` and return the curve. ``period_s``: output interval (default: 1/400 h at the
    largest C-rate)."""
    pybamm = _pybamm()
    from .parameters.pybamm_values import kinetics_option

    i1c = one_c_current_A(inputs, params)
    first = protocol.steps[0]
    cutoff = min([s.until_V for s in protocol.steps if s.until_V is not None and s.kind == "discharge"] or [3.0])
    pv = parameter_values(inputs, params, first.c_rate * i1c if first.kind != "rest" else 0.0, cutoff)
    pv.update({"Lower voltage cut-off [V]": min(cutoff, 2.5), "Upper voltage cut-off [V]": 5.0})
    options = {"working electrode": "positive", "intercalation kinetics": kinetics_option(params)}
    if model == "DFN":
        options["transport efficiency"] = "tortuosity factor"
    cls = {"DFN": pybamm.lithium_ion.DFN, "SPM": pybamm.lithium_ion.SPM, "SPMe": pybamm.lithium_ion.SPMe}[model]
    m = cls(options)
    rate = max([s.c_rate for s in protocol.steps if s.kind != "rest"] or [1.0])
    period = period_s or 3600.0 / rate / 400.0
    exp = pybamm.Experiment(experiment_steps(protocol), period=f"{period:.10g} seconds")
    var_pts = {**m.default_var_pts, **(mesh_points(n_x) if model == "DFN" else {"r_p": 30})}
    sim = pybamm.Simulation(m, parameter_values=pv, experiment=exp, var_pts=var_pts,
                            solver=pybamm.IDAKLUSolver(rtol=rtol, atol=rtol * 1e-2))
    try:
        sol = sim.solve()
    except pybamm.SolverError as exc:
        raise P2DSolverError(f"PyBaMM's solver failed: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    mass_g = inputs.ncm_volume_m3() * params.density_ncm_g_cm3 * 1e6
    c_tot = inputs.ncm_volume_m3(active=True) * params.c_ncm_max_mol_m3 * FARADAY  # C per unit lithiation
    cols = {k: [] for k in ("t", "k", "v", "i", "q", "x")}
    caps = []
    passed = 0.0
    for k, s in enumerate([st for c in sol.cycles for st in c.steps]):
        t = np.asarray(s["Time [s]"].entries, float)
        i = np.asarray(s["Current [A]"].entries, float)
        v = np.asarray(s["Voltage [V]"].entries, float)
        q = np.concatenate([[0.0], np.cumsum(0.5 * (i[1:] + i[:-1]) * np.diff(t))])  # C, > 0 on discharge
        cols["t"].append(t), cols["k"].append(np.full(t.size, k)), cols["v"].append(v), cols["i"].append(i)
        cols["q"].append(np.abs(q) / 3.6 / mass_g)
        cols["x"].append(params.initial_lithiation + (passed + q) / c_tot)
        passed += float(q[-1])
        caps.append(float(abs(q[-1]) / 3.6 / mass_g))
    cat = {k: np.concatenate(v) for k, v in cols.items()}
    return P2DCurve(cat["t"], cat["k"].astype(int), cat["v"], cat["i"], cat["q"], cat["x"], caps, mass_g)


# -- comparison with the 3D run -------------------------------------------------------------------
def compare_curves(q_3d, v_3d, q_p2d, v_p2d, fraction: float = 0.9) -> dict:
    """Capacities (mAh/g) of both first discharges, their relative difference (P2D / 3D - 1) and
    max |V_P2D - V_3D| (V) at the 3D curve's points up to ``fraction`` of the smaller end capacity
    (equal capacity in mAh/g; ``mean_dV_V`` the mean of V_P2D - V_3D there)."""
    q_3d, v_3d, q_p2d, v_p2d = (np.asarray(a, float) for a in (q_3d, v_3d, q_p2d, v_p2d))
    cap3, capp = float(q_3d[-1]), float(q_p2d[-1])
    qmax = fraction * min(cap3, capp)

    def mono(q, v):  # keep the last voltage of repeated capacities (the IR row at Q = 0)
        keep = np.ones(q.size, bool)
        keep[:-1] = np.diff(q) > 0
        return q[keep], v[keep]

    q3, v3 = mono(q_3d, v_3d)
    qp, vp = mono(q_p2d, v_p2d)
    # at the 3D run's accepted steps (its time steps are long, a line between two of them is not
    # its curve), after the instantaneous ohmic drop at Q = 0; the dense P2D curve interpolated there
    grid = q3[(q3 > 0) & (q3 <= qmax)]
    dv = np.interp(grid, qp, vp) - np.interp(grid, q3, v3) if grid.size else np.array([np.nan])
    k = int(np.argmax(np.abs(dv)))
    return {"capacity_3d_mAh_g": cap3, "capacity_p2d_mAh_g": capp, "capacity_difference_rel": capp / cap3 - 1.0,
            "max_dV_V": float(np.abs(dv[k])), "max_dV_at_mAh_g": float(grid[k]) if grid.size else math.nan,
            "max_dV_up_to_mAh_g": qmax, "mean_dV_V": float(np.mean(dv)), "points": int(grid.size)}


def write_csv(path: Path, curve: P2DCurve) -> Path:
    rows = curve.rows()
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.10g}" if isinstance(v, float) else v) for k, v in r.items()})
    return path


def plot(path: Path, curve: P2DCurve, label: str, curve_3d: dict | None = None, comparison: dict | None = None):
    """V against mAh/g of the P2D's first step, over the 3D curve when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    if curve_3d is not None:
        ax.plot(curve_3d["capacity_mAh_per_g"], curve_3d["voltage_V"], "k-", lw=1.6, label="3D (fem_twin)")
    m = curve.step == 0
    ax.plot(curve.capacity_mAh_per_g[m], curve.voltage_V[m], "C1--", lw=1.6, label="P2D (PyBaMM DFN)")
    ax.set_xlabel("specific capacity (mAh/g NCM)")
    ax.set_ylabel("voltage vs Li/Li$^+$ (V)")
    title = f"{label}"
    if comparison:
        title += (f": 3D {comparison['capacity_3d_mAh_g']:.1f}, P2D {comparison['capacity_p2d_mAh_g']:.1f} mAh/g, "
                  f"max |dV| {1e3 * comparison['max_dV_V']:.0f} mV")
    ax.set_title(title, fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
