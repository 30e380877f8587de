"""Parameters of the discharge model (Li | LPSCl | NCM-LPSCl-NBR composite | Al), with sources.

Every value is SI unless the field name says otherwise. Sources:

- [Park2020] J. Park, K. T. Kim, et al., "Digital Twin-Driven All-Solid-State Battery: Unraveling
  the Physical and Electrochemical Behaviors", Adv. Energy Mater. 10 (2020) 2001563, Table S2 of its
  Supporting Information as publicly quoted (the issue lists the numbers; the SI itself is not in
  the repository).
- [Chen2020, Xu2019] the NCM open-circuit potential, see :mod:`fem_twin.parameters.ocp`.
- [assumed] values the seed does not give; each says why it was chosen.

TOML file (``--params FILE.toml``): flat keys named exactly like the fields below, plus ``ocp``
(``"chen2020_xu2019"`` (default), ``"chen2020"`` or a table ``[ocp]`` with ``x = [...]`` and ``u_V = [...]``:
finite, x strictly increasing, U non-increasing in x, covering [initial_lithiation, max_lithiation]
unless ``extend = true`` extends it with its end slopes). Unknown keys and
values outside the documented range are rejected with the key in the message. Example::

    temperature_K = 303.15
    d_ncm_m2_s = 5e-15
    [ocp]
    x = [0.2, 0.6, 1.0]
    u_V = [4.4, 3.8, 3.4]

Calibrated values carry their source, as a citation (``fem-twin calibrate`` writes it): a table
``[calibration]`` maps a parameter's name to a note, e.g.::

    initial_lithiation = 0.497
    [calibration]
    initial_lithiation = "fitted to Park et al. 2020 (60 wt%, 0.1C, 133.3 mAh/g) by fem-twin calibrate on runs/ncm60"

(:attr:`ParameterSet.calibration`, :meth:`ParameterSet.source_of`; in ``to_dict`` and so in every
``discharge.json`` only when there is a note). :meth:`ParameterSet.to_toml` writes a file that
:meth:`ParameterSet.from_toml` reads back.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FileFormatError, InputError
from .ocp import OpenCircuitPotential

FARADAY = 96485.33212  # C/mol
GAS_CONSTANT = 8.314462618  # J/(mol K)

#: field -> (lower, upper, unit and meaning) accepted by from_toml / with_overrides
RANGES: dict[str, tuple[float, float, str]] = {
    "temperature_K": (200.0, 400.0, "K"),
    "sigma_ncm_S_m": (1e-8, 1e6, "S/m (8.5e-4 S/cm = 0.085 S/m)"),
    "sigma_lpscl_slope_S_cm": (-1.0, 1.0, "S/cm per unit NCM volume fraction"),
    "sigma_lpscl_intercept_S_cm": (1e-8, 1.0, "S/cm"),
    "sigma_lpscl_S_m": (0.0, 1e3, "S/m (0 = use the eps_NCM formula)"),
    "d_ncm_m2_s": (1e-22, 1e-8, "m2/s"),
    "d_lpscl_m2_s": (1e-22, 1e-6, "m2/s"),
    "k_ncm": (1e-16, 1e2, "A m^2.5 mol^-1.5"),
    "alpha_a": (0.05, 0.95, "-"),
    "alpha_c": (0.05, 0.95, "-"),
    "c_ncm_max_mol_m3": (1e3, 1e6, "mol/m3"),
    "c_lpscl_mol_m3": (1.0, 1e6, "mol/m3"),
    "t_plus": (0.0, 1.0, "- (1 freezes c_e)"),
    "initial_lithiation": (1e-4, 0.9999, "- (c_s / c_s,max at the start)"),
    "max_lithiation": (0.01, 1.0, "- (discharge stops when the mean lithiation reaches it)"),
    "practical_capacity_mAh_g": (1.0, 400.0, "mAh per g NCM (defines 1C)"),
    "density_ncm_g_cm3": (0.5, 20.0, "g/cm3"),
    "li_exchange_current_A_m2": (1e-6, 1e6, "A/m2"),
    "interface_normal_sigma_vox": (0.5, 10.0, "voxels (Gaussian width of the smoothed-normal weights)"),
    "saturation_smoothing": (0.0, 0.05, "- (lithiation width of the kinetics' smoothing at c_max; 0: clipped)"),
    "reference_temperature_K": (200.0, 400.0, "K (the temperature of k, D and sigma as given)"),
    "activation_energy_k_J_mol": (0.0, 3e5, "J/mol (0: k independent of temperature)"),
    "activation_energy_d_ncm_J_mol": (0.0, 3e5, "J/mol (0: D_s independent of temperature)"),
    "activation_energy_d_lpscl_J_mol": (0.0, 3e5, "J/mol (0: D_e independent of temperature)"),
    "activation_energy_sigma_lpscl_J_mol": (0.0, 3e5, "J/mol (0: kappa independent of temperature)"),
}
#: the temperature fields and their defaults (left out of checkpoint fingerprints at these values)
TEMPERATURE_DEFAULTS = {"reference_temperature_K": 303.15, "activation_energy_k_J_mol": 0.0,
                        "activation_energy_d_ncm_J_mol": 0.0, "activation_energy_d_lpscl_J_mol": 0.0,
                        "activation_energy_sigma_lpscl_J_mol": 0.0}
#: fields added after parameter records existed (calibration keys, the study's parameter check,
#: checkpoint hashes, discharge.json): :meth:`ParameterSet.to_dict` leaves them out at these defaults,
#: so a set that does not use them is the dict it was
WRITTEN_WHEN_SET = {"saturation_smoothing": 0.0}
_CHOICES = {"li_contact": ("butler-volmer", "ideal"), "interface_area": ("mesh", "smoothed-normal")}
_BOOLS = ("freeze_electrolyte",)


@dataclass(frozen=True)
class ParameterSet:
    """All parameters of the discharge model (see the module docstring for the TOML keys)."""

    #: 30 degC, the seed's test temperature [Park2020]
    temperature_K: float = 303.15
    #: NCM711 electronic conductivity 8.5e-4 S/cm [Park2020, Table S2]
    sigma_ncm_S_m: float = 8.5e-4 * 100
    #: LPSCl ionic conductivity sigma = (slope * eps_NCM + intercept) S/cm, eps_NCM = NCM volume
    #: fraction of the composite [Park2020, Table S2]; applied to separator and composite LPSCl alike
    sigma_lpscl_slope_S_cm: float = -4.45e-3
    sigma_lpscl_intercept_S_cm: float = 4.64e-3
    #: a fixed LPSCl conductivity in S/m overriding the formula when > 0 [assumed: off]
    sigma_lpscl_S_m: float = 0.0
    #: Li diffusion coefficient in NCM 3.0e-15 m2/s [Park2020, Table S2]
    d_ncm_m2_s: float = 3.0e-15
    #: Li+ diffusion coefficient in LPSCl 1.2e-13 m2/s [Park2020, Table S2]
    d_lpscl_m2_s: float = 1.2e-13
    #: reaction rate constant k of j = 2k sqrt(c_s c_e (c_max - c_s)) sinh(...), 1.0e-7 [Park2020]
    k_ncm: float = 1.0e-7
    #: charge-transfer coefficients; 0.5/0.5 gives the seed's sinh(F eta / 2RT) [Park2020]
    alpha_a: float = 0.5
    alpha_c: float = 0.5
    #: maximum Li concentration in NCM 47,054 mol/m3 [Park2020, Table S2]
    c_ncm_max_mol_m3: float = 47054.0
    #: Li+ concentration in LPSCl 46,276 mol/m3 [Park2020, Table S2]
    c_lpscl_mol_m3: float = 46276.0
    #: Li+ transference number of LPSCl 0.99 [Park2020, Experimental section]
    t_plus: float = 0.99
    #: c_s / c_max of the charged cathode. [assumed] 0.27: U = 4.28 V vs Li with the Chen2020 OCP,
    #: the lower end (0.266) of its fitted window (a cell charged to ~4.3 V vs Li)
    initial_lithiation: float = 0.27
    #: discharge ends at this mean lithiation if the cut-off voltage is not reached first [assumed]
    max_lithiation: float = 0.999
    #: practical specific capacity defining 1C: I_1C = m_NCM * q. [assumed] 180 mAh/g, typical of
    #: NCM711 between 3.0 and 4.3 V vs Li at 0.1C; = 0.634 of the theoretical 284 mAh/g that
    #: c_max and the density imply. (The seed's SI quotes I_1C = 2.625e-9 A for its 50x50 um face,
    #: ~10x less than 10 mg/cm2 * 70 wt% * 180 mAh/g gives; we derive 1C from the mesh's NCM mass.)
    practical_capacity_mAh_g: float = 180.0
    #: NCM true density 4.44 g/cm3 [Park2020, Experimental section]
    density_ncm_g_cm3: float = 4.44
    #: exchange current density of Li | LPSCl stripping/plating. [assumed] 10 A/m2 = 1 mA/cm2, the
    #: order reported for Li | Li6PS5Cl symmetric cells; the seed's Li layer is not described
    li_exchange_current_A_m2: float = 10.0
    #: 'butler-volmer' (stripping kinetics) or 'ideal' (phi_e = 0 at the Li | LPSCl plane)
    li_contact: str = "butler-volmer"
    #: area the NCM | LPSCl kinetics integrate over: 'mesh' (every interface facet at its own area:
    #: on a voxel mesh the staircase, ~1.5x a smooth surface) or 'smoothed-normal' (each facet F
    #: weighted by |n_s . n_F|, n_s the normal of the Gaussian-smoothed NCM indicator: the smooth
    #: surface's area, within 1 % on voxelised spheres of R >= 6 voxels;
    #: :mod:`fem_twin.fem.interface_weights`) [assumed: 'mesh', the earlier behaviour]
    interface_area: str = "mesh"
    #: Gaussian width in voxels of the smoothed NCM indicator for 'smoothed-normal' [measured:
    #: 1.5 voxels, see :data:`fem_twin.fem.interface_weights.DEFAULT_SIGMA_VOX`]
    interface_normal_sigma_vox: float = 1.5
    #: the kinetics' lithiation near c_max (:mod:`fem_twin.fem.kinetics`): 0 clips x to 1 - 1e-10 in i0 and
    #: U (no slope past it, an infinite one of i0 just below: Newton stalls when a node crosses 1, the
    #: smooth mesh's runs that end above the cut-off); delta > 0 uses x~ = 1 - delta ln(1 + exp((1 - x)/delta)),
    #: smooth, < 1, x - x~ < 4.5e-8 below x = 1 - 10 delta. [assumed: 0, the earlier behaviour;
    #: docs/rate_study.md measured 1e-3]
    saturation_smoothing: float = 0.0
    #: keep c_e fixed at c_lpscl (exact for t+ = 1; set automatically when t_plus == 1)
    freeze_electrolyte: bool = False
    #: NCM open-circuit potential [Chen2020] with the end-of-discharge term of [Xu2019]
    ocp: OpenCircuitPotential = field(default_factory=OpenCircuitPotential)
    #: Temperature dependence (issue 18): k_ncm, d_ncm_m2_s, d_lpscl_m2_s and the LPSCl
    #: conductivity are the values at ``reference_temperature_K`` (the seed's 30 degC); at
    #: ``temperature_K`` each is multiplied by exp(-E_a / R (1/T - 1/T_ref)) (:meth:`at_temperature`,
    #: applied by every discharge run). [assumed: all E_a = 0, off] -- the seed gives no activation
    #: energies; set them in ``--params`` from measurements of your materials.
    reference_temperature_K: float = 303.15
    activation_energy_k_J_mol: float = 0.0
    activation_energy_d_ncm_J_mol: float = 0.0
    activation_energy_d_lpscl_J_mol: float = 0.0
    activation_energy_sigma_lpscl_J_mol: float = 0.0
    #: where calibrated values come from: (parameter name, note) pairs, sorted by name; a dict is
    #: accepted (TOML: a table ``[calibration]``). Empty: no value of the set was calibrated
    calibration: tuple = ()

    def __post_init__(self):
        for key, (lo, hi, unit) in RANGES.items():
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InputError(key, f"a number in [{lo:g}, {hi:g}] {unit}", v)
            if not (lo <= v <= hi):
                raise InputError(key, f"a value in [{lo:g}, {hi:g}] {unit}", v)
        for key, allowed in _CHOICES.items():
            if getattr(self, key) not in allowed:
                raise InputError(key, " or ".join(repr(a) for a in allowed), getattr(self, key))
        for key in _BOOLS:
            if not isinstance(getattr(self, key), bool):
                raise InputError(key, "true or false", getattr(self, key))
        if not isinstance(self.ocp, OpenCircuitPotential):
            raise InputError("ocp", "an OpenCircuitPotential", self.ocp)
        object.__setattr__(self, "calibration", _calibration_notes(self.calibration))
        if self.initial_lithiation >= self.max_lithiation:
            raise InputError("initial_lithiation", f"< max_lithiation ({self.max_lithiation})",
                             self.initial_lithiation)
        self.ocp.covers(self.initial_lithiation, self.max_lithiation)

    # -- derived quantities ------------------------------------------------------------------
    @property
    def thermal_voltage(self) -> float:
        """RT/F in V."""
        return GAS_CONSTANT * self.temperature_K / FARADAY

    def sigma_lpscl(self, eps_ncm: float) -> float:
        """LPSCl ionic conductivity in S/m for an NCM volume fraction ``eps_ncm`` of the composite."""
        if self.sigma_lpscl_S_m > 0:
            return self.sigma_lpscl_S_m
        s = (self.sigma_lpscl_slope_S_cm * eps_ncm + self.sigma_lpscl_intercept_S_cm) * 100.0
        if s <= 0:
            raise InputError("sigma_lpscl_slope_S_cm", f"a formula positive at eps_NCM = {eps_ncm:.3f}", s)
        return s

    def arrhenius_factor(self, activation_energy_J_mol: float) -> float:
        """exp(-E_a / R (1/T - 1/T_ref)) at ``temperature_K`` (1 at the reference temperature)."""
        return math.exp(-activation_energy_J_mol / GAS_CONSTANT
                        * (1.0 / self.temperature_K - 1.0 / self.reference_temperature_K))

    def at_temperature(self, temperature_K: float | None = None) -> "ParameterSet":
        """The set at ``temperature_K`` (None: at its own ``temperature_K``): k_ncm, d_ncm_m2_s,
        d_lpscl_m2_s and the LPSCl conductivity (formula and fixed value) scaled by their Arrhenius
        factors, with the reference temperature moved there (so applying it twice changes nothing).
        Without activation energies only ``temperature_K`` changes (RT/F)."""
        p = self if temperature_K is None else self.with_overrides({"temperature_K": float(temperature_K)})
        ea = (p.activation_energy_k_J_mol, p.activation_energy_d_ncm_J_mol, p.activation_energy_d_lpscl_J_mol,
              p.activation_energy_sigma_lpscl_J_mol)
        if not any(ea) or p.temperature_K == p.reference_temperature_K:
            return p
        fk, fds, fde, fsig = (p.arrhenius_factor(e) for e in ea)
        return dataclasses.replace(p, k_ncm=p.k_ncm * fk, d_ncm_m2_s=p.d_ncm_m2_s * fds,
                                   d_lpscl_m2_s=p.d_lpscl_m2_s * fde,
                                   sigma_lpscl_slope_S_cm=p.sigma_lpscl_slope_S_cm * fsig,
                                   sigma_lpscl_intercept_S_cm=p.sigma_lpscl_intercept_S_cm * fsig,
                                   sigma_lpscl_S_m=p.sigma_lpscl_S_m * fsig,
                                   reference_temperature_K=p.temperature_K)

    @property
    def frozen_ce(self) -> bool:
        return self.freeze_electrolyte or self.t_plus >= 1.0

    def one_c_current_A(self, ncm_volume_m3: float) -> float:
        """1C current in A of an electrode whose NCM volume is ``ncm_volume_m3``."""
        mass_g = ncm_volume_m3 * self.density_ncm_g_cm3 * 1e6
        return mass_g * self.practical_capacity_mAh_g * 1e-3  # mAh -> A over one hour

    def source_of(self, name: str) -> str | None:
        """The calibration note of parameter ``name`` (None: not calibrated, see the field's comment)."""
        return dict(self.calibration).get(name)

    # -- files -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Every field (those of :data:`WRITTEN_WHEN_SET` only when they differ from its defaults);
        ``calibration`` (a dict of notes) only when there is one."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("ocp", "calibration")
             and not (f.name in WRITTEN_WHEN_SET and getattr(self, f.name) == WRITTEN_WHEN_SET[f.name])}
        d["ocp"] = self.ocp.to_dict()
        if self.calibration:
            d["calibration"] = dict(self.calibration)
        return d

    def to_toml(self, only_changed: bool = True) -> str:
        """TOML that :meth:`from_toml` reads back to this set: the fields that differ from the
        defaults (``only_changed``, else all), ``[ocp]`` and ``[calibration]`` last."""
        ref = ParameterSet()
        lines, tables = [], []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "calibration":
                if v:
                    tables.append("[calibration]\n" + "".join(f"{k} = {_toml_value(n)}\n" for k, n in v))
                continue
            if only_changed and v == getattr(ref, f.name):
                continue
            if f.name == "ocp":
                if v.kind != "table":
                    lines.append(f"ocp = {_toml_value(v.kind)}")
                else:
                    t = "[ocp]\n" + f"x = [{', '.join(repr(float(a)) for a in v.x)}]\n" \
                        + f"u_V = [{', '.join(repr(float(a)) for a in v.u_V)}]\n"
                    tables.append(t + ("extend = true\n" if v.extend else ""))
                continue
            lines.append(f"{f.name} = {_toml_value(v)}")
        return "\n".join(lines) + ("\n" if lines else "") + "".join("\n" + t for t in tables)

    def with_overrides(self, values: dict) -> "ParameterSet":
        """A copy with ``values`` replaced; unknown keys and out-of-range values raise InputError. A
        calibrated value replaced without a new ``calibration`` note loses its note."""
        names = {f.name for f in dataclasses.fields(self)}
        new = {}
        if not isinstance(values, dict):
            raise InputError("parameters", "a table of parameter names and values", values)
        for key, v in values.items():
            if key not in names:
                raise InputError(key, f"a known parameter ({', '.join(sorted(names))})", "unknown key")
            if key == "ocp":
                v = v if isinstance(v, OpenCircuitPotential) else OpenCircuitPotential.from_toml_value(v)
            elif key in RANGES and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            new[key] = v
        if self.calibration and "calibration" not in new:  # a value changed without a note loses its old note
            kept = tuple((k, n) for k, n in self.calibration if k not in new)
            if kept != self.calibration:
                new["calibration"] = kept
        return dataclasses.replace(self, **new)

    @classmethod
    def from_toml(cls, path: str | Path) -> "ParameterSet":
        """Defaults overridden by the keys of a TOML file."""
        p = Path(path)
        if not p.is_file():
            raise InputError("--params", "an existing TOML file", str(p))
        try:
            data = tomllib.loads(p.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise FileFormatError(p, f"not valid TOML ({exc})") from None
        return cls().with_overrides(data)


def _toml_value(v) -> str:
    """A TOML scalar: booleans lower case, floats with repr (round trip), strings as JSON strings
    (a subset of TOML's basic strings)."""
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else str(v)
    if isinstance(v, int):
        return str(v)
    return json.dumps(str(v))


def _calibration_notes(notes) -> tuple:
    """``{name: note}`` or (name, note) pairs -> sorted pairs; each name a field of the set (not
    ``calibration``), each note a non-empty string."""
    if isinstance(notes, dict):
        items = list(notes.items())
    elif isinstance(notes, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in notes):
        items = [tuple(p) for p in notes]
    else:
        raise InputError("calibration", "a table of parameter names and notes (strings)", notes)
    names = {f.name for f in dataclasses.fields(ParameterSet)} - {"calibration"}
    for key, note in items:
        if key not in names:
            raise InputError(f"calibration.{key}", f"the name of a parameter ({', '.join(sorted(names))})",
                             "unknown key")
        if not isinstance(note, str) or not note.strip():
            raise InputError(f"calibration.{key}", "a note saying where the value comes from (a string)", note)
    return tuple(sorted((str(k), str(n)) for k, n in items))
