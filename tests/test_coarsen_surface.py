"""Surface coarsening of the smooth mesher (fem_twin.meshing.coarsen_surface)."""

import numpy as np
import pytest

from fem_twin.errors import InputError
from fem_twin.meshing.coarsen_surface import CoarseningOptions, coarsen
from fem_twin.meshing.smooth_mesh import build_surface
from fem_twin.meshing.smooth_surface import edge_triangle_crossings_any_size, folded_pairs
from fem_twin.phases import LPSCL, NCM, PORE

H = 0.5  # um


def sphere_image(n: int = 24, r: float = 7.5) -> np.ndarray:
    """An NCM ball (radius ``r`` voxels) in LPSCl, with a flat pore layer on top (k >= n - 4)."""
    c = (np.arange(n) + 0.5 - n / 2)
    X, Y, Z = np.meshgrid(c, c, c + 2, indexing="ij")
    lab = np.full((n, n, n), LPSCL, np.uint8)
    lab[X ** 2 + Y ** 2 + Z ** 2 <= r ** 2] = NCM
    lab[:, :, n - 4:] = PORE
    return lab


@pytest.fixture(scope="module")
def surfaces():
    s = build_surface(sphere_image(), H)
    return s, coarsen(s, H, CoarseningOptions(rounds=40, tolerance=0.15, max_normal_deg=25, min_angle_deg=12))


def _edges(tris):
    return np.unique(np.sort(np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]]), axis=1), axis=0)


def test_coarsening_removes_points_and_keeps_volumes_and_area(surfaces):
    s, c = surfaces
    assert c.points.shape[0] < 0.6 * s.points.shape[0]
    v0, v1 = s.region_volumes(), c.region_volumes()
    for lab in np.unique(s.region_label):
        m = s.region_label == lab
        assert v1[m].sum() == pytest.approx(v0[m].sum(), rel=0.01), lab
    assert v1.sum() == pytest.approx(v0.sum(), rel=1e-12)  # the box is the box
    a0, a1 = s.area_between(NCM, LPSCL), c.area_between(NCM, LPSCL)
    assert a1 == pytest.approx(a0, rel=0.01)
    # and the ball's area is still the smooth one, not the staircase's (1.5x)
    assert a1 == pytest.approx(4 * np.pi * (7.5 * H) ** 2, rel=0.05)


def test_coarsened_surface_has_no_crossings_and_flat_planes_stay_flat(surfaces):
    s, c = surfaces
    assert edge_triangle_crossings_any_size(c.points, _edges(c.triangles), c.triangles, H).shape[0] == 0
    assert folded_pairs(c.points, c.triangles).shape[0] == 0
    # the LPSCl|pore plane (z = 20 h) stays a plane (the volume restoration may move it as a whole
    # by a hair); the points on the box faces are points of the uncoarsened surface
    pair = c.label_pair_of_surface()
    flat = np.flatnonzero((np.sort(pair, axis=1) == sorted((PORE, LPSCL))).all(axis=1))
    pts = np.unique(c.triangles[np.isin(c.surface_of_triangle, flat)])
    z = c.points[pts, 2]
    assert pts.size > 0 and np.ptp(z) < 1e-9 * H and abs(z[0] - 20 * H) < 1e-3 * H, (np.ptp(z), z[0])
    lo, hi = 0.0, 24 * H
    on_box = np.isclose(s.points, lo) | np.isclose(s.points, hi)
    kept = {tuple(p) for p in np.round(c.points, 12)}
    assert on_box.any()
    on_box_c = np.isclose(c.points, lo) | np.isclose(c.points, hi)
    assert np.all(np.isin(np.round(c.points[on_box_c.any(axis=1)], 12).view([("", float)] * 3),
                          np.round(s.points, 12).view([("", float)] * 3)))
    assert len(kept) == c.points.shape[0]


def test_rounds_zero_is_the_identity_and_bad_options_raise():
    s = build_surface(sphere_image(12, 3.5), H)
    assert coarsen(s, H, CoarseningOptions(rounds=0)) is s
    for bad in ({"rounds": -1}, {"tolerance": 0.0}, {"max_edge": 0.5}, {"max_normal_deg": 95.0}):
        with pytest.raises(InputError):
            coarsen(s, H, CoarseningOptions(**bad))
