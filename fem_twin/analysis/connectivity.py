"""Connected clusters of a phase, with periodic sides.

Connectivity convention (used by the analysis *and* the mesh, so both agree)
---------------------------------------------------------------------------
Two voxels of the same phase are connected when they share a face, an edge or a corner
(**26-connectivity**). A P1 finite-element space on the voxel-derived tetrahedral mesh couples
exactly these voxels (they share at least one mesh vertex), so a cluster this module calls
disconnected carries no current in the mesh, and the other way round.

By default the x and y sides are periodic (the generator's structures are) and z is not.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def _structure(connectivity: int) -> np.ndarray:
    if connectivity == 26:
        return ndimage.generate_binary_structure(3, 3)
    if connectivity == 6:
        return ndimage.generate_binary_structure(3, 1)
    raise ValueError(f"connectivity must be 6 or 26, got {connectivity!r}")


def label_clusters(mask: np.ndarray, connectivity: int = 26,
                   periodic: tuple[bool, bool, bool] = (True, True, False)) -> tuple[np.ndarray, int]:
    """Label the connected clusters of ``mask``.

    Returns ``(labels, n)``: int32 labels (0 outside ``mask``, clusters 1..n) and the number of
    clusters, with clusters joined across every periodic side.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3:
        raise ValueError("mask must be 3D")
    structure = _structure(connectivity)
    lab, n = ndimage.label(mask, structure=structure)
    lab = lab.astype(np.int32, copy=False)
    if n == 0 or not any(periodic):
        return lab, int(n)
    rows, cols = [], []
    offsets = [(0, 0)] if connectivity == 6 else list(itertools.product((-1, 0, 1), repeat=2))
    for axis in range(3):
        if not periodic[axis] or mask.shape[axis] < 2:
            continue
        a = np.take(lab, -1, axis=axis)  # last layer
        b = np.take(lab, 0, axis=axis)  # first layer, neighbour across the side
        other = [ax for ax in range(3) if ax != axis]
        for d0, d1 in offsets:
            bs = b
            ok = np.ones(a.shape, bool)
            for k, (ax, d) in enumerate(zip(other, (d0, d1))):
                if d == 0:
                    continue
                bs = np.roll(bs, -d, axis=k)
                if not periodic[ax]:  # no wrap along a bounded axis: drop wrapped rows
                    sl = [slice(None)] * 2
                    sl[k] = slice(-1, None) if d > 0 else slice(0, 1)
                    ok[tuple(sl)] = False
            sel = ok & (a > 0) & (bs > 0)
            rows.append(a[sel])
            cols.append(bs[sel])
    rows = np.concatenate(rows) if rows else np.empty(0, np.int32)
    cols = np.concatenate(cols) if cols else np.empty(0, np.int32)
    if rows.size == 0:
        return lab, int(n)
    g = coo_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=(n + 1, n + 1)).tocsr()
    _, comp = connected_components(g, directed=False)
    # component ids of clusters 1..n, renumbered 1..m in order of first appearance
    _, new = np.unique(comp[1:], return_inverse=True)
    relabel = np.concatenate([[0], new + 1]).astype(np.int32)
    return relabel[lab], int(new.max() + 1)


def touching(labels: np.ndarray, n: int, axis: int, side: str) -> np.ndarray:
    """Boolean over cluster ids 0..n: the cluster has a voxel on the ``side`` ('low'/'high') face."""
    face = np.take(labels, 0 if side == "low" else -1, axis=axis)
    hit = np.zeros(n + 1, bool)
    hit[np.unique(face)] = True
    hit[0] = False
    return hit


def attached(mask: np.ndarray, axis: int = 2, side: str = "low", connectivity: int = 26,
             periodic: tuple[bool, bool, bool] = (True, True, False)) -> np.ndarray:
    """Voxels of ``mask`` connected to the face ``side`` ('low' or 'high') normal to ``axis``."""
    lab, n = label_clusters(mask, connectivity, periodic)
    return touching(lab, n, axis, side)[lab]


def spanning(mask: np.ndarray, axis: int = 2, connectivity: int = 26,
             periodic: tuple[bool, bool, bool] = (True, True, False)) -> np.ndarray:
    """Voxels of ``mask`` in clusters that touch both faces normal to ``axis`` (the active part for
    conduction along ``axis``). Pass ``periodic`` False along ``axis`` when conducting along x or y."""
    lab, n = label_clusters(mask, connectivity, periodic)
    keep = touching(lab, n, axis, "low") & touching(lab, n, axis, "high")
    return keep[lab]


def live_phases(labels: np.ndarray, periodic_xy: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(ncm_ok, lpscl_ok)``: NCM voxels connected to the collector (z = nz-1) and LPSCl voxels
    connected to the separator side (z = 0), without periodic sides (as the cut mesh) or, with
    ``periodic_xy``, connected across the x and y faces too (as a periodic mesh)."""
    from .. import phases

    lab = np.asarray(labels)
    flat = (bool(periodic_xy), bool(periodic_xy), False)
    ncm = lab == phases.NCM
    ely = lab == phases.LPSCL
    ncm_ok = attached(ncm, axis=2, side="high", periodic=flat) if ncm.any() else ncm
    ely_ok = attached(ely, axis=2, side="low", periodic=flat) if ely.any() else ely
    return ncm_ok, ely_ok


def no_current_path(labels: np.ndarray, live: tuple[np.ndarray, np.ndarray] | None = None) -> str | None:
    """Why a cathode image can carry no discharge current at all, or None when it can.

    ``labels``: phase labels (:mod:`fem_twin.phases`), z = 0 at the separator, z = nz-1 at the
    collector; ``live``: :func:`live_phases` of it when already computed. A discharge needs NCM
    attached to the collector (electrons), LPSCl attached to the separator side (Li+ ions) and a face
    between the two (the NCM|LPSCl interface where the reaction runs); without one of them the cell
    piece delivers 0 mAh/g (the discharge mesh would prune everything that carries current).
    """
    lab = np.asarray(labels)
    ncm_ok, ely_ok = live_phases(lab) if live is None else live
    if not ncm_ok.any():
        return "no NCM cluster reaches the current collector (no electronic path)"
    if not ely_ok.any():
        return "no LPSCl cluster reaches the separator (no ionic path)"
    for axis in range(3):
        n = lab.shape[axis]
        lo, hi = (slice(None),) * axis + (slice(0, n - 1),), (slice(None),) * axis + (slice(1, n),)
        if (ncm_ok[lo] & ely_ok[hi]).any() or (ncm_ok[hi] & ely_ok[lo]).any():
            return None
    return "no connected NCM touches connected LPSCl (no reacting interface)"
