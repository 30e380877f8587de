"""Labelled voxel image -> smooth multi-phase interface surface (triangles that know their two sides).

This is the first half of the smooth mesher (:mod:`fem_twin.meshing.smooth_mesh`); pure numpy /
scipy, no gmsh, no MPI.

Construction
------------
1. **Regions.** Every phase is split into its face-connected (6-connected) components; each
   component is one *region* (one gmsh volume later). The separator layers below the composite
   are one more region (label :data:`fem_twin.phases.SEPARATOR`).
2. **Staircase surface.** Every voxel face between two different regions, and every voxel face on
   the box, becomes a quad on the four voxel corners of the face, split into two triangles. The
   surface points are the voxel corners (one point per grid vertex, so the surfaces of all regions
   share their points exactly: no duplicated points, no open edges). This is the unsmoothed
   SurfaceNets surface (VTK's vtkSurfaceNets3D places its points in the same dual cells).
   Triangles are grouped by their ordered pair of sides ``(region a, region b)`` or
   ``(region, box plane)``: one group is one discrete gmsh surface.
3. **Constrained smoothing.** Taubin (lambda | mu) smoothing, where each point moves only with the
   neighbours (quad edges) that have the same *signature* -- the set of phases and box planes around
   it: a point on a two-phase surface smooths over that surface, a point on a triple line (3+
   phases) along that line, a point on a box face within the face. Coordinates on box planes and on
   the separator | composite plane stay on their plane; *pinch* points (a phase whose voxels around
   the point touch only along an edge or at a corner: the surface is not a manifold there) do not
   move, and every point stays within ``max_shift`` voxel edges (per axis) of its voxel corner, so
   the surface cannot fold across its neighbours' cells.

Units: um. Arrays indexed (x, y, z) as everywhere in fem_twin.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.ndimage as ndi
import scipy.sparse as sp

from .. import phases
from ..errors import InputError

#: outside codes of the six box planes, in the order of the faces of axis a: lo = 2a, hi = 2a + 1
PLANE_TAGS = (phases.XMIN, phases.XMAX, phases.YMIN, phases.YMAX, phases.BOTTOM, phases.TOP)


@dataclass(frozen=True)
class SmoothingOptions:
    """Constrained Taubin smoothing of the staircase (see the module docstring)."""

    iterations: int = 30  #: lambda | mu pairs
    lam: float = 0.5  #: Taubin lambda (shrinking step)
    mu: float = -0.53  #: Taubin mu (inflating step), |mu| > lam
    max_shift: float = 0.5  #: largest move of a point from its voxel corner, per axis, in voxel edges
    pinch_ring_shift: float = 0.0  #: largest move of the points sharing a quad with a pinch point, in h
    volume_rounds: int = 8  #: rounds of the normal offsets that give every region back its voxel volume

    def check(self) -> "SmoothingOptions":
        if not (isinstance(self.iterations, int) and 0 <= self.iterations <= 1000):
            raise InputError("smoothing iterations", "an integer in [0, 1000]", self.iterations)
        if not (0 < self.lam < 1 and -1 < self.mu < -self.lam):
            raise InputError("smoothing lambda/mu", "0 < lambda < 1 and -1 < mu < -lambda", (self.lam, self.mu))
        if not (0 <= self.max_shift <= 0.5):
            raise InputError("smoothing max_shift", "a number in [0, 0.5] (voxel edges)", self.max_shift)
        return self


@dataclass
class LabelledSurface:
    """Triangulated interfaces of a region image (see the module docstring)."""

    points: np.ndarray  #: (n, 3) float, um
    points_initial: np.ndarray  #: (n, 3) the voxel corners before smoothing, um
    triangles: np.ndarray  #: (m, 3) int64 point indices
    surface_of_triangle: np.ndarray  #: (m,) int32 index into ``surfaces``
    surfaces: np.ndarray  #: (s, 2) int64 (region a, region b) with a < b; b >= n_regions: box plane
    region_label: np.ndarray  #: (n_regions,) phase label of each region
    pinch: np.ndarray  #: (n,) bool, points held fixed because the surface is not a manifold there
    n_regions: int
    triangle_sign: np.ndarray | None = None  #: (m,) +1 where a triangle's normal points out of its surface's region a
    grid: np.ndarray | None = None  #: (n, 3) voxel-corner indices of the points (staircase only)
    quads: np.ndarray | None = None  #: (q, 4) the voxel faces the triangles come from (staircase only)
    labels: np.ndarray | None = None  #: the label image (staircase only; smoothing reads it)
    untangle_rounds: int = 0  #: rounds :func:`smooth` needed to remove crossings (0: none found)
    coarsening_restarts: int = -1  #: restarts of :func:`fem_twin.meshing.coarsen_surface.coarsen` (-1: not coarsened)
    #: periodic axes (0 = x, 1 = y): the surface is cut open at x = 0 = L (y = 0 = L), the points on
    #: the two faces are partners and move together (see :func:`periodic_partners`)
    periodic: tuple = ()

    def region_volumes(self, points: np.ndarray | None = None) -> np.ndarray:
        """(n_regions,) volume (um3) enclosed by each region's triangles (divergence theorem)."""
        p = (self.points if points is None else points)[self.triangles]
        v = np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])) / 6.0 * self.triangle_sign
        a, b = self.surfaces[self.surface_of_triangle, 0], self.surfaces[self.surface_of_triangle, 1]
        out = np.bincount(a, weights=v, minlength=self.n_regions + 8)
        out -= np.bincount(b, weights=v, minlength=self.n_regions + 8)
        return out[: self.n_regions]

    def plane_of_surface(self) -> np.ndarray:
        """(s,) box-plane tag of each surface (:data:`PLANE_TAGS`), 0 for interfaces."""
        b = self.surfaces[:, 1]
        return np.where(b >= self.n_regions, b - self.n_regions, 0).astype(np.int32)

    def label_pair_of_surface(self) -> np.ndarray:
        """(s, 2) phase labels on the two sides of each surface (-1 for a box plane)."""
        lab = np.append(self.region_label, -1)
        a, b = self.surfaces[:, 0], np.minimum(self.surfaces[:, 1], self.n_regions)
        return np.column_stack([lab[a], lab[b]])

    def triangle_areas(self) -> np.ndarray:
        p = self.points[self.triangles]
        return 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)

    def area_between(self, a: int, b: int) -> float:
        """Area (um2) of all surfaces between phase labels a and b (the separator counts as LPSCl)."""
        cls = np.where(self.label_pair_of_surface() == phases.SEPARATOR, phases.LPSCL, self.label_pair_of_surface())
        sel = ((cls[:, 0] == a) & (cls[:, 1] == b)) | ((cls[:, 0] == b) & (cls[:, 1] == a))
        return float(self.triangle_areas()[sel[self.surface_of_triangle]].sum())


def label_regions(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """6-connected components of every label: (region index per voxel int32, label per region)."""
    region = np.empty(labels.shape, np.int32)
    region_label = []
    for lab in np.unique(labels):
        mask = labels == lab
        comp, n = ndi.label(mask)  # default structure: face (6-) connectivity
        region[mask] = comp[mask] - 1 + len(region_label)
        region_label.extend([int(lab)] * n)
    return region, np.array(region_label, np.int32)


def _faces(region: np.ndarray, n_regions: int):
    """Quads between different regions and on the box: (pair keys (q, 2), grid corners (q, 4, 3),
    orientation (q,): +1 where the quad's normal points out of the pair's first region)."""
    nx, ny, nz = region.shape
    R = np.pad(region, 1, constant_values=-1)
    pairs, corners, signs = [], [], []
    for a in range(3):
        b, c = [ax for ax in range(3) if ax != a]
        lo = [slice(1, -1)] * 3
        hi = [slice(1, -1)] * 3
        lo[a], hi[a] = slice(0, -1), slice(1, None)
        A, B = R[tuple(lo)], R[tuple(hi)]  # voxel below / above each plane position, shape n_a + 1 along a
        idx = np.nonzero(A != B)
        A, B = A[idx], B[idx]
        p = np.column_stack(idx).astype(np.int64)  # (plane position along a, cell indices along b, c)
        n_a = region.shape[a]
        # outside codes: n_regions + plane tag
        A = np.where(A < 0, n_regions + PLANE_TAGS[2 * a], A)
        B = np.where(B < 0, n_regions + PLANE_TAGS[2 * a + 1], B)
        assert np.all((p[A >= n_regions, a] == 0)) and np.all(p[B >= n_regions, a] == n_a)
        pairs.append(np.column_stack([np.minimum(A, B), np.maximum(A, B)]))
        # quad normal (v1 - v0) x (v3 - v0) = e_b x e_c = s_a e_a, s = (+1, -1, +1): it points from
        # A (below) into B; sign +1 when it points out of the pair's first region min(A, B)
        s_a = 1 if a != 1 else -1
        signs.append(np.where(A < B, s_a, -s_a).astype(np.int8))
        q = np.repeat(p[:, None, :], 4, axis=1)
        q[:, 1, b] += 1
        q[:, 2, b] += 1
        q[:, 2, c] += 1
        q[:, 3, c] += 1
        corners.append(q)
    return np.concatenate(pairs), np.concatenate(corners), np.concatenate(signs)


def _point_signatures(labels: np.ndarray, grid: np.ndarray, shape_xyz: tuple[int, int, int], periodic: tuple = ()):
    """Signature (bits 0-4: phase labels around the point; bits 8+: box planes it lies on) and
    pinch flag of grid points ``grid`` ((n, 3) corner indices). Along a ``periodic`` axis the voxels
    around a point on x = 0 or x = L are those of both faces (the image wrapped), and both planes
    set the same bit (8 + 2 axis), so partners have the same signature."""
    from .voxel_mesh import _BLOCK_COMPONENTS

    nx, ny, nz = shape_xyz
    pad = np.pad(labels.astype(np.int16), 1, constant_values=-1)
    for a in periodic:  # pad index = voxel index + 1: the layer before voxel 0 is voxel n - 1
        n_a = shape_xyz[a]
        lo, hi, first, last = ([slice(None)] * 3 for _ in range(4))
        lo[a], hi[a], first[a], last[a] = 0, n_a + 1, 1, n_a
        pad[tuple(lo)] = pad[tuple(last)]
        pad[tuple(hi)] = pad[tuple(first)]
    i, j, k = grid[:, 0], grid[:, 1], grid[:, 2]
    sig = np.zeros(grid.shape[0], np.int64)
    block = np.empty((grid.shape[0], 8), np.int16)
    for dx, dy, dz in itertools.product((0, 1), repeat=3):  # voxel (i-1+dx, j-1+dy, k-1+dz) -> pad index +1
        block[:, dx + 2 * dy + 4 * dz] = pad[i + dx, j + dy, k + dz]
    pinch = np.zeros(grid.shape[0], bool)
    for lab in range(phases.SEPARATOR + 1):
        occ = block == lab
        present = occ.any(axis=1)
        sig |= present.astype(np.int64) << lab
        code = (occ.astype(np.int64) << np.arange(8)).sum(axis=1)
        comp = _BLOCK_COMPONENTS[code]
        n_comp = (comp == np.arange(8)).sum(axis=1)
        pinch |= n_comp > 1
    for a, n in enumerate((nx, ny, nz)):
        if a in periodic:
            sig |= ((grid[:, a] == 0) | (grid[:, a] == n)).astype(np.int64) << (8 + 2 * a)
            continue
        sig |= (grid[:, a] == 0).astype(np.int64) << (8 + 2 * a)
        sig |= (grid[:, a] == n).astype(np.int64) << (9 + 2 * a)
    return sig, pinch


def _check_periodic(periodic, shape) -> tuple:
    axes = tuple(sorted(set(int(a) for a in periodic)))
    if not set(axes) <= {0, 1}:
        raise InputError("periodic axes", "a subset of (0, 1) (x, y)", periodic)
    for a in axes:
        if shape[a] < 3:
            raise InputError("periodic axes", f"at least 3 voxels along periodic axis {a}", shape)
    return axes


def staircase_surface(labels: np.ndarray, voxel_um: float, z_um: np.ndarray | None = None,
                      periodic: tuple = ()) -> LabelledSurface:
    """The unsmoothed labelled surface of ``labels`` ((nx, ny, nz) uint8, separator layers
    included with label SEPARATOR). ``z_um`` (optional, nz + 1 values): z of each grid layer.

    ``periodic`` (axes 0 = x, 1 = y): the image is periodic along them. The surface is still cut
    open at the box faces (each region's shell is closed by its quads on x = 0 and x = L, as without
    periodicity, so every region is one gmsh volume of the box), but smoothing sees the wrapped
    image: the points of the two faces are partners (:func:`periodic_partners`), carry the
    signature of the voxels on both sides and move together, so the faces keep matching points."""
    labels = np.asarray(labels)
    nx, ny, nz = labels.shape
    periodic = _check_periodic(periodic, labels.shape)
    h = float(voxel_um)
    region, region_label = label_regions(labels)
    n_reg = region_label.size
    pairs, corners, quad_sign = _faces(region, n_reg)
    gid = corners[..., 0] + (nx + 1) * (corners[..., 1] + (ny + 1) * corners[..., 2])  # (q, 4)
    used, inv = np.unique(gid.ravel(), return_inverse=True)
    quads = inv.reshape(-1, 4)
    grid = np.column_stack([used % (nx + 1), (used // (nx + 1)) % (ny + 1), used // ((nx + 1) * (ny + 1))])
    z = h * grid[:, 2] if z_um is None else np.asarray(z_um, float)[grid[:, 2]]
    points = np.column_stack([h * grid[:, 0], h * grid[:, 1], z]).astype(np.float64)
    surfaces, surf_of_quad = np.unique(pairs, axis=0, return_inverse=True)
    tris = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    surf = np.concatenate([surf_of_quad, surf_of_quad]).astype(np.int32)
    _, pinch = _point_signatures(labels, grid, (nx, ny, nz), periodic)
    return LabelledSurface(points, points.copy(), tris.astype(np.int64), surf, surfaces.astype(np.int64),
                           region_label, pinch, n_reg, np.concatenate([quad_sign, quad_sign]), grid, quads, labels,
                           periodic=periodic)


def periodic_partners(surface: LabelledSurface) -> tuple[np.ndarray, np.ndarray]:
    """(rep (n,) int64, shift (n, 3) um): each point's partner on the lower faces of the periodic
    axes (itself if it lies on no upper face) and its offset from it, so that a periodic surface has
    ``points == points[rep] + shift``. Partners are found from ``points_initial`` (the voxel corners):
    a point on x = L is the partner of the point on x = 0 with the same y and z, and so on."""
    x0 = surface.points_initial
    n = x0.shape[0]
    rep = np.arange(n, dtype=np.int64)
    shift = np.zeros((n, 3))
    if not surface.periodic or n == 0:
        return rep, shift
    top = {a: x0[:, a].max() for a in surface.periodic}
    lo = np.zeros(n, bool)
    hi = np.zeros(n, bool)
    for a in surface.periodic:
        lo |= x0[:, a] == 0.0
        hi |= x0[:, a] == top[a]
    cand = np.flatnonzero(lo | hi)
    key = x0[cand].copy()
    for a in surface.periodic:
        key[key[:, a] == top[a], a] = 0.0
    _, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    owner = np.full(inv.max(initial=-1) + 1, -1, np.int64)
    base = ~hi[cand]  # the member on no upper face
    owner[inv[base]] = cand[base]
    if np.any(owner < 0):
        raise ValueError("periodic surface: a point on an upper face has no partner on the lower face")
    rep[cand] = owner[inv]
    shift[cand] = x0[cand] - x0[rep[cand]]
    return rep, shift


class _Tie:
    """Keeps the partners of a periodic surface together (no-op without periodic axes)."""

    def __init__(self, surface: LabelledSurface):
        self.rep, self.shift = periodic_partners(surface)
        moved = self.rep != np.arange(self.rep.size)
        self.active = bool(moved.any())
        if self.active:
            self.idx = np.flatnonzero(np.isin(self.rep, self.rep[moved]))  # every member of a pair class
            self.C = sp.csr_matrix((np.ones(self.rep.size), (self.rep, np.arange(self.rep.size))),
                                   shape=(self.rep.size, self.rep.size))

    def __call__(self, x: np.ndarray, x0: np.ndarray) -> np.ndarray:
        """Every class takes the position of its member closest to its voxel corner (the one the
        last correction pulled back furthest), in place."""
        if not self.active:
            return x
        i = self.idx
        d = np.linalg.norm(x[i] - x0[i], axis=1)
        order = np.lexsort((d, self.rep[i]))
        first = np.r_[True, self.rep[i][order][1:] != self.rep[i][order][:-1]]
        best = i[order][first]
        canon = np.zeros_like(x)
        canon[self.rep[best]] = x[best] - self.shift[best]
        x[i] = canon[self.rep[i]] + self.shift[i]
        return x

    def expand(self, pts: np.ndarray) -> np.ndarray:
        """``pts`` with all their partners."""
        if not self.active:
            return pts
        classes = np.zeros(self.rep.size, bool)
        classes[self.rep[pts]] = True
        return np.union1d(pts, self.idx[classes[self.rep[self.idx]]])


def smooth(surface: LabelledSurface, voxel_um: float, options: SmoothingOptions = SmoothingOptions(),
           separator_top_um: float | None = None) -> LabelledSurface:
    """Constrained Taubin smoothing of a :func:`staircase_surface` (in place; returns it)."""
    options.check()
    s = surface
    h = float(voxel_um)
    if s.grid is None or s.quads is None or s.labels is None:
        raise ValueError("smooth() needs the surface of staircase_surface() (voxel corners, quads, labels)")
    sig, pinch = _point_signatures(s.labels, s.grid, s.labels.shape, s.periodic)
    tie = _Tie(s)
    q = s.quads
    e = np.concatenate([q[:, [0, 1]], q[:, [1, 2]], q[:, [2, 3]], q[:, [3, 0]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    keep = (sig[e[:, 0]] == sig[e[:, 1]]) & ~pinch[e[:, 0]] & ~pinch[e[:, 1]]
    e = e[keep]
    n = s.points.shape[0]
    W = sp.coo_matrix((np.ones(2 * len(e)), (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])), shape=(n, n)).tocsr()
    deg = np.asarray(W.sum(axis=1)).ravel()
    inv_deg = np.where(deg > 0, 1.0 / np.maximum(deg, 1), 0.0)

    # per-coordinate freedom: planes keep their coordinate; separator-only points and pinches stay
    free = np.ones((n, 3), bool)
    for a in range(3):
        free[:, a] &= ((sig >> (8 + 2 * a)) & 3) == 0
    has_sep = ((sig >> phases.SEPARATOR) & 1) == 1
    free[has_sep, 2] = False  # on the separator | composite plane (or inside the separator's faces)
    # a point inside a flat face (a box plane or the separator plane with one composite phase on
    # it) has nothing to smooth: moving it within the plane could only fold the face's triangles
    on_plane = ((sig >> 8) != 0) | has_sep
    composite_phases = np.zeros(n, np.int64)
    for lab in range(phases.SEPARATOR):
        composite_phases += (sig >> lab) & 1
    free[on_plane & (composite_phases <= 1)] = False
    free[pinch | (deg == 0)] = False
    x0 = s.points_initial
    lim = np.full((n, 1), options.max_shift * h)
    ring = np.zeros(n, bool)
    ring[q[pinch[q].any(axis=1)].ravel()] = True  # points sharing a quad with a pinch point
    lim[ring & ~pinch] = min(options.pinch_ring_shift, options.max_shift) * h
    x = x0.copy()
    if tie.active:  # partners share their freedom and limit (the most constrained member's)
        both = np.ones((n, 3), bool)
        np.logical_and.at(both, tie.rep, free)
        free = both[tie.rep]
        least = np.full(n, np.inf)
        np.minimum.at(least, tie.rep, lim[:, 0])
        lim = least[tie.rep][:, None]
        # a class of partners moves as one point: the mean over the neighbours of all its members,
        # each seen from its own member (neighbour sums shifted into the lower face's frame)
        C, shift = tie.C, tie.shift
        deg_c = C @ deg
        inv_deg_c = np.where(deg_c > 0, 1.0 / np.maximum(deg_c, 1), 0.0)
        rep = tie.rep
    for _ in range(options.iterations):
        for f in (options.lam, options.mu):
            if tie.active:
                lap = ((C @ (W @ x - deg[:, None] * shift)) * inv_deg_c[:, None])[rep] + shift - x
            else:
                lap = (W @ x) * inv_deg[:, None] - x
            x = x + f * np.where(free, lap, 0.0)
            np.clip(x, x0 - lim, x0 + lim, out=x)
    x = _unfold(x, x0, s.triangles, tie)
    if options.volume_rounds:
        x = _restore_volumes(s, x, x0, free.all(axis=1) & (composite_phases == 2) & ~ring, lim, options.volume_rounds)
        x = _unfold(x, x0, s.triangles, tie)
    s.points, s.untangle_rounds = _untangle(x, x0, s.triangles, h, tie=tie)
    s.pinch = pinch
    return s


def _restore_volumes(s: LabelledSurface, x: np.ndarray, x0: np.ndarray, movable: np.ndarray, lim: np.ndarray,
                     rounds: int, target: np.ndarray | None = None) -> np.ndarray:
    """Move the interior points of the interfaces along their normals so that every region keeps
    its voxel volume: offsets delta_s per interface s (minimum-norm least squares of
    sum_s (+-A_s) delta_s = -dV_r over the regions r), applied to the points inside a two-phase
    surface (``movable``); repeated ``rounds`` times since the triple lines stay put. ``target``:
    the region volumes to restore (default: those of the points ``x0``)."""
    from scipy.sparse.linalg import lsqr

    target = s.region_volumes(x0) if target is None else target
    lab = np.append(s.region_label, -1)
    a, b = s.surfaces[:, 0], s.surfaces[:, 1]
    surf_ok = (b < s.n_regions) & (lab[a] != phases.SEPARATOR) & (lab[np.minimum(b, s.n_regions)] != phases.SEPARATOR)
    tri_ok = surf_ok[s.surface_of_triangle]
    pts_bad = np.zeros(x.shape[0], bool)
    pts_bad[s.triangles[~tri_ok].ravel()] = True
    movable = movable & ~pts_bad
    cols = np.flatnonzero(surf_ok)
    for _ in range(rounds):
        p = x[s.triangles]
        nvec = 0.5 * np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]) * s.triangle_sign[:, None]  # out of region a
        area = np.linalg.norm(nvec, axis=1)
        A_s = np.bincount(s.surface_of_triangle, weights=area, minlength=len(s.surfaces))
        dV = s.region_volumes(x) - target
        j = np.arange(cols.size)
        M = sp.coo_matrix((np.r_[A_s[cols], -A_s[cols]], (np.r_[a[cols], b[cols]], np.r_[j, j])),
                          shape=(s.n_regions, cols.size)).tocsr()
        delta = np.zeros(len(s.surfaces))
        delta[cols] = lsqr(M, -dV, atol=1e-12, btol=1e-12)[0]
        # displacement of each point: area-weighted mean of delta_s n of its triangles
        w = delta[s.surface_of_triangle][:, None] * nvec  # delta * unit normal * area
        disp = np.zeros_like(x)
        wsum = np.zeros(x.shape[0])
        for k in range(3):
            np.add.at(disp, s.triangles[:, k], w)
            np.add.at(wsum, s.triangles[:, k], area)
        disp /= np.maximum(wsum, 1e-300)[:, None]
        x = np.where(movable[:, None], x + disp, x)
        np.clip(x, x0 - lim, x0 + lim, out=x)
    return x


def _untangle(x: np.ndarray, x0: np.ndarray, tris: np.ndarray, h: float, max_rounds: int = 30, tie=None):
    """Pull the points of crossing edge | triangle pairs halfway back to their voxel corners
    until no edge crosses a triangle (the staircase has no crossings; the last rounds reset the
    points to it). ``tie``: a :class:`_Tie` that moves periodic partners with them. Returns
    (points, rounds)."""
    edges = np.unique(np.sort(np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]]), axis=1), axis=0)
    e_sel, t_sel = np.arange(len(edges)), np.arange(len(tris))
    for r in range(max_rounds):
        # after the first round only the neighbourhood of the points moved back can have changed
        hits = edge_triangle_crossings(x, edges[e_sel], tris[t_sel], h)
        folds = folded_pairs(x, tris[t_sel])
        if hits.shape[0] == 0 and folds.shape[0] == 0:
            return x, r
        pts = np.unique(np.concatenate([edges[e_sel[hits[:, 0]]].ravel(), tris[t_sel[hits[:, 1]]].ravel(),
                                        tris[t_sel[folds]].ravel()]))
        x[pts] = x0[pts] if r >= max_rounds - 5 else 0.5 * (x[pts] + x0[pts])
        if tie is not None and tie.active:
            x = tie(x, x0)
            pts = tie.expand(pts)
        e_sel, t_sel = _near(x, pts, edges, tris, 2.5 * h)
    if edge_triangle_crossings(x, edges, tris, h).shape[0] or folded_pairs(x, tris).shape[0]:
        raise RuntimeError("smoothed surface still self-intersects after resetting the crossing points")
    return x, max_rounds


def _near(x: np.ndarray, pts: np.ndarray, edges: np.ndarray, tris: np.ndarray, radius: float):
    """Indices of the edges and triangles with a vertex within ``radius`` (per axis) of a point of
    ``pts`` (a cell hash of size ``radius``)."""
    cell = np.floor(x / radius).astype(np.int64)
    off = cell.min(axis=0) - 1
    dims = cell.max(axis=0) - off + 2
    key = lambda c: ((c[:, 0] - off[0]) * dims[1] + (c[:, 1] - off[1])) * dims[2] + (c[:, 2] - off[2])  # noqa: E731
    marked = np.unique(np.concatenate([key(cell[pts] + np.array(d)) for d in itertools.product((-1, 0, 1), repeat=3)]))
    near = np.isin(key(cell), marked)
    return np.flatnonzero(near[edges].any(axis=1)), np.flatnonzero(near[tris].any(axis=1))


#: smallest angle (deg) between two triangles on the same side of their common edge (the staircase: 90)
MIN_FOLD_DEG = 15.0


def folded_pairs(x: np.ndarray, tris: np.ndarray, min_deg: float = MIN_FOLD_DEG) -> np.ndarray:
    """(k, 2) triangle pairs that share an edge and fold onto each other: the angle between the
    two half-planes at the edge is below ``min_deg`` (gmsh: "overlapping facets"). Edges of the
    surface may carry up to 4 triangles (where 3-4 phases meet): every pair is checked."""
    loc = np.array([[0, 1, 2], [1, 2, 0], [2, 0, 1]])  # (edge end, edge end, opposite vertex)
    e = np.concatenate([tris[:, l[:2]] for l in loc])
    opp = np.concatenate([tris[:, l[2]] for l in loc])
    tri = np.tile(np.arange(len(tris)), 3)
    e = np.sort(e, axis=1)
    order = np.lexsort((e[:, 1], e[:, 0]))
    e, opp, tri = e[order], opp[order], tri[order]
    out = []
    for k in (1, 2, 3):  # pairs (i, i + k) inside a group of equal edges
        same = np.all(e[k:] == e[:-k], axis=1)
        i = np.flatnonzero(same)
        if i.size == 0:
            continue
        j = i + k
        a, b = x[e[i, 0]], x[e[i, 1]]
        d = b - a
        d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-300)

        def perp(p):
            v = p - a
            v = v - np.einsum("ij,ij->i", v, d)[:, None] * d
            return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-300)

        cos = np.einsum("ij,ij->i", perp(x[opp[i]]), perp(x[opp[j]]))
        bad = cos > np.cos(np.radians(min_deg))
        out.append(np.column_stack([tri[i[bad]], tri[j[bad]]]))
    return np.concatenate(out) if out else np.zeros((0, 2), np.int64)


def edge_triangle_crossings(x: np.ndarray, edges: np.ndarray, tris: np.ndarray, h: float,
                            eps: float = 1e-9) -> np.ndarray:
    """(k, 2) (edge, triangle) index pairs where an edge passes through the interior of a
    triangle that does not contain either of its end points. Candidates: triangles whose centroid
    lies in one of the 27 cells of size ``h`` around the edge's midpoint cell (edges and triangles
    are shorter than ~2 h here), kept only where the bounding boxes overlap (tested axis by axis on
    precomputed boxes, so most candidates cost two comparisons). Moller-Trumbore test, vectorised."""
    if len(edges) == 0 or len(tris) == 0:
        return np.zeros((0, 2), np.int64)
    xe, xt = x[edges], x[tris]
    cm = np.floor(xe.mean(axis=1) / h).astype(np.int64)
    ct = np.floor(xt.mean(axis=1) / h).astype(np.int64)
    lo_e, hi_e = xe.min(axis=1), xe.max(axis=1) + eps
    lo_t, hi_t = xt.min(axis=1), xt.max(axis=1) + eps  # the same comparisons as _crossing_pairs' box test
    del xe, xt
    off = np.minimum(cm.min(axis=0), ct.min(axis=0)) - 2
    dims = np.maximum(cm.max(axis=0), ct.max(axis=0)) - off + 3

    def key(c):
        return ((c[:, 0] - off[0]) * dims[1] + (c[:, 1] - off[1])) * dims[2] + (c[:, 2] - off[2])

    kt = key(ct)
    order = np.argsort(kt, kind="stable")
    kts = kt[order]
    out = []
    for d in itertools.product((-1, 0, 1), repeat=3):
        k = key(cm + np.array(d))
        lo, hi = np.searchsorted(kts, k), np.searchsorted(kts, k, side="right")
        cnt = hi - lo
        tot = int(cnt.sum())
        if tot == 0:
            continue
        ei = np.repeat(np.arange(len(edges)), cnt)
        ti = order[np.repeat(lo, cnt) + np.arange(tot) - np.repeat(np.cumsum(cnt) - cnt, cnt)]
        for a in range(3):  # bounding boxes overlap, one axis at a time
            ok = (lo_e[ei, a] <= hi_t[ti, a]) & (lo_t[ti, a] <= hi_e[ei, a])
            ei, ti = ei[ok], ti[ok]
        out.append(_crossing_pairs(x, edges, tris, ei, ti, h, eps, boxes_checked=True))
    return np.concatenate(out) if out else np.zeros((0, 2), np.int64)


def _crossing_pairs(x: np.ndarray, edges: np.ndarray, tris: np.ndarray, ei: np.ndarray, ti: np.ndarray,
                    h: float, eps: float, boxes_checked: bool = False) -> np.ndarray:
    """(k, 2) the candidate pairs (edge ei, triangle ti) where the edge passes through the
    triangle (bounding boxes first unless ``boxes_checked``, then Moller-Trumbore; pairs sharing a
    point are skipped)."""
    if not boxes_checked:
        xe, xt = x[edges[ei]], x[tris[ti]]
        box = np.all((xe.min(axis=1) <= xt.max(axis=1) + eps) & (xt.min(axis=1) <= xe.max(axis=1) + eps), axis=1)
        ei, ti = ei[box], ti[box]
    T, E = tris[ti], edges[ei]
    inc = (T == E[:, :1]).any(axis=1) | (T == E[:, 1:]).any(axis=1)
    ei, ti, T, E = ei[~inc], ti[~inc], T[~inc], E[~inc]
    o = x[E[:, 0]]
    dv = x[E[:, 1]] - o
    v0 = x[T[:, 0]]
    e1, e2 = x[T[:, 1]] - v0, x[T[:, 2]] - v0
    pv = np.cross(dv, e2)
    det = np.einsum("ij,ij->i", e1, pv)
    ok = np.abs(det) > 1e-14 * h ** 3
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    tv = o - v0
    u = np.einsum("ij,ij->i", tv, pv) * inv
    qv = np.cross(tv, e1)
    v = np.einsum("ij,ij->i", dv, qv) * inv
    t = np.einsum("ij,ij->i", e2, qv) * inv
    hit = ok & (u > -eps) & (v > -eps) & (u + v < 1 + eps) & (t > -eps) & (t < 1 + eps)
    return np.column_stack([ei[hit], ti[hit]])


def edge_triangle_crossings_any_size(x: np.ndarray, edges: np.ndarray, tris: np.ndarray, h: float,
                                     eps: float = 1e-9) -> np.ndarray:
    """Like :func:`edge_triangle_crossings` for edges and triangles of any size (a coarsened
    surface): candidates from k-d trees. An edge can only cross a triangle when its midpoint lies
    within L/2 + R of the triangle's centroid (L the edge length, R the largest centroid-to-corner
    distance); triangles with R up to the 95th percentile are found from the edges, the few larger
    ones from their own centroids. ``h`` scales the determinant threshold only."""
    from scipy.spatial import cKDTree

    if len(edges) == 0 or len(tris) == 0:
        return np.zeros((0, 2), np.int64)
    xm = x[edges].mean(axis=1)
    le = np.linalg.norm(x[edges[:, 1]] - x[edges[:, 0]], axis=1)
    ct = x[tris].mean(axis=1)
    rt = np.linalg.norm(x[tris] - ct[:, None, :], axis=2).max(axis=1)
    r_cut = float(np.quantile(rt, 0.95))
    small = rt <= r_cut
    pairs_e, pairs_t = [], []
    idx_small = np.flatnonzero(small)
    if idx_small.size:
        tree = cKDTree(ct[idx_small])
        hits = tree.query_ball_point(xm, r=0.5 * le + r_cut + eps, return_sorted=False)
        cnt = np.fromiter((len(hh) for hh in hits), np.int64, len(hits))
        pairs_e.append(np.repeat(np.arange(len(edges)), cnt))
        pairs_t.append(idx_small[np.fromiter(itertools.chain.from_iterable(hits), np.int64, int(cnt.sum()))])
    idx_big = np.flatnonzero(~small)
    if idx_big.size:
        tree = cKDTree(xm)
        hits = tree.query_ball_point(ct[idx_big], r=rt[idx_big] + 0.5 * le.max() + eps, return_sorted=False)
        cnt = np.fromiter((len(hh) for hh in hits), np.int64, len(hits))
        pairs_t.append(np.repeat(idx_big, cnt))
        pairs_e.append(np.fromiter(itertools.chain.from_iterable(hits), np.int64, int(cnt.sum())))
    return _crossing_pairs(x, edges, tris, np.concatenate(pairs_e), np.concatenate(pairs_t), h, eps)


#: smallest cosine between a smoothed triangle's normal and its voxel face's normal
MIN_NORMAL_COSINE = 0.1


def _unfold(x: np.ndarray, x0: np.ndarray, tris: np.ndarray, tie=None, max_rounds: int = 60) -> np.ndarray:
    """Pull the points of triangles that turned more than arccos(MIN_NORMAL_COSINE) away from
    their voxel face's normal (folded or nearly so) halfway back to the voxel corners, until none
    is left (the staircase itself has none). ``tie``: a :class:`_Tie` for periodic partners."""
    tie = tie if tie is not None else (lambda x, x0: x)
    def normals(p):
        q = p[tris]
        return np.cross(q[:, 1] - q[:, 0], q[:, 2] - q[:, 0])

    n0 = normals(x0)
    n0 /= np.linalg.norm(n0, axis=1, keepdims=True)
    for _ in range(max_rounds):
        n = normals(x)
        cos = np.einsum("ij,ij->i", n, n0) / np.maximum(np.linalg.norm(n, axis=1), 1e-300)
        bad = cos < MIN_NORMAL_COSINE
        if not bad.any():
            return x
        pts = np.unique(tris[bad])
        x[pts] = 0.5 * (x[pts] + x0[pts])
        x = tie(x, x0)
    x[np.unique(tris[bad])] = x0[np.unique(tris[bad])]
    return tie(x, x0)
