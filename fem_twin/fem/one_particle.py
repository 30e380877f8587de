"""One NCM particle in an ideal electrolyte: the 3D discharge model against PyBaMM's SPM (issue 15).

Set-up (the single-particle model's assumptions): an NCM hemisphere of true radius R whose flat
face is the current collector (by the mirror symmetry of its no-flux flat face, half a sphere),
in LPSCl; ideal conduction in both phases, frozen electrolyte, ideal Li contact
(:data:`SPM_OVERRIDES`). Our 3D model (:func:`fem_twin.fem.discharge_run.run_discharge`, any
``mesher``) is compared with ``pybamm.lithium_ion.SPM({"working electrode": "positive"})``, a
model we did not write, given the same physics (:func:`pybamm_parameter_values`):

- OCP: :meth:`fem_twin.parameters.ocp.OpenCircuitPotential.pybamm`, the same function of the
  stoichiometry;
- exchange current: ours is i0 = k c_max sqrt(c_e) sqrt(x (1 - x)) = k sqrt(c_e c_s (c_max - c_s))
  A/m2 with c in mol/m3, PyBaMM's "Positive electrode exchange-current density [A.m-2]" is that
  function of (c_e, c_s_surf, c_s_max, T); PyBaMM's symmetric Butler-Volmer 2 j0 sinh(F eta / 2RT)
  is ours with alpha_a = alpha_c = 1/2 (asymmetric: PyBaMM's j0 [exp(a F eta/RT) - exp(-(1 - a)
  F eta/RT)] with a = alpha_a needs alpha_a + alpha_c = 1);
- the same D_s, c_max, c_e, temperature, initial lithiation; Li metal exchange current 1e8 A/m2
  (eta_Li < 1e-9 V: the ideal contact); negligible ohmic terms (conductivity 1e6 S/m);
- the TRUE radius R and volume V = 2/3 pi R^3 of the hemisphere (area 3V/R = 2 pi R^2 in the SPM's
  a = 3 eps / R), not the staircase's.

Current: each model at 1C of its own NCM volume (ours: the voxel count, as run_discharge defines
1C; PyBaMM: the true hemisphere), so both pass the same fraction of their capacity per second and
are compared at equal times = equal mean lithiation. The voxel volume differs from the true one
(+0.8 % at R = 6 and 10 voxels); at the same current in amperes that alone would shift the curves
by dU/dx * dx ~ 10 mV late in the discharge, which is not the interface error sought here.

``max_dV`` is max |V_3D - V_pybamm| over t <= 0.9 t_end(PyBaMM) (the first 90 % of PyBaMM's
capacity to the cut-off, i.e. of the charge at 1C).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import phases
from ..parameters.cell import FARADAY, ParameterSet
from ..parameters.pybamm_values import half_cell_parameter_values, import_pybamm, kinetics_option

#: ideal electrolyte and solid conduction, frozen c_e, ideal Li contact: the SPM's assumptions
SPM_OVERRIDES = {"sigma_ncm_S_m": 100.0, "sigma_lpscl_S_m": 100.0, "freeze_electrolyte": True,
                 "li_contact": "ideal"}


def hemisphere_on_collector(r_vox: int, pad: int = 2) -> np.ndarray:
    """Labels of a voxelised NCM hemisphere of radius ``r_vox`` voxels whose flat face is the
    collector plane (centre on the top plane at a voxel corner), surrounded by LPSCl."""
    n, nz = 2 * (r_vox + pad), r_vox + pad
    c = np.arange(n) + 0.5 - n / 2
    z = np.arange(nz) + 0.5 - nz
    X, Y, Z = np.meshgrid(c, c, z, indexing="ij")
    lab = np.full((n, n, nz), phases.LPSCL, np.uint8)
    lab[X ** 2 + Y ** 2 + Z ** 2 < r_vox ** 2] = phases.NCM
    return lab


def hemisphere_volume_m3(radius_m: float) -> float:
    return 2.0 / 3.0 * math.pi * radius_m ** 3


# -- PyBaMM ---------------------------------------------------------------------------------------
def pybamm_parameter_values(params: ParameterSet, radius_m: float, volume_m3: float, current_A: float,
                            cutoff_V: float = 3.0):
    """PyBaMM parameter values of a Li | electrolyte | positive-electrode half cell whose electrode
    holds ``volume_m3`` of NCM in spheres of ``radius_m`` (see the module docstring; the translation
    is :func:`fem_twin.parameters.pybamm_values.half_cell_parameter_values`)."""
    eps, thick = 0.5, 10e-6  # any split of V = eps * L * A_cc: the SPM sees only V and R
    return half_cell_parameter_values(params, radius_m=radius_m, eps_s=eps, thickness_m=thick,
                                      face_area_m2=volume_m3 / (eps * thick), current_A=current_A,
                                      cutoff_V=cutoff_V)


@dataclass
class Curve:
    time_s: np.ndarray
    voltage_V: np.ndarray
    charge_C: np.ndarray
    volume_m3: float
    current_A: float

    def capacity_mAh_g(self, params: ParameterSet) -> float:
        return float(self.charge_C[-1]) / 3.6 / (self.volume_m3 * params.density_ncm_g_cm3 * 1e6)


def pybamm_discharge(params: ParameterSet, radius_m: float, volume_m3: float, c_rate: float = 1.0,
                     cutoff_V: float = 3.0, n_r: int = 100, rtol: float = 1e-9) -> Curve:
    """Constant-current discharge of PyBaMM's half-cell SPM to ``cutoff_V`` at ``c_rate`` of the
    particle volume's 1C (``params.one_c_current_A(volume_m3)``)."""
    pybamm = import_pybamm()
    current = c_rate * params.one_c_current_A(volume_m3)
    pv = pybamm_parameter_values(params, radius_m, volume_m3, current, cutoff_V)
    model = pybamm.lithium_ion.SPM({"working electrode": "positive", "intercalation kinetics": kinetics_option(params)})
    var_pts = {**model.default_var_pts, "r_p": int(n_r)}
    sim = pybamm.Simulation(model, parameter_values=pv, var_pts=var_pts,
                            solver=pybamm.IDAKLUSolver(rtol=rtol, atol=rtol * 1e-2))
    # to full lithiation at most (the cut-off event ends it first)
    t_end = 1.2 * (1.0 - params.initial_lithiation) * volume_m3 * params.c_ncm_max_mol_m3 * FARADAY / current
    sol = sim.solve([0.0, t_end], t_interp=np.linspace(0.0, t_end, 4001))
    t = np.asarray(sol["Time [s]"].entries)
    v = np.asarray(sol["Voltage [V]"].entries)
    if v[-1] > cutoff_V + 1e-3:
        raise RuntimeError(f"PyBaMM's SPM ended at {v[-1]:.4f} V before the {cutoff_V} V cut-off")
    return Curve(t, v, current * t, volume_m3, current)


# -- the 3D model -----------------------------------------------------------------------------------
def voxel_run(r_vox: int, radius_um: float, outdir, mesher=None, interface_area: str = "mesh",
              dt_s: float = 72.0, comm=None, params: ParameterSet | None = None, sigma_vox: float | None = None):
    """1C discharge to 3.0 V of the hemisphere of :func:`hemisphere_on_collector` (``r_vox``
    voxels for ``radius_um``) with our 3D model; returns the DischargeResult."""
    from .._dolfinx import MPI
    from ..protocol import Protocol
    from .discharge_run import run_discharge
    from .stepping import SteppingOptions

    comm = MPI.COMM_SELF if comm is None else comm
    h = radius_um / r_vox
    over = dict(SPM_OVERRIDES, interface_area=interface_area)
    if sigma_vox is not None:
        over["interface_normal_sigma_vox"] = float(sigma_vox)
    p = (params or ParameterSet()).with_overrides(over)
    return run_discharge(hemisphere_on_collector(r_vox), h, outdir, params=p,
                         protocol=Protocol.parse("discharge 1C to 3.0 V"), separator_um=h, comm=comm,
                         write_fields=False, quiet=True, mesher=mesher, separator_growth=1.0,
                         stepping=SteppingOptions(dt_initial_s=dt_s, dt_max_s=dt_s, max_dV=0.05))


@dataclass
class Comparison:
    label: str
    r_vox: int
    unknowns: int
    max_dV_mV: float  #: over the first 90 % of PyBaMM's capacity
    max_dV_late_mV: float  #: same, after the first 300 s
    capacity_mAh_g: float
    capacity_pybamm_mAh_g: float
    interface_area_rel: float  #: area the kinetics see / 2 pi R^2
    volume_rel: float  #: NCM volume of the mesh / 2/3 pi R^3
    seconds: float
    conservation: float = float("nan")  #: max |interface current - applied| / 1C over the run

    @property
    def capacity_ratio(self) -> float:
        return self.capacity_mAh_g / self.capacity_pybamm_mAh_g


def compare(result, reference: Curve, params: ParameterSet, radius_um: float, label: str, r_vox: int,
            seconds: float = float("nan")) -> Comparison:
    """Compare a finished 3D run with the PyBaMM curve (see the module docstring)."""
    rows = result.rows
    t = np.array([r["time_s"] for r in rows])
    v = np.array([r["voltage_V"] for r in rows])
    t90 = 0.9 * reference.time_s[-1]
    if t[-1] < t90:
        raise RuntimeError(f"the 3D run ended at {t[-1]:.0f} s, before 90 % of PyBaMM's discharge ({t90:.0f} s)")
    m = t <= t90
    dv = np.abs(v[m] - np.interp(t[m], reference.time_s, reference.voltage_V))
    mesh = result.summary["mesh"]
    r_m = radius_um * 1e-6
    area = mesh["interface_weighted_area_um2"] or mesh["interface_area_um2"]
    return Comparison(label, r_vox, int(mesh["unknowns"]), 1e3 * float(dv.max()),
                      1e3 * float(dv[t[m] > 300.0].max()), float(result.summary["capacity_mAh_per_g"]),
                      reference.capacity_mAh_g(params), area * 1e-12 / (2 * math.pi * r_m ** 2),
                      mesh["ncm_volume_um3"] * 1e-18 / hemisphere_volume_m3(r_m), seconds,
                      float(result.summary["conservation"]["max_interface_vs_applied_rel_1C"]))


def compare_with_pybamm(r_vox: int, outdir, radius_um: float = 2.0, mesher=None, interface_area: str = "mesh",
                        label: str | None = None, dt_s: float = 72.0, comm=None,
                        reference: Curve | None = None, sigma_vox: float | None = None,
                        params: ParameterSet | None = None) -> Comparison:
    """Run :func:`voxel_run` (``mesher``: None for the voxel mesh, or e.g. build_smooth_mesh) and
    compare it with PyBaMM's SPM of the true hemisphere (``reference``: computed if None).
    ``params``: the 3D model's set before :data:`SPM_OVERRIDES` (default ParameterSet()); PyBaMM
    gets the same values, its kinetics always the clipped ones (``saturation_smoothing`` is ours)."""
    p = (params or ParameterSet()).with_overrides(SPM_OVERRIDES)
    r_m = radius_um * 1e-6
    if reference is None:
        reference = pybamm_discharge(p, r_m, hemisphere_volume_m3(r_m))
    t0 = time.perf_counter()
    res = voxel_run(r_vox, radius_um, Path(outdir), mesher=mesher, interface_area=interface_area, dt_s=dt_s,
                    comm=comm, sigma_vox=sigma_vox, params=params)
    if not res.complete:
        raise RuntimeError(f"3D run incomplete: {res.message}")
    lab = label or (("voxel-weighted" if interface_area != "mesh" else "voxel") if mesher is None else
                    getattr(mesher, "__name__", str(mesher)))
    return compare(res, reference, p, radius_um, lab, r_vox, time.perf_counter() - t0)


# -- a constant-voltage hold (issue 18) --------------------------------------------------------------
@dataclass
class HoldCurve:
    """The CV hold of a CC-CV experiment: time since the hold began (s), current / the model's own
    1C current (> 0 discharge), and the hold's length (s)."""

    time_s: np.ndarray
    c_rate: np.ndarray
    hold_s: float


def pybamm_cc_cv(params: ParameterSet, radius_m: float, volume_m3: float, hold_V: float, c_rate: float = 1.0,
                 until_c_rate: float = 1.0 / 50.0, n_r: int = 100, rtol: float = 1e-9) -> HoldCurve:
    """PyBaMM's half-cell SPM (same set-up as :func:`pybamm_discharge`) run through the experiment
    ``Discharge at {c_rate}C until {hold_V} V``, ``Hold at {hold_V} V until C/{1/until_c_rate}``
    (1 s output); returns the hold's current decay."""
    pybamm = import_pybamm()
    current = c_rate * params.one_c_current_A(volume_m3)
    pv = pybamm_parameter_values(params, radius_m, volume_m3, current / c_rate, cutoff_V=min(hold_V - 0.5, 3.0))
    model = pybamm.lithium_ion.SPM({"working electrode": "positive", "intercalation kinetics": kinetics_option(params)})
    exp = pybamm.Experiment([f"Discharge at {c_rate:g}C until {hold_V:g} V (1 second period)",
                             f"Hold at {hold_V:g} V until C/{1.0 / until_c_rate:g} (1 second period)"])
    sim = pybamm.Simulation(model, experiment=exp, parameter_values=pv,
                            var_pts={**model.default_var_pts, "r_p": int(n_r)},
                            solver=pybamm.IDAKLUSolver(rtol=rtol, atol=rtol * 1e-2))
    sol = sim.solve()
    if len(sol.cycles) < 2:
        raise RuntimeError(f"PyBaMM's SPM did not reach the hold ({sol.termination})")
    hold = sol.cycles[1]
    t = np.asarray(hold["Time [s]"].entries)
    i = np.asarray(hold["Current [A]"].entries) / (current / c_rate)
    return HoldCurve(t - t[0], i, float(t[-1] - t[0]))


def voxel_cc_cv_run(r_vox: int, radius_um: float, outdir, hold_V: float, until_c_rate: float = 1.0 / 50.0,
                    mesher=None, interface_area: str = "mesh", dt_initial_s: float = 5.0, dt_max_s: float = 20.0,
                    comm=None, overrides: dict | None = None):
    """The same CC-CV experiment (1C to ``hold_V``, hold until ``until_c_rate``) on the hemisphere of
    :func:`hemisphere_on_collector` with our 3D model (``overrides``: more parameter changes, e.g. a
    deliberate error); returns the DischargeResult."""
    from .._dolfinx import MPI
    from ..protocol import Protocol
    from .discharge_run import run_discharge
    from .stepping import SteppingOptions

    comm = MPI.COMM_SELF if comm is None else comm
    h = radius_um / r_vox
    p = ParameterSet().with_overrides(dict(SPM_OVERRIDES, interface_area=interface_area, **(overrides or {})))
    proto = Protocol.parse(f"discharge 1C to {hold_V!r} V; hold at {hold_V!r} V until C/{1.0 / until_c_rate!r}")
    return run_discharge(hemisphere_on_collector(r_vox), h, outdir, params=p, protocol=proto, separator_um=h,
                         comm=comm, write_fields=False, quiet=True, mesher=mesher, separator_growth=1.0,
                         stepping=SteppingOptions(dt_initial_s=dt_initial_s, dt_max_s=dt_max_s, max_dV=0.05,
                                                  cutoff_tol_V=1e-5))


def hold_curve(result) -> HoldCurve:
    """The hold (protocol step 2) of a :func:`voxel_cc_cv_run` result, in the units of HoldCurve
    (from the potentials-only row at the switch on)."""
    rows = [r for r in result.rows if r["step"] == 1]
    i1c = result.summary["electrode"]["i_1c_A"]
    t = np.array([r["time_s"] for r in rows])
    return HoldCurve(t - t[0], np.array([r["current_A"] for r in rows]) / i1c, float(t[-1] - t[0]))


def compare_holds(ours: HoldCurve, ref: HoldCurve, late_s: float = 60.0) -> dict:
    """``max_dI_1C``: max |I - I_ref| / 1C over our hold's times within PyBaMM's hold;
    ``max_dI_1C_late``: the same after the first ``late_s`` seconds (the initial fast decay is where
    backward Euler's time error sits); ``max_rel_late``: max |I - I_ref| / I_ref after the first 10 %
    of PyBaMM's hold; ``hold_ratio``: our hold's length (to the end current) / PyBaMM's;
    ``charge_ratio``: the charge passed in our hold / in PyBaMM's."""
    m = ours.time_s <= ref.hold_s
    d = np.abs(ours.c_rate - np.interp(ours.time_s, ref.time_s, ref.c_rate))
    late = m & (ours.time_s >= 0.1 * ref.hold_s)
    rel = np.abs(ours.c_rate[late] / np.interp(ours.time_s[late], ref.time_s, ref.c_rate) - 1.0)
    # charge passed in the hold (backward Euler: the end-of-step currents; PyBaMM: trapezoids)
    q = float(np.sum(ours.c_rate[1:] * np.diff(ours.time_s)))
    q_ref = float(np.sum(0.5 * (ref.c_rate[1:] + ref.c_rate[:-1]) * np.diff(ref.time_s)))
    return {"max_dI_1C": float(d[m].max()), "max_dI_1C_late": float(d[m & (ours.time_s >= late_s)].max()),
            "max_rel_late": float(rel.max()), "hold_ratio": ours.hold_s / ref.hold_s, "charge_ratio": q / q_ref}


TABLE_HEADER = ("mesher", "R (voxels)", "unknowns", "max |dV| mV", "after 300 s mV", "capacity / pybamm",
                "area / 2piR^2", "volume / true", "s")


def table_row(c: Comparison) -> str:
    return (f"| {c.label} | {c.r_vox} | {c.unknowns} | {c.max_dV_mV:.2f} | {c.max_dV_late_mV:.2f} | "
            f"{c.capacity_ratio:.4f} | {c.interface_area_rel:.4f} | {c.volume_rel:.4f} | {c.seconds:.0f} |")
