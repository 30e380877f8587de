"""Volume fractions, dead (isolated) particles and percolation of a labelled voxel image.

Conventions
-----------
- Labels are those of :mod:`fem_twin.phases` (pore 0, ncm 1, lpscl 2, nbr 3); axis 2 (k) runs
  from the separator plane (k = 0, side ``'low'``) to the current collector (k = nz - 1,
  side ``'high'``).
- Voxels of one phase are connected through faces, edges and corners (**26-connectivity**, the
  convention of :mod:`fem_twin.analysis.connectivity` shared with the mesh).
- ``periodic_xy=True`` joins clusters across the x and y sides (generated structures are
  periodic there); ``periodic_xy=False`` is the convention of the finite-element mesh, whose x/y
  sides are plain walls. z is never periodic.

Dead particles (the seed's Figures S6/S7): NCM that is not connected to the current collector
(no electron path) and LPSCl that is not connected to the separator (no ion path). A phase
*percolates* when one of its clusters touches both z planes.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..phases import LPSCL, NAMES, NCM, PHASES
from .connectivity import label_clusters, touching

CONNECTIVITY = 26

#: phase name -> (label, side of axis 2 it must be connected to: 'low' separator, 'high' collector)
DEAD_RULES: dict[str, tuple[int, str]] = {"ncm": (NCM, "high"), "lpscl": (LPSCL, "low")}


def check_labels(labels) -> np.ndarray:
    """Return ``labels`` as a 3D integer array with values in the phase labels; raise otherwise."""
    lab = np.asarray(labels)
    if lab.ndim != 3 or lab.size == 0:
        raise InputError("labels", "a non-empty 3D array of phase labels", getattr(lab, "shape", None))
    if lab.dtype.kind not in "ui":
        raise InputError("labels", "an integer array (uint8 phase labels)", lab.dtype)
    lo, hi = int(lab.min()), int(lab.max())
    if lo < 0 or hi > max(NAMES):
        raise InputError("labels", f"phase labels in {sorted(NAMES)}", (lo, hi))
    return lab


def volume_fractions(labels) -> dict[str, float]:
    """Volume fraction (0-1) of every phase, keyed ``ncm``, ``lpscl``, ``nbr``, ``pore``."""
    lab = check_labels(labels)
    counts = np.bincount(lab.ravel(), minlength=len(NAMES))
    n = lab.size
    return {name: float(counts[PHASES[name]] / n) for name in ("ncm", "lpscl", "nbr", "pore")}


def dead_particles(labels, periodic_xy: bool = True) -> dict[str, dict]:
    """Dead-particle and percolation numbers of NCM and LPSCl.

    Returns a dict of dicts keyed by phase (``ncm``, ``lpscl``):

    - ``dead_fraction``: volume of the phase not connected to its plane (NCM: current collector,
      z = top; LPSCl: separator, z = 0) / volume of the phase (0-1; 0 when the phase is absent);
    - ``dead_clusters``: number of such disconnected clusters;
    - ``clusters``: number of clusters of the phase;
    - ``percolates``: some cluster touches both z planes (bool).

    ``periodic_xy`` joins clusters across the x/y sides (see the module docstring).
    """
    lab = check_labels(labels)
    periodic = (bool(periodic_xy), bool(periodic_xy), False)
    out: dict[str, dict] = {"dead_fraction": {}, "dead_clusters": {}, "clusters": {}, "percolates": {}}
    for name, (label, side) in DEAD_RULES.items():
        mask = lab == label
        clusters, n = label_clusters(mask, CONNECTIVITY, periodic)
        low = touching(clusters, n, 2, "low")
        high = touching(clusters, n, 2, "high")
        alive = low if side == "low" else high
        sizes = np.bincount(clusters.ravel(), minlength=n + 1)
        total = int(sizes[1:].sum())
        dead_vox = int(sizes[1:][~alive[1:]].sum())
        out["dead_fraction"][name] = dead_vox / total if total else 0.0
        out["dead_clusters"][name] = int(np.count_nonzero(~alive[1:]))
        out["clusters"][name] = int(n)
        out["percolates"][name] = bool(np.any(low[1:] & high[1:]))
    return out


def live_mask(labels, phase: str, periodic_xy: bool = True) -> np.ndarray:
    """Boolean mask of the voxels of ``phase`` ('ncm' or 'lpscl') connected to its plane."""
    lab = check_labels(labels)
    if phase not in DEAD_RULES:
        raise InputError("phase", f"one of {sorted(DEAD_RULES)}", phase)
    label, side = DEAD_RULES[phase]
    clusters, n = label_clusters(lab == label, CONNECTIVITY, (bool(periodic_xy),) * 2 + (False,))
    return touching(clusters, n, 2, side)[clusters]
