"""The structure report of a voxel image: fractions, dead particles, percolation, contact areas.

``analyse(image)`` computes a :class:`StructureReport`; ``report.save(directory)`` writes
``directory/analysis.json``. JSON keys (units in the names; fractions are 0-1):

- ``shape`` [nx, ny, nz], ``voxel_size_um``, ``electrode_volume_um3``, ``seed``, ``source``,
  ``version``, ``connectivity`` (26), ``periodic_xy`` (true);
- ``volume_fraction`` / ``target_volume_fraction``: {ncm, lpscl, nbr, pore}; the target is null
  for an image without a design;
- ``dead_fraction`` {ncm, lpscl}: volume of NCM not connected to the current collector (z = top) /
  LPSCl not connected to the separator (z = 0), over that phase's volume; ``dead_clusters``,
  ``clusters`` (counts) and ``percolates`` {ncm, lpscl} (a cluster touches both z planes); all
  with x/y periodic. The same with the finite-element mesh's convention (x/y sides are walls):
  ``dead_fraction_nonperiodic``, ``dead_clusters_nonperiodic``, ``clusters_nonperiodic``,
  ``percolates_nonperiodic``;
- ``contact_faces``: voxel faces per interface (``ncm|lpscl``, ``ncm|nbr``, ``pore|ncm``,
  ``lpscl|nbr``, ``pore|lpscl``, ``pore|nbr``);
- ``contact_area_um2`` and ``contact_area_density_per_m`` (area / electrode volume, m^-1): each
  {``raw``: faces * h^2, ``corrected``: the ``corrected_method`` estimate}, keyed by interface;
  ``corrected_method`` = 'isotropic' (raw * 2/3, see :mod:`fem_twin.analysis.contact`);
- ``contact_area_marching_cubes_um2`` / ``contact_area_density_marching_cubes_per_m``:
  {``ncm|lpscl``: value} (empty when skipped or scikit-image is missing);
- ``active_contact_area_density_per_m``: {raw, corrected} of NCM|LPSCl counting only NCM
  connected to the collector and LPSCl connected to the separator (the seed's Fig. S8);
- ``descriptors``: {ncm, lpscl, nbr, pore} each {``eps`` (0-1), ``tau_geo`` (geodesic
  tortuosity along z, 26-neighbour paths from z = 0 to z = top / thickness; null when the phase
  does not percolate), ``reached_fraction`` (0-1 of the phase's top-plane voxels reached from
  z = 0), ``beta`` (constrictivity (r_min / r_max)^2, 0-1), ``r_min_um`` (r50 of the simulated
  mercury intrusion from z = 0, of the volume connected to z = 0, um), ``r_max_um`` (r50 of the continuous size distribution, um),
  ``ssa_per_m`` (interface area of the phase / electrode volume, isotropic estimate, m^-1; the sum
  of its ``contact_area_density_per_m['corrected']``), ``s2_lag_um`` / ``s2`` (through-plane
  two-point correlation at lags 0-5 um)}; undefined values are null; {} when skipped or in a file
  written before it existed (see :mod:`fem_twin.analysis.descriptors`);
- ``through_thickness``: three slabs of (nearly) equal thickness from the separator (first) to the
  collector (last), each {``z_from_um``, ``z_to_um``, ``volume_fraction``, ``ncm_lpscl_faces``,
  ``ncm_separator_faces``, ``contact_area_per_ncm_volume_per_m``, ``ncm_distance_to_contact_um``,
  ``ncm_beyond_3um_fraction``}, with the NCM on z = 0 touching the cell's LPSCl separator (see
  :mod:`fem_twin.analysis.profile`); [] in a file written before it existed;
- ``live_contact_reach``: the path through live NCM to a live contact (NCM on LPSCl connected to the
  separator, or on the separator; non-periodic, like the mesh; :mod:`fem_twin.analysis.reach`):
  ``mean_path_um``, ``ncm_beyond_fraction`` {"2", "4", "8" um: share of all NCM (0-1)},
  ``ncm_unreachable_fraction``, ``ncm_beyond_8um_fraction_if_every_lpscl_were_live``; NCM beyond
  ~sqrt(D_s t) (8.5 um in a 0.1C discharge) fills last (docs/rate_study.md); {} in a file written
  before it existed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import FileFormatError, InputError
from . import contact, fractions, profile, reach
from .descriptors import descriptors as phase_descriptors

ANALYSIS_FILE = "analysis.json"
#: slabs of ``through_thickness`` (separator third, middle third, collector third)
THROUGH_THICKNESS_BANDS = 3


@dataclass(frozen=True)
class StructureReport:
    """Numbers describing a voxel structure (see the module docstring for every key and unit)."""

    shape: tuple[int, int, int]
    voxel_size_um: float
    electrode_volume_um3: float
    seed: int
    source: str
    volume_fraction: dict
    target_volume_fraction: dict | None
    dead_fraction: dict
    dead_clusters: dict
    clusters: dict
    percolates: dict
    dead_fraction_nonperiodic: dict
    dead_clusters_nonperiodic: dict
    clusters_nonperiodic: dict
    percolates_nonperiodic: dict
    contact_faces: dict
    contact_area_um2: dict
    contact_area_density_per_m: dict
    corrected_method: str
    contact_area_marching_cubes_um2: dict
    contact_area_density_marching_cubes_per_m: dict
    active_contact_area_density_per_m: dict
    descriptors: dict = dataclasses.field(default_factory=dict)
    through_thickness: list = dataclasses.field(default_factory=list)
    live_contact_reach: dict = dataclasses.field(default_factory=dict)
    connectivity: int = fractions.CONNECTIVITY
    periodic_xy: bool = True
    version: str = __version__

    def to_dict(self) -> dict:
        """Plain JSON-compatible dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["shape"] = list(self.shape)
        return d

    def save(self, path: str | Path) -> Path:
        """Write the JSON to ``path/analysis.json`` (``path`` a directory) or to ``path`` when it
        ends in ``.json``; returns the file written."""
        p = Path(path)
        if p.suffix != ".json":
            p.mkdir(parents=True, exist_ok=True)
            p = p / ANALYSIS_FILE
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=2))
        return p

    @classmethod
    def from_dict(cls, d: dict) -> "StructureReport":
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        missing = sorted(required - set(d))
        if missing:
            raise InputError("analysis", f"the keys {missing}", sorted(d))
        kw = {k: v for k, v in d.items() if k in names}  # newer keys are ignored
        kw["shape"] = tuple(int(s) for s in kw["shape"])
        return cls(**kw)

    @classmethod
    def load(cls, path: str | Path) -> "StructureReport":
        """Read ``analysis.json`` (a file, or a directory holding one)."""
        p = Path(path)
        if p.is_dir():
            p = p / ANALYSIS_FILE
        from ..outputs import read_json_object

        d = read_json_object(p, "no such file (run the analysis first)")
        try:
            return cls.from_dict(d)
        except (InputError, TypeError, ValueError) as exc:
            raise FileFormatError(p, str(exc)) from None


def analyse(image, marching_cubes: bool = True, descriptors: bool = True) -> StructureReport:
    """Analyse a :class:`~fem_twin.microstructure.image.VoxelImage`.

    ``marching_cubes`` adds the marching-cubes NCM|LPSCl area (~2 s on 100x100x78 voxels);
    it is skipped silently when scikit-image is not installed. ``descriptors`` adds the geometric
    descriptors of :mod:`fem_twin.analysis.descriptors` (~14 s on 100x100x78
    voxels, ~1.4 s on 32x32x78). ``through_thickness`` costs ~0.7 s, ``live_contact_reach`` ~2 s on
    100x100x78 voxels.
    """
    from ..microstructure.image import VoxelImage

    if not isinstance(image, VoxelImage):
        raise InputError("image", "a VoxelImage", type(image).__name__)
    lab = image.labels
    h = float(image.voxel_size_um)
    shape = image.shape
    design = image.design
    target = None
    if design is not None:
        target = {k: float(v) for k, v in design.volume_fractions().phases().items()}

    per = fractions.dead_particles(lab, periodic_xy=True)
    nonper = fractions.dead_particles(lab, periodic_xy=False)

    def density(area_um2: float) -> float:
        return contact.area_density_per_m(area_um2, shape, h)

    faces = contact.face_counts(lab, periodic_xy=True)
    areas = contact.contact_areas_um2(lab, h, periodic_xy=True)
    area = {"raw": areas["raw"], "corrected": areas[contact.CORRECTED_METHOD]}
    dens = {kind: {k: density(v) for k, v in vals.items()} for kind, vals in area.items()}

    mc_area: dict = {}
    if marching_cubes:
        try:
            mc_area["ncm|lpscl"] = contact.marching_cubes_interface_um2(lab, "ncm", "lpscl", h, True)
        except ImportError:
            mc_area = {}
    mc_dens = {k: density(v) for k, v in mc_area.items()}

    live_n = fractions.live_mask(lab, "ncm", periodic_xy=True)
    live_l = fractions.live_mask(lab, "lpscl", periodic_xy=True)
    active_raw = contact.mask_face_count(live_n, live_l, periodic_xy=True) * h * h
    active = {"raw": density(active_raw), "corrected": density(active_raw * contact.ISOTROPIC_FACTOR)}

    return StructureReport(
        shape=shape,
        voxel_size_um=h,
        electrode_volume_um3=float(np.prod(shape)) * h ** 3,
        seed=int(image.seed),
        source=str(image.source),
        volume_fraction=fractions.volume_fractions(lab),
        target_volume_fraction=target,
        dead_fraction=per["dead_fraction"],
        dead_clusters=per["dead_clusters"],
        clusters=per["clusters"],
        percolates=per["percolates"],
        dead_fraction_nonperiodic=nonper["dead_fraction"],
        dead_clusters_nonperiodic=nonper["dead_clusters"],
        clusters_nonperiodic=nonper["clusters"],
        percolates_nonperiodic=nonper["percolates"],
        contact_faces=faces,
        contact_area_um2=area,
        contact_area_density_per_m=dens,
        corrected_method=contact.CORRECTED_METHOD,
        contact_area_marching_cubes_um2=mc_area,
        contact_area_density_marching_cubes_per_m=mc_dens,
        active_contact_area_density_per_m=active,
        descriptors=phase_descriptors(image) if descriptors else {},
        through_thickness=profile.through_thickness_bands(lab, h, THROUGH_THICKNESS_BANDS, periodic_xy=True)
        if shape[2] >= THROUGH_THICKNESS_BANDS else [],
        live_contact_reach=reach.reach_summary(lab, h),
    )
