"""Through-thickness bands of a voxel structure: where the LPSCl and the reactive contact sit.

A composite cathode a few secondary particles thick is not uniform through its thickness: one
seed may put more LPSCl next to the separator, another next to the current collector. Global
numbers (volume fractions, total contact area) do not show it; the bands do.

``through_thickness_bands(labels, h, n_bands, separator=True)`` cuts axis 2 (z = 0 the separator
plane, z = top the current collector, the convention of :mod:`fem_twin.analysis.fractions`) into
``n_bands`` slabs of (nearly) equal numbers of voxel layers and returns, per band:

- ``z_from_um`` / ``z_to_um``: the slab, um from the separator plane;
- ``volume_fraction``: {pore, ncm, lpscl, nbr} of the slab (0-1);
- ``ncm_lpscl_faces``: voxel faces between NCM and composite LPSCl whose NCM voxel lies in the
  slab (each face counted once: the bands' sum equals ``contact.face_counts(labels)['ncm|lpscl']``;
  faces across the x/y sides count when ``periodic_xy``, nothing across z = 0 / z = top);
- ``ncm_separator_faces``: NCM faces on the z = 0 plane, which touch the LPSCl separator of the
  cell (the mesher puts it below z = 0 and the discharge reacts there); 0 outside the first band
  and when ``separator`` is false;
- ``contact_area_per_ncm_volume_per_m``: NCM|LPSCl area per NCM volume of the slab, m^-1: the
  composite faces' isotropic estimate (faces * h^2 * 2/3, see :mod:`fem_twin.analysis.contact`)
  plus the separator faces at their true area (flat, faces * h^2); null when the slab holds no NCM;
- ``ncm_distance_to_contact_um``: mean over the slab's NCM voxels of the Euclidean distance (um,
  voxel centre to voxel centre, periodic in x/y when ``periodic_xy``) to the nearest *contact
  voxel*, an NCM voxel with a face on LPSCl (or on the separator); 0 for those. The solid-diffusion
  path runs inside the NCM (longer) and ends on the face (up to ~h/2 shorter); null when the slab
  holds no NCM or the structure has no contact;
- ``ncm_beyond_3um_fraction``: fraction (0-1) of the slab's NCM farther than 3 um from a contact
  voxel (null when the distance is null).

Cost: one Euclidean distance transform, of the structure with half a period wrapped around its x/y
sides when periodic (~0.7 s on 100 x 100 x 78 voxels).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..phases import LPSCL, NAMES, NCM
from .contact import ISOTROPIC_FACTOR, _neighbour_pairs
from .fractions import check_labels

#: distance (um) beyond which NCM counts in ``ncm_beyond_3um_fraction``
FAR_UM = 3.0


def band_edges(nz: int, n_bands: int) -> np.ndarray:
    """Layer indices ``[k_0 = 0, ..., k_n = nz]`` of ``n_bands`` slabs of nearly equal size."""
    if isinstance(n_bands, bool) or not isinstance(n_bands, (int, np.integer)) or not 1 <= n_bands <= nz:
        raise InputError("n_bands", f"an integer from 1 to the number of z layers ({nz})", n_bands)
    return np.rint(np.linspace(0, nz, int(n_bands) + 1)).astype(int)


def ncm_contact_faces(labels, periodic_xy: bool = True, separator: bool = False) -> np.ndarray:
    """Per voxel (int array of the labels' shape): its faces shared with LPSCl if it is NCM, else 0;
    with ``separator`` an NCM voxel of the z = 0 layer counts its face on the separator too."""
    lab = check_labels(labels)
    ncm = lab == NCM
    lps = lab == LPSCL
    count = np.zeros(lab.shape, dtype=np.int16)
    # the same face pairs as contact.face_counts; the pairs of ``count`` are views, written in place
    for (ncm_a, ncm_b), (lps_a, lps_b), (count_a, count_b) in zip(
            _neighbour_pairs(ncm, periodic_xy), _neighbour_pairs(lps, periodic_xy), _neighbour_pairs(count, periodic_xy)):
        count_a += ncm_a & lps_b
        count_b += ncm_b & lps_a
    if separator:
        count[:, :, 0] += ncm[:, :, 0]
    return count


def distance_to_contact_um(labels, voxel_size_um: float, periodic_xy: bool = True,
                           separator: bool = False) -> np.ndarray:
    """Euclidean distance (um) of every voxel centre to the nearest NCM voxel that shares a face
    with LPSCl (or, with ``separator``, lies on z = 0) (float array of the labels' shape; +inf
    everywhere when there is no such voxel)."""
    h = _voxel_size(voxel_size_um)
    return _distance_um(ncm_contact_faces(labels, periodic_xy, separator) > 0, h, periodic_xy)


def _voxel_size(voxel_size_um) -> float:
    """The voxel edge (um) as a float; InputError unless finite and positive."""
    h = float(voxel_size_um)
    if not np.isfinite(h) or h <= 0:
        raise InputError("voxel_size_um", "a positive voxel size in um", voxel_size_um)
    return h


def _distance_um(contact: np.ndarray, h: float, periodic_xy: bool) -> np.ndarray:
    """Euclidean distance (um) of every voxel centre to the nearest True voxel of ``contact``."""
    from scipy import ndimage

    if not contact.any():
        return np.full(contact.shape, np.inf)
    if not periodic_xy:
        return ndimage.distance_transform_edt(~contact, sampling=h)
    # the nearest periodic image of a contact is at most half a period away along x and along y,
    # so a wrapped margin of half a period on each side holds it
    px, py = ((n + 1) // 2 for n in contact.shape[:2])
    wrapped = np.pad(contact, ((px, px), (py, py), (0, 0)), mode="wrap")
    d = ndimage.distance_transform_edt(~wrapped, sampling=h)
    return d[px:px + contact.shape[0], py:py + contact.shape[1], :]


def through_thickness_bands(labels, voxel_size_um: float, n_bands: int = 3,
                            periodic_xy: bool = True, separator: bool = True) -> list[dict]:
    """The bands of the module docstring, from the separator (first) to the collector (last);
    ``separator``: the structure sits on the cell's LPSCl separator (z < 0)."""
    lab = check_labels(labels)
    h = _voxel_size(voxel_size_um)
    edges = band_edges(lab.shape[2], n_bands)
    faces = ncm_contact_faces(lab, periodic_xy)
    ncm = lab == NCM
    contact = faces > 0
    if separator:
        contact[:, :, 0] |= ncm[:, :, 0]
    dist = _distance_um(contact, h, periodic_xy)
    # per-layer sums, then per band: no Python loop over voxels
    layer_faces = faces.sum(axis=(0, 1), dtype=np.int64)
    layer_sep = np.zeros(lab.shape[2], dtype=np.int64)
    if separator:
        layer_sep[0] = int(ncm[:, :, 0].sum())
    layer_ncm = ncm.sum(axis=(0, 1), dtype=np.int64)
    d_ncm = np.where(ncm, dist, 0.0)
    layer_dist = d_ncm.sum(axis=(0, 1))
    layer_far = (ncm & (dist > FAR_UM)).sum(axis=(0, 1), dtype=np.int64)
    layer_phase = np.stack([(lab == i).sum(axis=(0, 1), dtype=np.int64) for i in range(len(NAMES))])
    per_layer = lab.shape[0] * lab.shape[1]
    bands = []
    for b in range(len(edges) - 1):
        k0, k1 = int(edges[b]), int(edges[b + 1])
        n_ncm = int(layer_ncm[k0:k1].sum())
        n_faces = int(layer_faces[k0:k1].sum())
        n_sep = int(layer_sep[k0:k1].sum())
        voxels = per_layer * (k1 - k0)
        has = n_ncm > 0
        finite = has and bool(np.isfinite(layer_dist[k0:k1]).all())
        bands.append({
            "z_from_um": k0 * h,
            "z_to_um": k1 * h,
            "volume_fraction": {NAMES[i]: float(layer_phase[i, k0:k1].sum() / voxels) for i in range(len(NAMES))},
            "ncm_lpscl_faces": n_faces,
            "ncm_separator_faces": n_sep,
            "contact_area_per_ncm_volume_per_m":
                ((n_faces * ISOTROPIC_FACTOR + n_sep) / (n_ncm * h) * 1e6) if has else None,
            "ncm_distance_to_contact_um": float(layer_dist[k0:k1].sum() / n_ncm) if finite else None,
            "ncm_beyond_3um_fraction": float(layer_far[k0:k1].sum() / n_ncm) if finite else None,
        })
    return bands
