"""How far the NCM lies from where lithium can enter it: the path through NCM to a live contact.

During discharge lithium enters the NCM only at a *live contact*: an NCM voxel with a face on LPSCl
that is connected to the separator (ionic path), or an NCM voxel on the separator plane z = 0, in
NCM connected to the current collector at z = top (electronic path;
:func:`fem_twin.analysis.connectivity.live_phases`, without periodic sides, like the mesh). From
there it diffuses through the NCM (D_s ~ 3e-15 m^2/s, so ~ sqrt(D_s t) = 8.5 um in a 0.1C
discharge of 24,000 s). :func:`live_contact_distance_um` gives every live NCM voxel the length of
its shortest face-to-face path through live NCM to a live contact (um, voxel centre to voxel centre;
0 on the contact voxels themselves); NCM that is far by that path fills last.

Unlike the Euclidean distance of :mod:`fem_twin.analysis.profile` it follows the NCM (around pores
and LPSCl) and ignores contacts on dead LPSCl, so it changes when a structure is mirrored in z.

Cost: one multi-source Dijkstra on the voxel graph of the live NCM (~1 s on 100 x 100 x 78 voxels).
"""

from __future__ import annotations

import numpy as np

from ..phases import LPSCL, NCM
from .connectivity import live_phases
from .fractions import check_labels
from .profile import _voxel_size


def _face_pairs(shape):
    """For each axis: the slices (lower voxel, upper voxel) of the face-neighbour pairs along it."""
    for ax in range(len(shape)):
        lo = [slice(None)] * len(shape)
        hi = [slice(None)] * len(shape)
        lo[ax], hi[ax] = slice(0, -1), slice(1, None)
        yield tuple(lo), tuple(hi)


def live_contact_voxels(labels, dead_lpscl: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(live_ncm, contact)``: boolean arrays of the labels' shape; ``contact`` is the live NCM
    voxels with a face on live LPSCl or on the separator plane z = 0 (with ``dead_lpscl``: on any
    LPSCl, as if every LPSCl cluster reached the separator; what the dead LPSCl costs)."""
    lab = check_labels(labels)
    ncm_ok, ely_ok = live_phases(lab)
    if dead_lpscl:
        ely_ok = lab == LPSCL
    contact = np.zeros(lab.shape, bool)
    for lo, hi in _face_pairs(lab.shape):
        contact[lo] |= ncm_ok[lo] & ely_ok[hi]
        contact[hi] |= ncm_ok[hi] & ely_ok[lo]
    contact[:, :, 0] |= ncm_ok[:, :, 0]
    return ncm_ok, contact


def live_contact_distance_um(labels, voxel_size_um: float, dead_lpscl: bool = False) -> np.ndarray:
    """Per voxel (float array of the labels' shape): the shortest path (um) through live NCM, in face
    steps of one voxel edge, to a live contact voxel; +inf for live NCM that reaches none, NaN
    outside the live NCM (other phases, NCM cut off from the collector). ``dead_lpscl``: contacts
    on dead LPSCl count too (:func:`live_contact_voxels`)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    h = _voxel_size(voxel_size_um)
    live, contact = live_contact_voxels(labels, dead_lpscl)
    out = np.full(live.shape, np.nan)
    n = int(live.sum())
    if n == 0:
        return out
    node = np.full(live.shape, -1, np.int64)
    node[live] = np.arange(n)
    rows, cols = [], []
    for lo, hi in _face_pairs(live.shape):
        both = live[lo] & live[hi]
        rows.append(node[lo][both])
        cols.append(node[hi][both])
    r, c = np.concatenate(rows), np.concatenate(cols)
    sources = node[contact]
    if sources.size == 0:
        out[live] = np.inf
        return out
    graph = coo_matrix((np.full(r.size, h), (r, c)), shape=(n, n)).tocsr()
    out[live] = dijkstra(graph, directed=False, indices=sources, min_only=True)
    return out


def ncm_beyond_fraction(labels, distance_um: np.ndarray, lengths_um) -> dict[float, float]:
    """``{L: fraction}``: the share (0-1) of all NCM voxels whose live-contact distance is >= L um,
    for each L in ``lengths_um`` (unreachable live NCM counts as beyond every L; dead NCM does not)."""
    lab = check_labels(labels)
    total = int((lab == NCM).sum())
    d = np.asarray(distance_um)[~np.isnan(distance_um)]
    return {float(L): (float((d >= L).sum()) / total if total else 0.0) for L in lengths_um}


#: path lengths (um) of the structure report's ``live_contact_reach``
REPORT_LENGTHS_UM = (2.0, 4.0, 8.0)


def reach_summary(labels, voxel_size_um: float) -> dict:
    """The structure report's numbers: ``mean_path_um`` (mean over the live NCM that reaches a contact),
    ``ncm_beyond_fraction`` {"2", "4", "8": share (0-1) of all NCM at >= that many um},
    ``ncm_unreachable_fraction`` (live NCM that reaches no contact, 0-1 of all NCM) and
    ``ncm_beyond_8um_fraction_if_every_lpscl_were_live`` (what the dead LPSCl strands: the difference)."""
    lab = check_labels(labels)
    d = live_contact_distance_um(lab, voxel_size_um)
    fin = d[np.isfinite(d)]
    total = int((lab == NCM).sum())
    beyond = ncm_beyond_fraction(lab, d, REPORT_LENGTHS_UM)
    d_all = live_contact_distance_um(lab, voxel_size_um, dead_lpscl=True)
    return {"mean_path_um": float(fin.mean()) if fin.size else None,
            "ncm_beyond_fraction": {f"{L:g}": v for L, v in beyond.items()},
            "ncm_unreachable_fraction": float(np.isinf(d).sum() / total) if total else 0.0,
            "ncm_beyond_8um_fraction_if_every_lpscl_were_live": ncm_beyond_fraction(lab, d_all, (8.0,))[8.0]}
