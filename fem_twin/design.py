"""Composition model: design numbers of a composite cathode -> target volume fractions.

Model (all assumptions explicit)
--------------------------------
Inputs: mass fractions ``w_i`` of NCM, LPSCl and NBR (wt%, summing to 100), true densities
``rho_i`` (g/cm^3), the areal loading ``L`` of the composite (mg/cm^2) and either its thickness
``T`` (um) or its electrode density ``rho_el`` (g/cm^3); ``rho_el = L / T`` when the thickness is
given (10 mg/cm^2 / 39 um = 2.564 g/cm^3).

1. Solid volume fraction of phase i (true density, no inner pores)::

       eps_i = rho_el * w_i / rho_i

2. Total porosity ``eps_pore = 1 - sum_i eps_i``; a negative value means the densities and the
   electrode density are incompatible and is rejected.
3. NCM secondary particles hold inner pores. With particle porosity ``p`` (32.7 % in the seed) the
   inner pore volume is ``eps_NCM * p / (1 - p)``. The inner pores are part of ``eps_pore``: when
   the total porosity is smaller than that (the seed's 60-70 wt% electrodes at 2.5-2.6 g/cm^3), all
   of the pore volume is inside the secondary particles and the achieved particle porosity
   (``effective_particle_porosity``) is lower than ``p``. The remainder ``eps_pore - eps_inner`` is
   outer pore space left between the particles after pressing.
4. The secondary-particle envelope fraction is ``eps_NCM + eps_inner``; the interspace
   ``1 - envelope`` holds LPSCl, NBR and the outer pores.

Check against the seed's Fig. 1a: the ratios between phases depend on ``w_i / rho_i`` only, and
the figure's 60:38:2 -> 35.1 : 47.7 : 5.2 vol% is reproduced with rho_el = 2.597 g/cm^3, its
90:8:2 -> 49.4 : 9.4 : 4.9 vol% with rho_el = 2.437 g/cm^3 (tests/test_design.py). The seed states
10 mg/cm^2 and ~39 um (2.564 g/cm^3) for all electrodes; our default uses exactly that, so our
targets at 90 wt% are ~2.6 points above the figure's NCM value.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from .errors import InputError
from .json_compare import same_json
from .microstructure.psd import ParticleSizeDistribution


@dataclass(frozen=True)
class Composition:
    """Mass fractions of the composite in wt% (NCM, LPSCl, NBR); they must sum to 100."""

    ncm: float
    lpscl: float
    nbr: float

    def __post_init__(self):
        for name in ("ncm", "lpscl", "nbr"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise InputError(f"composition.{name}", "a finite number >= 0 (wt%)", v)
        if self.ncm <= 0:
            raise InputError("composition.ncm", "> 0 wt% (an electrode needs active material)", self.ncm)
        total = self.ncm + self.lpscl + self.nbr
        if abs(total - 100.0) > 1e-6:
            raise InputError("composition", "NCM:LPSCl:NBR in wt% summing to 100", f"sum {total:g}")

    @classmethod
    def parse(cls, text: str) -> "Composition":
        """Parse ``"70:28:2"`` (NCM:LPSCl:NBR wt%)."""
        parts = str(text).replace(",", ":").split(":")
        if len(parts) != 3:
            raise InputError("--composition", "three numbers NCM:LPSCl:NBR in wt%, e.g. 70:28:2", text)
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            raise InputError("--composition", "three numbers NCM:LPSCl:NBR in wt%, e.g. 70:28:2", text) from None
        return cls(*vals)

    @classmethod
    def from_ncm_wt(cls, ncm_wt: float, nbr_wt: float = 2.0) -> "Composition":
        """The seed's series: NCM x wt%, NBR 2 wt%, LPSCl the rest."""
        return cls(float(ncm_wt), 100.0 - ncm_wt - nbr_wt, float(nbr_wt))

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.ncm, self.lpscl, self.nbr)


@dataclass(frozen=True)
class VolumeFractions:
    """Target volume fractions (0-1) of the composite electrode."""

    ncm: float
    lpscl: float
    nbr: float
    pore: float
    inner_pore: float  #: part of ``pore`` inside NCM secondary particles
    outer_pore: float  #: part of ``pore`` between particles
    envelope: float  #: NCM + inner pores (secondary-particle envelopes)
    effective_particle_porosity: float  #: inner_pore / envelope actually used
    electrode_density_g_cm3: float

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def phases(self) -> dict[str, float]:
        """Fractions keyed by phase name (ncm, lpscl, nbr, pore)."""
        return {"ncm": self.ncm, "lpscl": self.lpscl, "nbr": self.nbr, "pore": self.pore}


def _positive(name: str, value, unit: str):
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise InputError(name, f"a number > 0 ({unit})", value)


def default_ncm_psd() -> ParticleSizeDistribution:
    """NCM711 secondary particles: log-normal, D10/D50/D90 = 6/9/13 um (volume based).

    The seed's PSA (its Fig. S1) is not public; the issue records that both powders peak near
    8-10 um. The distribution is truncated to [3, 16] um.
    """
    return ParticleSizeDistribution.lognormal(6.0, 9.0, 13.0, d_min=3.0, d_max=16.0)


def default_lpscl_psd() -> ParticleSizeDistribution:
    """Li6PS5Cl particles: log-normal, D10/D50/D90 = 4/8/14 um, truncated to [2, 16] um."""
    return ParticleSizeDistribution.lognormal(4.0, 8.0, 14.0, d_min=2.0, d_max=16.0)


#: Relative tolerance of :meth:`ElectrodeDesign.same_as` (1e-12: ~5,000 ulp, far below any design
#: change a user makes, far above the last-bit drift between numpy/scipy releases).
DESIGN_REL_TOL = 1e-12


@dataclass(frozen=True)
class ElectrodeDesign:
    """Everything that defines a generated composite cathode (units in the field names).

    ``thickness_um`` is used unless ``electrode_density_g_cm3`` is given, in which case the
    thickness follows from the loading: ``T = L / rho_el``.
    """

    composition: Composition = field(default_factory=lambda: Composition(70.0, 28.0, 2.0))
    density_ncm_g_cm3: float = 4.44
    density_lpscl_g_cm3: float = 2.07
    density_nbr_g_cm3: float = 1.00
    loading_mg_cm2: float = 10.0
    thickness_um: float = 39.0
    electrode_density_g_cm3: float | None = None
    particle_porosity: float = 0.327
    size_x_um: float = 50.0
    size_y_um: float = 50.0
    voxel_um: float = 0.5
    primary_d_min_um: float = 0.57
    primary_d_max_um: float = 1.55
    ncm_psd: ParticleSizeDistribution = field(default_factory=default_ncm_psd)
    lpscl_psd: ParticleSizeDistribution = field(default_factory=default_lpscl_psd)

    def __post_init__(self):
        if not isinstance(self.composition, Composition):
            raise InputError("composition", "a Composition", self.composition)
        for name, unit in (
            ("density_ncm_g_cm3", "g/cm^3"),
            ("density_lpscl_g_cm3", "g/cm^3"),
            ("density_nbr_g_cm3", "g/cm^3"),
            ("loading_mg_cm2", "mg/cm^2"),
            ("thickness_um", "um"),
            ("size_x_um", "um"),
            ("size_y_um", "um"),
            ("voxel_um", "um"),
            ("primary_d_min_um", "um"),
            ("primary_d_max_um", "um"),
        ):
            _positive(name, getattr(self, name), unit)
        if self.electrode_density_g_cm3 is not None:
            _positive("electrode_density_g_cm3", self.electrode_density_g_cm3, "g/cm^3")
        if not (0.0 <= self.particle_porosity < 1.0):
            raise InputError("particle_porosity", "a fraction in [0, 1)", self.particle_porosity)
        if self.primary_d_min_um > self.primary_d_max_um:
            raise InputError("primary_d_min_um", f"<= primary_d_max_um ({self.primary_d_max_um})",
                             self.primary_d_min_um)
        thickness = self.electrode_thickness_um
        for name, extent in (("size_x_um", self.size_x_um), ("size_y_um", self.size_y_um),
                             ("thickness", thickness)):
            if extent < 4 * self.voxel_um:
                raise InputError(name, f"at least 4 voxels ({4 * self.voxel_um:g} um)", extent)
        largest = max(self.ncm_psd.d_max, self.lpscl_psd.d_max)
        smallest_extent = min(self.size_x_um, self.size_y_um, thickness)
        if largest > smallest_extent:
            raise InputError(
                "domain size",
                f"every extent (x {self.size_x_um:g}, y {self.size_y_um:g}, thickness {thickness:g} um) "
                f">= the largest particle diameter {largest:g} um",
                smallest_extent,
            )
        self.volume_fractions()  # raises on incompatible densities

    # -- derived numbers -------------------------------------------------------------------
    @property
    def electrode_density(self) -> float:
        """Electrode density in g/cm^3."""
        if self.electrode_density_g_cm3 is not None:
            return float(self.electrode_density_g_cm3)
        # mg/cm^2 / um = 1e-3 g / (1e-4 cm * cm^2) = 10 g/cm^3
        return 10.0 * self.loading_mg_cm2 / self.thickness_um

    @property
    def electrode_thickness_um(self) -> float:
        """Composite thickness in um."""
        if self.electrode_density_g_cm3 is not None:
            return 10.0 * self.loading_mg_cm2 / self.electrode_density_g_cm3
        return float(self.thickness_um)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Voxel grid (nx, ny, nz); z runs from the separator (0) to the collector."""
        h = self.voxel_um
        return (
            max(1, round(self.size_x_um / h)),
            max(1, round(self.size_y_um / h)),
            max(1, round(self.electrode_thickness_um / h)),
        )

    def volume_fractions(self) -> VolumeFractions:
        """Target volume fractions by the model in the module docstring."""
        rho = self.electrode_density
        c = self.composition
        ncm = rho * c.ncm / 100.0 / self.density_ncm_g_cm3
        lps = rho * c.lpscl / 100.0 / self.density_lpscl_g_cm3
        nbr = rho * c.nbr / 100.0 / self.density_nbr_g_cm3
        pore = 1.0 - ncm - lps - nbr
        if pore < -1e-12:
            raise InputError(
                "electrode density",
                f"<= the pore-free density of this composition "
                f"({rho / (ncm + lps + nbr):.3f} g/cm^3)",
                round(rho, 4),
            )
        pore = max(pore, 0.0)
        p = self.particle_porosity
        inner = min(ncm * p / (1.0 - p), pore)
        env = ncm + inner
        return VolumeFractions(
            ncm=ncm, lpscl=lps, nbr=nbr, pore=pore, inner_pore=inner, outer_pore=pore - inner,
            envelope=env, effective_particle_porosity=inner / env if env > 0 else 0.0,
            electrode_density_g_cm3=rho,
        )

    def differences(self, other: "ElectrodeDesign", rel_tol: float = DESIGN_REL_TOL) -> list[str]:
        """The top-level fields in which ``other`` differs from this design; numbers count as equal
        within ``rel_tol`` (relative). Derived tables such as the log-normal PSDs change in their last
        bits with the numpy/scipy release that computed them (np.geomspace in numpy 2.5 moved a
        diameter by 1 ulp), so a structure saved with one release must still match its design made
        with the next: ``==`` would call it another design."""
        a, b = self.to_dict(), other.to_dict()
        return [k for k in a.keys() | b.keys() if not same_json(a.get(k), b.get(k), rel_tol)]

    def same_as(self, other: "ElectrodeDesign", rel_tol: float = DESIGN_REL_TOL) -> bool:
        """True when :meth:`differences` is empty."""
        return not self.differences(other, rel_tol)

    # -- (de)serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["composition"] = dataclasses.asdict(self.composition)
        d["ncm_psd"] = self.ncm_psd.to_dict()
        d["lpscl_psd"] = self.lpscl_psd.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ElectrodeDesign":
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError("design", f"only the keys {sorted(known)}", unknown)
        if "composition" in d:
            comp = d["composition"]
            d["composition"] = Composition(**comp) if isinstance(comp, dict) else Composition(*comp)
        for key in ("ncm_psd", "lpscl_psd"):
            if key in d:
                d[key] = ParticleSizeDistribution.from_dict(d[key])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "ElectrodeDesign":
        return cls.from_dict(json.loads(text))
