"""docs/data/rate_study/edge_contacts.py: the share of a structure that hangs on edge or corner
contacts (docs/rate_study.md, the caveat on the 80 wt% capacities), on images counted by hand."""

import numpy as np
import pytest

from conftest import load_rate_study_script

from fem_twin.phases import LPSCL, NCM, PORE


@pytest.fixture(scope="module")
def ec():
    return load_rate_study_script("edge_contacts")


def _image() -> np.ndarray:
    """8 x 8 x 6 voxels. LPSCl: a slab at k = 0, a 1 x 1 x 2 post on it at (1, 1, 1..2) (face-attached),
    a 1 x 1 x 2 post at (4, 4, 2..3) whose lower voxel touches the slab-attached voxel (3, 3, 1) along
    an edge only, and an island at (6, 6, 4). NCM: one voxel next to each post, (2, 1, 2) and (5, 4, 3),
    joined to the collector (k = 5) by columns."""
    lab = np.full((8, 8, 6), PORE, np.uint8)
    lab[:, :, 0] = LPSCL
    lab[1, 1, 1:3] = LPSCL
    lab[3, 3, 1] = LPSCL          # face-attached (on the slab)
    lab[4, 4, 2:4] = LPSCL        # edge-only: (4, 4, 2) meets (3, 3, 1) at an edge
    lab[6, 6, 4] = LPSCL          # dead
    lab[2, 1, 2:6] = NCM
    lab[5, 4, 3:6] = NCM
    return lab


def test_counts(ec):
    r = ec.edge_contact_numbers(_image(), 0.5)
    live = 64 + 2 + 1 + 2
    assert r["dead_lpscl"] == pytest.approx(1 / (live + 1), abs=1e-15)
    assert r["lpscl_edge_only_of_live"] == pytest.approx(2 / live, abs=1e-15)
    # NCM|LPSCl faces: column 1's (2, 1, 2) touches (1, 1, 2) (face-attached), column 2's (5, 4, 3)
    # touches (4, 4, 3) (edge-only); no other NCM voxel has an LPSCl face neighbour
    assert r["contact_faces_on_edge_only"] == pytest.approx(1 / 2, abs=1e-15)
    # NCM voxels: column 1 has 4 (k = 2..5), column 2 has 3 (k = 3..5); the nearest contact of column
    # 2's voxels is (5, 4, 3), touching edge-only LPSCl; distances to (2, 1, 2) in voxels: sqrt(9 + 9 + d^2)
    assert r["ncm_nearer_edge_only"] == pytest.approx(3 / 7, abs=1e-15)
    d = [np.sqrt(18 + (k - 2) ** 2) * 0.5 for k in (3, 4, 5)]
    assert r["their_distance_to_face_contact_um"] == pytest.approx(np.mean(d), rel=1e-12)
