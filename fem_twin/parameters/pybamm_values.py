"""Our parameter set as PyBaMM parameter values of a Li | electrolyte | NCM half cell.

One translation for every comparison with PyBaMM (the single-particle check of
:mod:`fem_twin.fem.one_particle` and the P2D cross-check of :mod:`fem_twin.p2d`):

- OCP: :meth:`fem_twin.parameters.ocp.OpenCircuitPotential.pybamm`, the same function of x;
- exchange current: ours is i0 = k c_max sqrt(c_e) sqrt(x (1 - x)) = k sqrt(c_e c_s (c_max - c_s))
  A/m2 (c in mol/m3); PyBaMM's "Positive electrode exchange-current density [A.m-2]" is that
  function of (c_e, c_s_surf, c_s_max, T), times ``area_factor`` (see below). PyBaMM's symmetric
  Butler-Volmer 2 j0 sinh(F eta / 2RT) is ours with alpha_a = alpha_c = 1/2 (asymmetric:
  j0 [exp(a F eta/RT) - exp(-(1 - a) F eta/RT)] with a = alpha_a needs alpha_a + alpha_c = 1);
- D_s, c_max, initial lithiation, temperature (isothermal) as they are;
- ``area_factor``: PyBaMM's spherical particles have the area a = 3 eps_s / R per electrode
  volume. A structure whose reacting area a_3D differs from that (partial contact with the
  electrolyte, rough or polyhedral surfaces) keeps a_3D in the kinetics by scaling j0 by
  a_3D / (3 eps_s / R): the reaction current per electrode volume a j is then a_3D j_3D, and
  the lithium enters each sphere uniformly over its surface (the homogenisation).
"""

from __future__ import annotations

import math
import os

from .cell import ParameterSet


def import_pybamm():
    """``import pybamm`` without the telemetry prompt (no network); ImportError when missing."""
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    import pybamm

    return pybamm


def kinetics_option(params: ParameterSet) -> str:
    """PyBaMM's "intercalation kinetics" option for our transfer coefficients."""
    if abs(params.alpha_a + params.alpha_c - 1.0) > 1e-12:
        raise ValueError("PyBaMM's Butler-Volmer needs alpha_a + alpha_c = 1")
    return "symmetric Butler-Volmer" if params.alpha_a == params.alpha_c == 0.5 else "asymmetric Butler-Volmer"


def half_cell_parameter_values(params: ParameterSet, *, radius_m: float, eps_s: float, thickness_m: float,
                               face_area_m2: float, current_A: float, cutoff_V: float = 3.0,
                               nominal_capacity_Ah: float | None = None, area_factor: float = 1.0,
                               porosity: float | None = None, sigma_s_S_m: float = 1e6,
                               li_exchange_current_A_m2: float = 1e8, electrolyte: dict | None = None):
    """PyBaMM parameter values of a Li | electrolyte | positive-electrode half cell.

    ``radius_m`` particle radius (m), ``eps_s`` NCM (active material) volume fraction,
    ``thickness_m`` electrode thickness (m), ``face_area_m2`` electrode face area (m2, a square),
    ``current_A`` the current function (A, > 0 on discharge), ``nominal_capacity_Ah`` the
    capacity that defines PyBaMM's C-rate (default: ``current_A`` x 1 h), ``area_factor`` the
    exchange-current factor of the module docstring, ``porosity`` of the electrode (the
    electrolyte volume fraction; default 1 - eps_s), ``sigma_s_S_m`` intrinsic solid conductivity
    (S/m), ``li_exchange_current_A_m2`` of the Li metal electrode (A/m2; 1e8: an ideal contact).
    ``electrolyte``: further PyBaMM entries (conductivity, diffusivity, transference number,
    separator, tortuosity factors) for a model that resolves the electrolyte (see
    :func:`fem_twin.p2d.parameter_values`); without them the Xu 2019 set's values stay, which a
    single-particle model does not use.
    """
    pybamm = import_pybamm()
    p = params
    kinetics_option(p)
    k = p.k_ncm * float(area_factor)

    def j0(c_e, c_s_surf, c_s_max, T):
        return k * c_e ** 0.5 * c_s_surf ** 0.5 * (c_s_max - c_s_surf) ** 0.5

    ocp = p.ocp
    side = math.sqrt(face_area_m2)
    cap = current_A if nominal_capacity_Ah is None else nominal_capacity_Ah
    pv = pybamm.ParameterValues("Xu2019")  # a Li-metal half cell; every model input is set below
    pv.update({
        "Positive electrode OCP [V]": lambda sto: ocp.pybamm(sto),
        "Positive electrode exchange-current density [A.m-2]": j0,
        "Positive electrode charge transfer coefficient": p.alpha_a,
        "Maximum concentration in positive electrode [mol.m-3]": p.c_ncm_max_mol_m3,
        "Initial concentration in positive electrode [mol.m-3]": p.initial_lithiation * p.c_ncm_max_mol_m3,
        "Positive particle diffusivity [m2.s-1]": p.d_ncm_m2_s,
        "Positive particle radius [m]": radius_m,
        "Positive electrode thickness [m]": thickness_m,
        "Electrode height [m]": side, "Electrode width [m]": side,
        "Positive electrode active material volume fraction": eps_s,
        "Positive electrode porosity": 1.0 - eps_s if porosity is None else porosity,
        "Positive electrode conductivity [S.m-1]": sigma_s_S_m,
        "Initial concentration in electrolyte [mol.m-3]": p.c_lpscl_mol_m3,
        "Exchange-current density for lithium metal electrode [A.m-2]": li_exchange_current_A_m2,
        "Current function [A]": current_A, "Nominal cell capacity [A.h]": cap,
        "Lower voltage cut-off [V]": cutoff_V, "Upper voltage cut-off [V]": 5.0,
        "Open-circuit voltage at 0% SOC [V]": cutoff_V, "Open-circuit voltage at 100% SOC [V]": 5.0,
        "Ambient temperature [K]": p.temperature_K, "Initial temperature [K]": p.temperature_K,
        "Reference temperature [K]": p.temperature_K,
        "Contact resistance [Ohm]": 0.0,
    })
    if electrolyte:
        pv.update(electrolyte, check_already_exists=False)
    return pv
