"""Material values of the seed, Park et al. 2020, as flat module-level constants with sources.

[Park2020] J. Park, K. T. Kim, D. Y. Oh, D. Jin, D. Kim, Y. S. Jung, Y. M. Lee, "Digital Twin-Driven
All-Solid-State Battery: Unraveling the Physical and Electrochemical Behaviors", Adv. Energy Mater.
10 (2020) 2001563. The values are those of its Supporting Information, Table S1/S2, as publicly
quoted (the issue tracker lists them; the SI itself is not in the repository). All measured at
30 degC.

Units are in the names: ``_S_PER_CM`` as quoted, ``_S_PER_M`` (SI, 1 S/cm = 100 S/m) for the
solvers.

Intrinsic conductivities (used by ``fem-twin conductivity`` and ``study conductivity``)
--------------------------------------------------------------------------------------
- NCM711 electronic conductivity: sigma_NCM = 8.5e-4 S/cm.
- Li6PS5Cl ionic conductivity, a linear fit in the NCM volume fraction eps_NCM of the composite
  (the seed's conductivity of the electrolyte *in* the composite, which falls as the electrolyte
  becomes more confined)::

      sigma_LPSCl(eps_NCM) = (-4.45e-3 * eps_NCM + 4.64e-3) S/cm

  e.g. eps_NCM = 0.45 -> 2.64e-3 S/cm = 0.264 S/m.
"""

from __future__ import annotations

import math

#: citation key of every value in this module
SOURCE = "Park2020"
REFERENCE = ("J. Park et al., Digital Twin-Driven All-Solid-State Battery: Unraveling the Physical "
             "and Electrochemical Behaviors, Adv. Energy Mater. 10 (2020) 2001563, SI Tables S1/S2")

#: NCM711 electronic conductivity [Park2020]
SIGMA_NCM_S_PER_CM = 8.5e-4
SIGMA_NCM_S_PER_M = 8.5e-2  # = SIGMA_NCM_S_PER_CM * 100

#: LPSCl ionic conductivity sigma = SLOPE * eps_NCM + INTERCEPT (S/cm) [Park2020]
SIGMA_LPSCL_SLOPE_S_PER_CM = -4.45e-3
SIGMA_LPSCL_INTERCEPT_S_PER_CM = 4.64e-3


def sigma_lpscl_S_per_m(eps_ncm: float) -> float:
    """LPSCl ionic conductivity (S/m) at NCM volume fraction ``eps_ncm`` (0-1) [Park2020]."""
    if not (math.isfinite(eps_ncm) and 0.0 <= eps_ncm <= 1.0):
        raise ValueError(f"eps_ncm must be a volume fraction in [0, 1], got {eps_ncm!r}")
    return (SIGMA_LPSCL_SLOPE_S_PER_CM * eps_ncm + SIGMA_LPSCL_INTERCEPT_S_PER_CM) * 100.0


def sigma_ncm_S_per_m() -> float:
    """NCM electronic conductivity (S/m) [Park2020]."""
    return SIGMA_NCM_S_PER_M


def intrinsic_sigma_S_per_m(phase: str, eps_ncm: float) -> float:
    """Intrinsic conductivity (S/m) of ``phase`` ('ncm' electronic, 'lpscl' ionic) in a composite
    with NCM volume fraction ``eps_ncm``."""
    if phase == "ncm":
        return sigma_ncm_S_per_m()
    if phase == "lpscl":
        return sigma_lpscl_S_per_m(eps_ncm)
    raise ValueError(f"no intrinsic conductivity for phase {phase!r}; expected 'ncm' or 'lpscl'")
