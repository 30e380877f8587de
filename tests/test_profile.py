"""Through-thickness bands (fem_twin.analysis.profile) on structures whose answer is exact."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fem_twin.analysis import contact
from fem_twin.analysis.profile import (band_edges, distance_to_contact_um, ncm_contact_faces,
                                       through_thickness_bands)
from fem_twin.errors import InputError
from fem_twin.phases import LPSCL, NBR, NCM, PORE

H = 0.5  # um


def _layers():
    """4 x 4 x 6: z 0-1 LPSCl, z 2-5 NCM (a laminate: contact only at the z = 1|2 plane)."""
    lab = np.full((4, 4, 6), NCM, dtype=np.uint8)
    lab[:, :, :2] = LPSCL
    return lab


def test_laminate_bands_exact():
    bands = through_thickness_bands(_layers(), H, n_bands=3)
    assert [(b["z_from_um"], b["z_to_um"]) for b in bands] == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    first, middle, last = bands
    assert first["volume_fraction"] == {"pore": 0.0, "ncm": 0.0, "lpscl": 1.0, "nbr": 0.0}
    assert first["contact_area_per_ncm_volume_per_m"] is None
    assert first["ncm_distance_to_contact_um"] is None
    # middle: 16 faces at z = 1|2 against 32 NCM voxels; isotropic area 16 h^2 2/3 / (32 h^3)
    assert middle["ncm_lpscl_faces"] == 16
    assert middle["contact_area_per_ncm_volume_per_m"] == pytest.approx(16 * 2 / 3 / (32 * H) * 1e6, rel=1e-12)
    assert middle["ncm_distance_to_contact_um"] == pytest.approx((0 + H) / 2, rel=1e-12)
    assert middle["ncm_beyond_3um_fraction"] == 0.0
    # last: no faces, NCM 2h and 3h from the contact layer
    assert last["ncm_lpscl_faces"] == 0
    assert last["contact_area_per_ncm_volume_per_m"] == 0.0
    assert last["ncm_distance_to_contact_um"] == pytest.approx(2.5 * H, rel=1e-12)


def test_far_fraction_counts_ncm_beyond_3um():
    lab = np.full((2, 2, 12), NCM, dtype=np.uint8)
    lab[:, :, 0] = LPSCL
    # NCM at z = 1..11 is 0..10 voxels = 0..5 um from the contact layer z = 1; > 3 um: 7..10 voxels (4 layers)
    (band,) = through_thickness_bands(lab, H, n_bands=1)
    assert band["ncm_beyond_3um_fraction"] == pytest.approx(4 / 11, rel=1e-12)
    assert band["ncm_distance_to_contact_um"] == pytest.approx(H * sum(range(11)) / 11, rel=1e-12)


def test_periodic_sides_join_the_column():
    """An LPSCl column at x = 0 in NCM: with periodic x the voxels at x = nx-1 touch it too."""
    lab = np.full((8, 3, 2), NCM, dtype=np.uint8)
    lab[0] = LPSCL
    (bp,) = through_thickness_bands(lab, 1.0, 1, periodic_xy=True, separator=False)
    (bw,) = through_thickness_bands(lab, 1.0, 1, periodic_xy=False, separator=False)
    assert bp["ncm_lpscl_faces"] == 2 * 3 * 2 and bw["ncm_lpscl_faces"] == 3 * 2
    assert bp["ncm_distance_to_contact_um"] == pytest.approx(9 / 7)
    assert bw["ncm_distance_to_contact_um"] == pytest.approx(3.0)


def test_periodic_distance_crosses_the_side():
    """LPSCl at x = 0, NBR at x = 7: the only contact voxels are at x = 1; from x = 6 the nearest
    one is across the periodic side (3 voxels), not inside the box (5)."""
    lab = np.full((8, 3, 2), NCM, dtype=np.uint8)
    lab[0] = LPSCL
    lab[7] = NBR
    per = distance_to_contact_um(lab, 1.0, periodic_xy=True)
    wall = distance_to_contact_um(lab, 1.0, periodic_xy=False)
    np.testing.assert_allclose(per[1:7, 1, 1], [0, 1, 2, 3, 4, 3])
    np.testing.assert_allclose(wall[1:7, 1, 1], [0, 1, 2, 3, 4, 5])


def test_separator_plane_counts_as_contact():
    """An all-NCM block on the separator: the z = 0 layer is the contact, at its true (flat) area."""
    lab = np.full((3, 4, 6), NCM, dtype=np.uint8)
    first, second = through_thickness_bands(lab, H, n_bands=2)
    assert first["ncm_separator_faces"] == 12 and second["ncm_separator_faces"] == 0
    assert first["ncm_lpscl_faces"] == 0
    assert first["contact_area_per_ncm_volume_per_m"] == pytest.approx(12 / (36 * H) * 1e6, rel=1e-12)
    assert second["contact_area_per_ncm_volume_per_m"] == 0.0
    assert first["ncm_distance_to_contact_um"] == pytest.approx(H, rel=1e-12)  # layers 0, 1, 2
    assert second["ncm_distance_to_contact_um"] == pytest.approx(4 * H, rel=1e-12)  # layers 3, 4, 5
    assert second["ncm_beyond_3um_fraction"] == 0.0
    (off,) = through_thickness_bands(lab, H, n_bands=1, separator=False)
    assert off["ncm_separator_faces"] == 0 and off["ncm_distance_to_contact_um"] is None


def test_bands_sum_to_the_contact_face_count_on_a_random_structure():
    rng = np.random.default_rng(7)
    lab = rng.choice(np.array([PORE, NCM, LPSCL, NBR], dtype=np.uint8), size=(9, 7, 11), p=[0.2, 0.4, 0.3, 0.1])
    for periodic in (True, False):
        total = contact.face_counts(lab, periodic_xy=periodic)["ncm|lpscl"]
        per_voxel = ncm_contact_faces(lab, periodic_xy=periodic)
        assert int(per_voxel.sum()) == total
        assert not per_voxel[lab != NCM].any()
        bands = through_thickness_bands(lab, H, n_bands=4, periodic_xy=periodic)
        assert sum(b["ncm_lpscl_faces"] for b in bands) == total
        assert [b["ncm_separator_faces"] for b in bands] == [int((lab[:, :, 0] == NCM).sum()), 0, 0, 0]
        # the bands' NCM-weighted mean distance is the structure's mean distance
        d = distance_to_contact_um(lab, H, periodic, separator=True)
        n = [(lab[:, :, a:b] == NCM).sum() for a, b in zip(band_edges(11, 4)[:-1], band_edges(11, 4)[1:])]
        weighted = sum(k * b["ncm_distance_to_contact_um"] for k, b in zip(n, bands)) / sum(n)
        assert weighted == pytest.approx(float(d[lab == NCM].mean()), rel=1e-12)


def test_no_contact_gives_null_distance():
    lab = np.full((3, 3, 3), NCM, dtype=np.uint8)
    (band,) = through_thickness_bands(lab, H, 1, separator=False)
    assert band["ncm_lpscl_faces"] == 0 and band["ncm_distance_to_contact_um"] is None
    assert band["ncm_beyond_3um_fraction"] is None
    assert math.isinf(float(distance_to_contact_um(lab, H).max()))


@pytest.mark.parametrize("bad", [0, 7, 2.0, True, "3"])
def test_bad_band_count_is_rejected(bad):
    with pytest.raises(InputError, match="n_bands"):
        through_thickness_bands(_layers(), H, n_bands=bad)


def test_bad_voxel_size_is_rejected():
    with pytest.raises(InputError, match="voxel_size_um"):
        through_thickness_bands(_layers(), -1.0)


def test_periodic_distance_equals_a_three_by_three_tiling():
    """Sparse contacts (far-away nearest images): the half-period margin finds the same distances
    as the plain 3 x 3 tiling of the period."""
    from scipy import ndimage

    lab = np.full((13, 10, 5), NCM, dtype=np.uint8)
    lab[2, 1, 2] = LPSCL  # one grain: the farthest NCM is half a period away along x and y
    contact_mask = ncm_contact_faces(lab) > 0
    tiled = ndimage.distance_transform_edt(~np.tile(contact_mask, (3, 3, 1)), sampling=H)[13:26, 10:20]
    np.testing.assert_allclose(distance_to_contact_um(lab, H, periodic_xy=True), tiled, rtol=0, atol=1e-12)


def test_mirror_in_z_reverses_the_bands():
    """The z-mirror test of docs/rate_study.md swaps a structure's thirds: without the separator plane
    the bands of the mirrored structure are the original's in reverse order, number for number."""
    rng = np.random.default_rng(11)
    lab = rng.choice(np.array([PORE, NCM, LPSCL, NBR], dtype=np.uint8), size=(8, 9, 12), p=[0.2, 0.4, 0.3, 0.1])
    mirrored = np.ascontiguousarray(lab[:, :, ::-1])
    keys = ("ncm_lpscl_faces", "contact_area_per_ncm_volume_per_m", "ncm_distance_to_contact_um",
            "ncm_beyond_3um_fraction", "volume_fraction")
    for periodic in (True, False):
        original = through_thickness_bands(lab, H, 3, periodic_xy=periodic, separator=False)
        flipped = through_thickness_bands(mirrored, H, 3, periodic_xy=periodic, separator=False)
        for a, b in zip(original, flipped[::-1]):
            for k in keys:
                assert a[k] == pytest.approx(b[k], rel=1e-12), k
        # with the separator plane the mirrored structure's first band gains its new bottom layer's NCM
        with_sep = through_thickness_bands(mirrored, H, 3, periodic_xy=periodic, separator=True)
        assert with_sep[0]["ncm_separator_faces"] == int((lab[:, :, -1] == NCM).sum())
