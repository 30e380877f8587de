"""Coarsen a smoothed labelled surface where it is flat: half-edge collapses, vectorised in rounds.

The smoothed surface of :mod:`fem_twin.meshing.smooth_surface` has one point per voxel corner on
every interface, so nearly every vertex of the smooth volume mesh lies on a surface (93 % on the
demo piece) and the surface, not the size field, sets the number of unknowns. This module removes
surface points where the surface is flat enough to be described by fewer, larger triangles.

Only *interior* points of one surface are removed (all their triangles belong to one discrete
surface, the point is not a pinch and its triangle ring is a closed disk): triple lines, box-plane
edges, pinches and the separator plane's rim keep every point, so the surfaces stay conforming with
each other. The faces of a periodic axis (``LabelledSurface.periodic``) keep all their points, so
the two faces of the cut-open surface stay copies of each other. A point v is collapsed onto a neighbour u (u keeps its position; v's triangles that
contain u disappear, the others take u for v) when

- the link condition holds (u and v have exactly two common neighbours: no change of topology),
- no new triangle turns more than ``max_normal_deg`` from the triangle it replaces, none has an
  angle below ``min_angle_deg`` (unless the old one was worse) and no new edge exceeds
  ``max_edge`` h,
- the quadric error of u (mean squared distance to the tangent planes of every original triangle
  that has been merged into u, area weighted; Garland & Heckbert 1997) stays below
  (``tolerance`` h)^2.

Collapses of one round have disjoint closed one-rings (a distance-2 independent set of random
priorities), so they do not interact and are applied together. Points on box planes or on the
separator plane move only within their plane, because u is an existing point of the same flat
surface. After coarsening, crossings between surfaces are checked; points near a crossing are
frozen and the coarsening is redone from the input (``max_restarts`` times).

Units: um. Pure numpy / scipy.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import asdict, dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from .smooth_surface import LabelledSurface, _restore_volumes, edge_triangle_crossings_any_size, folded_pairs


@dataclass(frozen=True)
class CoarseningOptions:
    """Surface coarsening (lengths in voxel edges h). ``rounds = 0`` switches it off."""

    rounds: int = 40  #: collapse rounds (each removes a distance-2 independent set)
    tolerance: float = 0.1  #: largest rms distance of a point to the original tangent planes it carries, in h
    max_edge: float = 3.0  #: longest edge after a collapse, in h
    max_normal_deg: float = 20.0  #: largest turn of a triangle's normal in one collapse
    min_angle_deg: float = 15.0  #: smallest triangle angle a collapse may create
    max_restarts: int = 3  #: redo the coarsening with the points near crossings frozen
    volume_rounds: int = 8  #: normal-offset rounds that give every region its volume back (0: off)
    max_shift: float = 0.5  #: largest distance of a point from its voxel corner per axis (as in smoothing), in h

    def check(self) -> "CoarseningOptions":
        if not (isinstance(self.rounds, int) and 0 <= self.rounds <= 1000):
            raise InputError("coarsening rounds", "an integer in [0, 1000]", self.rounds)
        if not (0 < self.tolerance <= 1):
            raise InputError("coarsening tolerance", "a number in (0, 1] (voxel edges)", self.tolerance)
        if not (1 <= self.max_edge <= 10):
            raise InputError("coarsening max_edge", "a number in [1, 10] (voxel edges)", self.max_edge)
        if not (0 < self.max_normal_deg < 90 and 0 <= self.min_angle_deg < 60):
            raise InputError("coarsening angles", "0 < max_normal_deg < 90, 0 <= min_angle_deg < 60",
                             (self.max_normal_deg, self.min_angle_deg))
        return self

    def as_dict(self) -> dict:
        return asdict(self)


log = logging.getLogger(__name__)


def _tri_normals(x: np.ndarray, tris: np.ndarray) -> np.ndarray:
    p = x[tris]
    return np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])


def _min_angle_cos(x: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(m,) cosine of the smallest angle of each triangle (the largest cosine)."""
    p = x[tris]
    e = [p[:, 1] - p[:, 0], p[:, 2] - p[:, 1], p[:, 0] - p[:, 2]]  # edge i runs from corner i to i+1
    l2 = [np.einsum("ij,ij->i", v, v) for v in e]
    out = np.full(len(tris), -1.0)
    for i in range(3):  # the angle at corner i lies between edge i and the reversed edge i-1
        j = (i + 2) % 3
        cos = -np.einsum("ij,ij->i", e[i], e[j]) / np.sqrt(np.maximum(l2[i] * l2[j], 1e-300))
        np.maximum(out, cos, out=out)
    return out


def _plane_quadrics(x: np.ndarray, tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Area-weighted plane quadrics (m, 4, 4) of the triangles and their areas (m,)."""
    n = _tri_normals(x, tris)
    a2 = np.linalg.norm(n, axis=1)
    n = n / np.maximum(a2, 1e-300)[:, None]
    d = -np.einsum("ij,ij->i", n, x[tris[:, 0]])
    p = np.column_stack([n, d])
    area = 0.5 * a2
    return area[:, None, None] * p[:, :, None] * p[:, None, :], area


def _interior_points(tris: np.ndarray, surf_of_tri: np.ndarray, n: int, pinch: np.ndarray, frozen: np.ndarray):
    """Points whose triangles all lie on one surface and form a closed disk (valence = triangles)."""
    v = tris.ravel()
    s = np.repeat(surf_of_tri, 3)
    smin = np.full(n, np.iinfo(np.int64).max)
    smax = np.full(n, -1)
    np.minimum.at(smin, v, s)
    np.maximum.at(smax, v, s)
    ntri = np.bincount(v, minlength=n)
    e = np.sort(np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]]), axis=1)
    ue, cnt = np.unique(e, axis=0, return_counts=True)
    valence = np.bincount(ue.ravel(), minlength=n)
    bad_edge = np.zeros(n, bool)
    bad_edge[ue[cnt != 2].ravel()] = True
    return (smin == smax) & (ntri > 0) & (ntri == valence) & ~bad_edge & ~pinch & ~frozen, ue


def _coarsen_once(x: np.ndarray, tris: np.ndarray, surf_of_tri: np.ndarray, sign: np.ndarray,
                  pinch: np.ndarray, frozen: np.ndarray, h: float, opt: CoarseningOptions,
                  rng: np.random.Generator):
    n = x.shape[0]
    Qt, At = _plane_quadrics(x, tris)
    Q = np.zeros((n, 4, 4))
    W = np.zeros(n)
    for k in range(3):
        np.add.at(Q, tris[:, k], Qt)
        np.add.at(W, tris[:, k], At)
    tris = tris.copy()
    alive_t = np.ones(len(tris), bool)
    cos_n = np.cos(np.radians(opt.max_normal_deg))
    cos_a = np.cos(np.radians(opt.min_angle_deg))
    tol2 = (opt.tolerance * h) ** 2
    lmax2 = (opt.max_edge * h) ** 2
    xh = np.column_stack([x, np.ones(n)])
    failures = np.zeros(n, np.int32)
    frozen = frozen.copy()
    for _ in range(opt.rounds):
        T = tris[alive_t]
        cand, ue = _interior_points(T, surf_of_tri[alive_t], n, pinch, frozen | (failures >= 8))
        if not cand.any():
            break
        A = sp.coo_matrix((np.ones(2 * len(ue), bool), (np.r_[ue[:, 0], ue[:, 1]], np.r_[ue[:, 1], ue[:, 0]])),
                          shape=(n, n)).tocsr()
        win = np.flatnonzero(cand)  # every candidate is evaluated; the independent set comes after
        # candidate targets: every neighbour u of a winner v
        rows = A[win]
        vv = np.repeat(win, np.diff(rows.indptr))
        uu = rows.indices.astype(np.int64)
        # link condition: exactly two common neighbours
        common = np.asarray(A[vv].multiply(A[uu]).sum(axis=1)).ravel()
        # quadric error of u carrying v's planes
        Qs = Q[vv] + Q[uu]
        err = np.einsum("ki,kij,kj->k", xh[uu], Qs, xh[uu]) / np.maximum(W[vv] + W[uu], 1e-300)
        ok = (common == 2) & (err <= tol2)
        # per-triangle normals and smallest angles of this round's triangles (dead ones unused)
        tri_normal = np.zeros((len(tris), 3))
        tri_angle = np.full(len(tris), -1.0)
        tri_normal[alive_t] = _tri_normals(x, T)
        tri_angle[alive_t] = _min_angle_cos(x, T)
        # triangles of each winner (T is alive triangles)
        t_idx = np.flatnonzero(alive_t)
        v_of = np.concatenate([T[:, 0], T[:, 1], T[:, 2]])
        t_of = np.tile(t_idx, 3)
        is_win = np.zeros(n, bool)
        is_win[win] = True
        sel = is_win[v_of]
        v_of, t_of = v_of[sel], t_of[sel]
        order = np.argsort(v_of, kind="stable")
        v_of, t_of = v_of[order], t_of[order]
        start = np.searchsorted(v_of, vv)
        cnt = np.searchsorted(v_of, vv, side="right") - start
        pair = np.repeat(np.arange(vv.size), cnt)
        tt = t_of[np.repeat(start, cnt) + np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)]
        old = tris[tt]
        u_p = uu[pair]
        keep = ~(old == u_p[:, None]).any(axis=1)  # triangles containing u disappear
        new = np.where(old == vv[pair][:, None], u_p[:, None], old)
        # geometry of the triangles that stay (the others disappear with the collapse)
        kk = np.flatnonzero(keep)
        n_old = tri_normal[tt[kk]]
        n_new = _tri_normals(x, new[kk])
        cosn = np.einsum("ij,ij->i", n_old, n_new) / np.sqrt(np.maximum(
            np.einsum("ij,ij->i", n_old, n_old) * np.einsum("ij,ij->i", n_new, n_new), 1e-300))
        ang_new = _min_angle_cos(x, new[kk])
        ang_old = tri_angle[tt[kk]]
        pn = x[new[kk]]
        edge2 = np.max([np.einsum("ij,ij->i", d, d) for d in (pn[:, 1] - pn[:, 0], pn[:, 2] - pn[:, 1],
                                                                 pn[:, 0] - pn[:, 2])], axis=0)
        good_t = np.ones(len(tt), bool)
        good_t[kk] = (cosn >= cos_n) & ((ang_new <= cos_a) | (ang_new <= ang_old)) & (edge2 <= lmax2)
        bad_pair = np.bincount(pair, weights=~good_t, minlength=vv.size) > 0
        ok &= ~bad_pair
        # best target per winner: the smallest error among the valid ones
        score = np.where(ok, err, np.inf)
        order = np.lexsort((score, vv))
        first = np.r_[True, vv[order][1:] != vv[order][:-1]]
        best = order[first]
        best = best[np.isfinite(score[best])]
        log.debug("coarsening round: %d candidates, %d valid collapses; link condition %.2f, "
                  "error within tolerance %.2f, geometry %.2f", cand.sum(), best.size, (common == 2).mean(),
                  (err <= tol2).mean(), (~bad_pair).mean())
        failures[np.setdiff1d(win, vv[best])] += 1
        # a maximal distance-2 independent set (random priorities, a few Luby sub-rounds) among
        # the points with a valid collapse: collapses of one round must not see each other
        best = _distance2_independent(A, vv[best], best, rng)
        if best.size == 0:
            break
        v_c, u_c = vv[best], uu[best]
        target = np.full(n, -1)
        target[v_c] = u_c
        # apply: triangles of the collapsed points
        hit = np.isin(pair, best)
        tt_h, new_h, keep_h = tt[hit], new[hit], keep[hit]
        tris[tt_h[keep_h]] = new_h[keep_h]
        alive_t[tt_h[~keep_h]] = False
        Q[u_c] += Q[v_c]
        W[u_c] += W[v_c]
        frozen[v_c] = True  # removed points are never candidates again
        log.debug("collapsed %d points", best.size)
        if best.size < 0.002 * cand.sum():
            break
    return tris[alive_t], surf_of_tri[alive_t], sign[alive_t]


def _neighbour_max(A: sp.csr_matrix, val: np.ndarray) -> np.ndarray:
    """(n,) max of ``val`` over the neighbours of every point (-inf without neighbours)."""
    out = np.full(A.shape[0], -np.inf)
    has = np.diff(A.indptr) > 0
    if A.indices.size:
        out[has] = np.maximum.reduceat(val[A.indices], A.indptr[:-1][has])
    return out


def _distance2_independent(A: sp.csr_matrix, points: np.ndarray, items: np.ndarray,
                           rng: np.random.Generator, sub_rounds: int = 4) -> np.ndarray:
    """The ``items`` whose ``points`` form a distance-2 independent set of the graph ``A`` (no two
    within two edges), grown over ``sub_rounds`` Luby rounds: in each, an unblocked point wins when
    its random priority is the largest within distance 2 among the unblocked points; the winners
    block their distance-2 neighbourhoods."""
    n = A.shape[0]
    pr = np.full(n, -1.0)
    pr[points] = rng.random(points.size)
    blocked = np.zeros(n, bool)
    chosen = np.zeros(points.size, bool)
    Af = A.astype(np.float64)
    for _ in range(sub_rounds):
        p = np.where(blocked, -1.0, pr)
        m2 = np.maximum(p, _neighbour_max(A, np.maximum(p, _neighbour_max(A, p))))
        win = (p[points] >= 0) & (p[points] >= m2[points])
        if not win.any():
            break
        chosen |= win
        b = np.zeros(n)
        b[points[win]] = 1.0
        b1 = b + Af @ b
        blocked |= (b1 + Af @ b1) > 0
    return items[chosen]


def coarsen(surf: LabelledSurface, voxel_um: float, options: CoarseningOptions = CoarseningOptions(),
            seed: int = 0) -> LabelledSurface:
    """A coarsened copy of ``surf`` (unused points dropped); ``surf`` itself is not changed."""
    options.check()
    if options.rounds == 0:
        return surf
    h = float(voxel_um)
    rng = np.random.default_rng(seed)
    x = surf.points
    frozen = np.zeros(x.shape[0], bool)
    for a in surf.periodic:  # the faces of a periodic axis keep every point, so they keep matching
        frozen |= (surf.points_initial[:, a] == 0.0) | (surf.points_initial[:, a] == surf.points_initial[:, a].max())
    sign = surf.triangle_sign if surf.triangle_sign is not None else np.ones(len(surf.triangles), np.int8)
    target = surf.region_volumes()
    lim = np.full((x.shape[0], 1), options.max_shift * h)
    for restart in range(options.max_restarts + 1):
        tris, sot, sgn = _coarsen_once(surf.points, surf.triangles, surf.surface_of_triangle, sign, surf.pinch,
                                       frozen, h, options, rng)
        x = surf.points
        if options.volume_rounds:
            # the chords of a curved surface cut it: offset the remaining interior points along
            # the normals until every region has its volume before coarsening again
            tmp = dataclasses.replace(surf, triangles=tris, surface_of_triangle=sot, triangle_sign=sgn)
            smin = np.full(x.shape[0], np.iinfo(np.int64).max)
            smax = np.full(x.shape[0], -1)
            np.minimum.at(smin, tris.ravel(), np.repeat(sot, 3))
            np.maximum.at(smax, tris.ravel(), np.repeat(sot, 3))
            movable = (smin == smax) & ~surf.pinch
            x = _restore_volumes(tmp, x, surf.points_initial, movable, lim, options.volume_rounds, target)
        edges = np.unique(np.sort(np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]]), axis=1),
                          axis=0)
        cell = max(h, float(np.sqrt(((x[edges[:, 0]] - x[edges[:, 1]]) ** 2).sum(axis=1).max())))
        hits = edge_triangle_crossings_any_size(x, edges, tris, h)
        folds = folded_pairs(x, tris)
        if hits.shape[0] == 0 and folds.shape[0] == 0:
            break
        # freeze every original point near the crossing triangles and start again
        bad = np.unique(np.concatenate([edges[hits[:, 0]].ravel(), tris[hits[:, 1]].ravel(), tris[folds].ravel()]))
        near = np.zeros(x.shape[0], bool)
        for p in x[bad]:  # few crossing points: a loop over them, not over the surface
            near |= np.all(np.abs(x - p) <= 2 * cell, axis=1)
        frozen |= near
    else:
        raise RuntimeError("coarsened surface still self-intersects after freezing the crossing regions")
    used, inv = np.unique(tris.ravel(), return_inverse=True)
    out = LabelledSurface(x[used], surf.points_initial[used], inv.reshape(-1, 3).astype(np.int64), sot,
                          surf.surfaces, surf.region_label, surf.pinch[used], surf.n_regions, sgn,
                          untangle_rounds=surf.untangle_rounds, coarsening_restarts=restart, periodic=surf.periodic)
    return out
