"""docs/data/rate_study/p2d_check.py's live image: the distance descriptor on what the 3D run meshes
(dead NCM and dead LPSCl removed), on an image counted by hand."""

import numpy as np
import pytest

from conftest import load_rate_study_script

from fem_twin.analysis.profile import distance_to_contact_um
from fem_twin.phases import LPSCL, NCM, PORE


@pytest.fixture(scope="module")
def pc():
    return load_rate_study_script("p2d_check")


def _image() -> np.ndarray:
    """6 x 1 x 6 voxels (x, y, z): an NCM column at x = 0 from the separator (k = 0) to the collector
    (k = 5); an LPSCl voxel at (1, 0, 4) touching it but no path to k = 0 (dead); an NCM voxel at
    (4, 0, 2) not joined to the collector (dead); a live LPSCl column at x = 5 (k = 0..5), not
    touching the NCM column."""
    lab = np.full((6, 1, 6), PORE, np.uint8)
    lab[0, 0, :] = NCM
    lab[1, 0, 4] = LPSCL
    lab[4, 0, 2] = NCM
    lab[5, 0, :] = LPSCL
    return lab


def test_live_image_removes_dead_clusters(pc):
    img = _image()
    live = pc.live_image(img)
    assert live[1, 0, 4] == PORE and live[4, 0, 2] == PORE
    assert (live == NCM).sum() == 6 and (live == LPSCL).sum() == 6
    assert np.array_equal(live[0], img[0]) and np.array_equal(live[5], img[5])


def test_dead_lpscl_no_longer_counts_as_a_contact(pc):
    img = _image()
    h = 0.5
    # all contacts: the column's k = 4 voxel touches the dead LPSCl, k = 0 lies on the separator
    d_all = distance_to_contact_um(img, h, periodic_xy=False, separator=True)[0, 0, :]
    assert np.allclose(d_all, h * np.array([0, 1, 2, 1, 0, 1]))
    # live: the dead LPSCl is gone, only the separator contact is left
    live = pc.live_image(img)
    d_live = distance_to_contact_um(live, h, periodic_xy=False, separator=True)[0, 0, :]
    assert np.allclose(d_live, h * np.arange(6))
