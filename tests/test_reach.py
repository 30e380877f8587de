"""The path through NCM to a live contact (fem_twin.analysis.reach)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from fem_twin.analysis.reach import live_contact_distance_um, live_contact_voxels, ncm_beyond_fraction
from fem_twin.errors import InputError
from fem_twin.phases import LPSCL, NCM, PORE


def _pillar_under_a_block():
    """x = 0..7, one y layer, z = 0..5 (z = 0 the separator plane): an LPSCl pillar at x = 0 from the
    separator to the NCM block z = 3..5 (which touches the collector); an LPSCl voxel at (7, 0, 2)
    under the block but cut off from the separator (dead); a lone NCM voxel at (4, 0, 1) cut off from
    the collector (dead)."""
    lab = np.full((8, 1, 6), PORE, np.uint8)
    lab[0, 0, 0:3] = LPSCL
    lab[:, :, 3:] = NCM
    lab[7, 0, 2] = LPSCL
    lab[4, 0, 1] = NCM
    return lab


def test_distance_is_the_path_through_the_block_and_skips_dead_phases():
    h = 0.5
    lab = _pillar_under_a_block()
    d = live_contact_distance_um(lab, h)
    x, z = np.meshgrid(np.arange(8), np.arange(3, 6), indexing="ij")
    np.testing.assert_allclose(d[:, 0, 3:], h * (x + (z - 3)), rtol=0, atol=1e-12)
    # the voxel on the dead LPSCl is not a contact: 7 steps along the block, not 0; it is when dead
    # LPSCl counts, and then the distance runs from both ends
    assert d[7, 0, 3] == pytest.approx(7 * h)
    d_all = live_contact_distance_um(lab, h, dead_lpscl=True)
    np.testing.assert_allclose(d_all[:, 0, 3:], h * (np.minimum(x, 7 - x) + (z - 3)), rtol=0, atol=1e-12)
    # dead NCM and the other phases carry no distance
    assert np.isnan(d[4, 0, 1]) and np.isnan(d[0, 0, 0]) and np.isnan(d[1, 0, 0])
    f = ncm_beyond_fraction(lab, d, (0.0, 1.0, 3.5, 10.0))
    n_ncm = 8 * 3 + 1
    assert f[0.0] == pytest.approx(24 / n_ncm)  # (the dead voxel counts in the total only)
    assert f[1.0] == pytest.approx(((x + z - 3) >= 2).sum() / n_ncm)
    assert f[3.5] == pytest.approx(((x + z - 3) >= 7).sum() / n_ncm)
    assert f[10.0] == 0.0


def test_no_live_contact_is_unreachable_everywhere():
    lab = np.full((3, 3, 4), PORE, np.uint8)
    lab[:, :, 1:] = NCM  # touches the collector, not the separator, no LPSCl
    d = live_contact_distance_um(lab, 1.0)
    assert np.isinf(d[:, :, 1:]).all() and np.isnan(d[:, :, 0]).all()
    assert ncm_beyond_fraction(lab, d, (100.0,)) == {100.0: 1.0}


def test_ncm_on_the_separator_is_a_contact():
    lab = np.full((2, 2, 3), NCM, np.uint8)
    d = live_contact_distance_um(lab, 2.0)
    np.testing.assert_allclose(d[:, :, 0], 0.0)
    np.testing.assert_allclose(d[:, :, 2], 4.0)


def test_path_is_never_shorter_than_the_straight_line_on_a_random_structure():
    """On a random three-phase structure: 0 exactly on the contact voxels, > 0 elsewhere, and never
    below the Euclidean distance to the nearest contact voxel (a path of face steps is at least
    as long as the straight line); and at least one voxel where the path is longer (pores in the way)."""
    rng = np.random.default_rng(7)
    lab = rng.choice(np.array([NCM, LPSCL, PORE], np.uint8), size=(20, 20, 16), p=[0.6, 0.3, 0.1])
    lab = ndimage.median_filter(lab, size=3)
    h = 0.5
    d = live_contact_distance_um(lab, h)
    live, contact = live_contact_voxels(lab)
    assert contact.any() and (live & ~contact).any()
    assert (d[contact] == 0).all() and (d[live & ~contact] > 0).all()
    eucl = ndimage.distance_transform_edt(~contact, sampling=h)
    fin = live & np.isfinite(d)
    assert (d[fin] >= eucl[fin] - 1e-9).all()
    assert (d[fin] > eucl[fin] + 1e-9).any()


def test_bad_input():
    with pytest.raises(InputError):
        live_contact_distance_um(np.zeros((3, 3), np.uint8), 1.0)
    with pytest.raises(InputError):
        live_contact_distance_um(np.zeros((3, 3, 3), np.uint8), -1.0)


def test_structure_report_carries_the_reach():
    """``fem-twin analyze``'s report: the pillar's numbers, exact, and a report written before the
    key existed still loads."""
    from fem_twin.analysis.report import StructureReport, analyse
    from fem_twin.microstructure.image import VoxelImage

    lab = _pillar_under_a_block()
    rep = analyse(VoxelImage(lab, 0.5), marching_cubes=False, descriptors=False)
    r = rep.live_contact_reach
    x, z = np.meshgrid(np.arange(8), np.arange(3, 6), indexing="ij")
    steps = x + z - 3
    assert r["mean_path_um"] == pytest.approx(0.5 * steps.mean())
    assert r["ncm_beyond_fraction"] == {"2": pytest.approx((steps >= 4).sum() / 25),
                                        "4": pytest.approx((steps >= 8).sum() / 25), "8": 0.0}
    assert r["ncm_unreachable_fraction"] == 0.0
    old = rep.to_dict()
    del old["live_contact_reach"]
    assert StructureReport.from_dict(old).live_contact_reach == {}
