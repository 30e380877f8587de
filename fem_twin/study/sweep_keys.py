"""The keys a design sweep (``fem-twin study sweep``) can vary, their values and what they change.

Three kinds of keys (:data:`KEYS`; names with their units, a few aliases in :data:`ALIASES`):

- **design** keys change the generated structure (:class:`~fem_twin.design.ElectrodeDesign`):
  ``ncm_wt`` (NCM wt%, NBR ``nbr_wt`` kept, LPSCl the rest), ``nbr_wt`` (binder wt%, NCM kept,
  LPSCl the rest), ``composition`` (``NCM:LPSCl:NBR`` wt%, e.g. ``70:28:2``), ``ncm_d50_um`` /
  ``lpscl_d50_um`` (every diameter of the PSD table scaled by one factor so that its volume-based
  D50 is this, after the truncation below; the defaults are log-normal through D10/D50/D90 =
  6/9/13 um cut to [3, 16] um for NCM, D50 8.90 um, and 4/8/14 um cut to [2, 16] um for LPSCl,
  D50 7.64 um; the largest particle scales with the rest: 16 * D50 / 8.90 um for NCM),
  ``ncm_d_max_um`` / ``lpscl_d_max_um`` (the largest particle: the PSD cut there and renormalised;
  with a D50 close to it the distribution gets narrow; every extent of the piece must be at least
  the largest particle), ``thickness_um``, ``loading_mg_cm2``, ``electrode_density_g_cm3`` (then
  the thickness follows from the loading), ``particle_porosity``, ``size_um`` (x = y extent),
  ``size_x_um``, ``size_y_um``, ``voxel_um``, the true densities ``density_ncm_g_cm3`` (also the
  cell parameter of that name), ``density_lpscl_g_cm3``, ``density_nbr_g_cm3`` and the
  primary-particle sizes ``primary_d_min_um`` / ``primary_d_max_um``;
- **cell** keys change the discharge run around the structure: ``separator_um``;
- **parameter** keys change the cell parameters (:class:`~fem_twin.parameters.cell.ParameterSet`,
  every numeric field with its documented range, the choices ``li_contact`` and ``interface_area``
  and ``freeze_electrolyte``); they take effect in the discharge only.

Pure functions: :func:`resolve_key` (name or alias -> canonical name), :func:`parse_value` (text ->
a checked value), :func:`build_design` (values -> an ElectrodeDesign) and
:func:`parameter_overrides`. Every bad key or value is an :class:`~fem_twin.errors.InputError`
naming the option, the key and what was expected.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

from ..errors import InputError
from ..parameters import cell as _cell
from .cases import NCM_WT_RANGE


@dataclass(frozen=True)
class SweepKey:
    """One key of a sweep: ``kind`` 'design', 'cell' or 'param'; ``numeric`` keys take numbers in
    [``lo``, ``hi``] (open at ``lo`` when ``lo_open``), the others one of ``choices`` (or, for
    ``composition``, ``NCM:LPSCl:NBR``)."""

    name: str
    kind: str
    unit: str
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    numeric: bool = True
    choices: tuple = ()

    def expected(self) -> str:
        if self.name == "composition":
            return "NCM:LPSCl:NBR in wt% summing to 100, e.g. 70:28:2"
        if not self.numeric:
            return " or ".join(str(c) for c in self.choices)
        return f"a number in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}] {self.unit}"


def _design_keys() -> list[SweepKey]:
    um, big = "um", 1000.0
    keys = [
        SweepKey("ncm_wt", "design", "wt% NCM (NBR kept, LPSCl the rest)", *NCM_WT_RANGE),
        SweepKey("nbr_wt", "design", "wt% NBR binder (NCM kept, LPSCl the rest)", 0.0, 20.0),
        SweepKey("composition", "design", "NCM:LPSCl:NBR wt%", numeric=False),
        SweepKey("ncm_d50_um", "design", "um (NCM PSD scaled to this D50)", 0.5, 50.0),
        SweepKey("lpscl_d50_um", "design", "um (LPSCl PSD scaled to this D50)", 0.5, 50.0),
        SweepKey("ncm_d_max_um", "design", "um (largest NCM particle)", 0.5, 100.0),
        SweepKey("lpscl_d_max_um", "design", "um (largest LPSCl particle)", 0.5, 100.0),
        SweepKey("thickness_um", "design", um, 0.0, big, lo_open=True),
        SweepKey("loading_mg_cm2", "design", "mg/cm2", 0.0, 200.0, lo_open=True),
        SweepKey("electrode_density_g_cm3", "design", "g/cm3", 0.0, 10.0, lo_open=True),
        SweepKey("particle_porosity", "design", "- (fraction)", 0.0, 0.95),
        SweepKey("size_um", "design", "um (x = y extent)", 0.0, big, lo_open=True),
        SweepKey("size_x_um", "design", um, 0.0, big, lo_open=True),
        SweepKey("size_y_um", "design", um, 0.0, big, lo_open=True),
        SweepKey("voxel_um", "design", um, 0.0, 10.0, lo_open=True),
        SweepKey("density_ncm_g_cm3", "design", "g/cm3", 0.0, 20.0, lo_open=True),
        SweepKey("density_lpscl_g_cm3", "design", "g/cm3", 0.0, 20.0, lo_open=True),
        SweepKey("density_nbr_g_cm3", "design", "g/cm3", 0.0, 20.0, lo_open=True),
        SweepKey("primary_d_min_um", "design", um, 0.0, 20.0, lo_open=True),
        SweepKey("primary_d_max_um", "design", um, 0.0, 20.0, lo_open=True),
    ]
    return keys


#: design keys that are also cell parameters (set in both: the NCM mass of 1C uses the same density)
SHARED = ("density_ncm_g_cm3",)


def _param_keys() -> list[SweepKey]:
    keys = [SweepKey(name, "param", unit, lo, hi) for name, (lo, hi, unit) in _cell.RANGES.items()
            if name not in SHARED]
    keys += [SweepKey(name, "param", "", numeric=False, choices=tuple(ch)) for name, ch in _cell._CHOICES.items()]
    keys += [SweepKey(name, "param", "", numeric=False, choices=(True, False)) for name in _cell._BOOLS]
    return keys


#: every key, by canonical name
KEYS: dict[str, SweepKey] = {k.name: k for k in
                             _design_keys() + [SweepKey("separator_um", "cell", "um", 0.0, 500.0)] + _param_keys()}

#: alias -> canonical name (matched without regard to case, like the names)
ALIASES = {
    "ncm": "ncm_wt", "binder_wt": "nbr_wt", "nbr": "nbr_wt", "ncm_d50": "ncm_d50_um", "lpscl_d50": "lpscl_d50_um",
    "se_d50_um": "lpscl_d50_um", "thickness": "thickness_um", "loading": "loading_mg_cm2",
    "density": "electrode_density_g_cm3", "size": "size_um", "voxel": "voxel_um", "separator": "separator_um",
    "T": "temperature_K", "k": "k_ncm", "D_s": "d_ncm_m2_s", "D_e": "d_lpscl_m2_s", "sigma_s": "sigma_ncm_S_m",
    "sigma_e": "sigma_lpscl_S_m", "capacity": "practical_capacity_mAh_g",
}

_LOWER = {**{n.lower(): n for n in KEYS}, **{a.lower(): n for a, n in ALIASES.items()}}

#: pairs that cannot both be set (the second would silently undo the first)
CONFLICTS = (("composition", "ncm_wt"), ("composition", "nbr_wt"), ("size_um", "size_x_um"),
             ("size_um", "size_y_um"), ("thickness_um", "electrode_density_g_cm3"))


def resolve_key(name: str, option: str = "--vary") -> SweepKey:
    """The :class:`SweepKey` of a canonical name or an alias (any case); an unknown name is an
    InputError listing the closest keys."""
    k = _LOWER.get(str(name).strip().lower())
    if k is None:
        close = difflib.get_close_matches(str(name).lower(), list(_LOWER), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(_LOWER[c] for c in close)}?)" if close else ""
        raise InputError(option, f"a known key{hint}: " + ", ".join(KEYS) + "; aliases "
                         + ", ".join(f"{a}={n}" for a, n in ALIASES.items()), str(name))
    return KEYS[k]


def parse_value(key: SweepKey, text, option: str = "--vary"):
    """One value of ``key`` from text (or a number): a float in the key's range, a choice, a bool
    or (``composition``) the canonical ``"NCM:LPSCl:NBR"`` string."""
    field = f"{option} {key.name}"
    if key.name == "composition":
        from ..design import Composition

        try:
            c = Composition.parse(str(text).strip())
        except InputError:
            raise InputError(field, key.expected(), text) from None
        return f"{c.ncm:g}:{c.lpscl:g}:{c.nbr:g}"
    if not key.numeric:
        t = str(text).strip()
        if key.choices == (True, False):
            if t.lower() in ("true", "1", "yes"):
                return True
            if t.lower() in ("false", "0", "no"):
                return False
            raise InputError(field, "true or false", text)
        if t not in key.choices:
            raise InputError(field, key.expected(), text)
        return t
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise InputError(field, key.expected(), text) from None
    ok = math.isfinite(v) and (v > key.lo if key.lo_open else v >= key.lo) and v <= key.hi
    if not ok:
        raise InputError(field, key.expected(), text)
    return v


def _truncated(d, c, d_max):
    """The table (d, c) cut at d_max, the cumulative fraction renormalised to end at 1."""
    import numpy as np

    if d_max >= d[-1]:
        return d, c
    if d_max <= d[0]:  # nothing left below d_max (only met while searching the factor)
        return np.array([d_max * (1 - 1e-9), d_max]), np.array([0.0, 1.0])
    c_top = float(np.interp(np.log(d_max), np.log(d), c))
    keep = d < d_max
    return np.append(d[keep], d_max), np.append(c[keep], c_top) / c_top


def _median(d, c) -> float:
    import numpy as np

    return float(np.exp(np.interp(0.5, c, np.log(d))))


def scale_psd(psd, d50_um: float | None = None, d_max_um: float | None = None, name: str = "ncm"):
    """``psd`` with every diameter scaled by one factor (the same shape: D10/D50/D90 and the ends
    scale together) and, with ``d_max_um``, truncated there (the cumulative fraction interpolated
    there and renormalised to 1; a d_max above the table's end changes nothing). The factor makes
    the volume-based D50 of the result ``d50_um`` (after the truncation); None keeps the table's size."""
    import numpy as np

    from ..microstructure.psd import ParticleSizeDistribution

    d0 = np.asarray(psd.diameters_um, float)
    c0 = np.asarray(psd.cumulative, float)

    def make(s):
        return _truncated(d0 * s, c0, d_max_um) if d_max_um is not None else (d0 * s, c0)

    s = 1.0
    if d50_um is not None:
        if d_max_um is not None and not d50_um < d_max_um:
            raise InputError(f"{name}_d_max_um", f"a largest particle > the D50 {d50_um:g} um", d_max_um)
        lo, hi = np.log(1e-3), np.log(1e3)  # the truncated median grows with the factor: bisection in log
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            if _median(*make(np.exp(mid))) < d50_um:
                lo = mid
            else:
                hi = mid
        s = float(np.exp(0.5 * (lo + hi)))
    elif d_max_um is not None and not d_max_um > _median(d0, c0):
        raise InputError(f"{name}_d_max_um", f"a largest particle > the D50 {_median(d0, c0):.4g} um", d_max_um)
    d, c = make(s)
    return ParticleSizeDistribution(tuple(float(x) for x in d), tuple(float(x) for x in c))


def build_design(values: dict, base=None):
    """The :class:`~fem_twin.design.ElectrodeDesign` of ``base`` (default: the defaults) with the
    design keys of ``values`` (canonical names) set; other keys are ignored. Errors of the design
    itself (a piece smaller than its particles, an impossible density) are InputErrors naming the
    design field."""
    import dataclasses

    from ..design import Composition, ElectrodeDesign

    base = base if base is not None else ElectrodeDesign()
    v = {k: x for k, x in values.items() if k in KEYS and KEYS[k].kind == "design"}
    kw = {}
    comp = base.composition
    if "composition" in v:
        comp = Composition.parse(v["composition"])
    if "ncm_wt" in v or "nbr_wt" in v:
        ncm = v.get("ncm_wt", comp.ncm)
        nbr = v.get("nbr_wt", comp.nbr)
        if 100.0 - ncm - nbr < 0:
            raise InputError("nbr_wt", f"NCM + NBR <= 100 wt% (NCM {ncm:g})", nbr)
        comp = Composition(float(ncm), 100.0 - ncm - nbr, float(nbr))
    kw["composition"] = comp
    if "size_um" in v:
        kw["size_x_um"] = kw["size_y_um"] = v["size_um"]
    for name in ("thickness_um", "loading_mg_cm2", "electrode_density_g_cm3", "particle_porosity", "size_x_um",
                 "size_y_um", "voxel_um", "density_ncm_g_cm3", "density_lpscl_g_cm3", "density_nbr_g_cm3",
                 "primary_d_min_um", "primary_d_max_um"):
        if name in v:
            kw[name] = v[name]
    kw["ncm_psd"] = scale_psd(base.ncm_psd, v.get("ncm_d50_um"), v.get("ncm_d_max_um"), "ncm")
    kw["lpscl_psd"] = scale_psd(base.lpscl_psd, v.get("lpscl_d50_um"), v.get("lpscl_d_max_um"), "lpscl")
    return dataclasses.replace(base, **kw)


def parameter_overrides(values: dict) -> dict:
    """The parameter keys of ``values`` (canonical names) as :meth:`ParameterSet.with_overrides` takes them."""
    return {k: x for k, x in values.items() if k in KEYS and (KEYS[k].kind == "param" or k in SHARED)}


def format_value(v) -> str:
    """A value as folder names, the CSV and plot labels write it (numbers with 6 significant digits)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)
