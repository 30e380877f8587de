"""The dead-cluster pruning before meshing and its face-contact report (fem_twin.fem.domains)."""

import numpy as np
import pytest

from fem_twin.fem.domains import prune_dead_clusters
from fem_twin.phases import LPSCL, NCM, PORE


def _image(edge_step: bool) -> np.ndarray:
    """6 x 6 x 8 voxels: an LPSCl slab at the separator side (k = 0..1) and above it an NCM column
    of 2 x 2 voxels from the slab to the collector (k = 7). With ``edge_step`` the column's upper
    half (k >= 5) is shifted by one voxel in x and y: the two halves touch along one voxel edge
    only (26- but not 6-connected)."""
    lab = np.full((6, 6, 8), PORE, np.uint8)
    lab[:, :, :2] = LPSCL
    lab[1:3, 1:3, 2:5] = NCM
    if edge_step:
        lab[3:5, 3:5, 5:] = NCM
    else:
        lab[1:3, 1:3, 5:] = NCM
    return lab


def test_face_connected_column_has_no_warning():
    lab, rep = prune_dead_clusters(_image(edge_step=False), 0.5)
    d = rep.as_dict()
    assert d["dead_ncm_fraction"] == 0 and d["dead_lpscl_fraction"] == 0
    assert d["ncm_face_attached_fraction"] == 1.0 and d["lpscl_face_attached_fraction"] == 1.0
    assert d["ncm_edge_only_fraction_of_live"] == 0 and d["lpscl_edge_only_fraction_of_live"] == 0
    assert rep.edge_contact_warning() is None


def test_edge_contact_column_is_live_but_flagged():
    img = _image(edge_step=True)
    lab, rep = prune_dead_clusters(img, 0.5)
    d = rep.as_dict()
    # the lower half is live through the edge contact (26-connectivity, as the mesh conducts) ...
    assert d["dead_ncm_fraction"] == 0 and (lab == NCM).sum() == (img == NCM).sum() == 24
    # ... but only the upper half (2 x 2 x 3 = 12 of 24 voxels) reaches the collector through faces
    assert d["ncm_face_attached_fraction"] == pytest.approx(12 / 24, abs=1e-15)
    assert d["ncm_edge_only_fraction_of_live"] == pytest.approx(12 / 24, abs=1e-15)
    w = rep.edge_contact_warning()
    assert w is not None and "50.0% of the live NCM" in w and "LPSCl" not in w


def test_fractions_of_total_and_of_live_differ_by_the_dead_part():
    """An LPSCl island (dead: no contact with the separator side) counts in the face-attached
    fraction's denominator but not in the edge-only fraction of the live LPSCl."""
    img = _image(edge_step=False)
    img[4:6, 0:2, 4:6] = LPSCL  # 8 voxels, far from the slab (k >= 4) and from the column
    lab, rep = prune_dead_clusters(img, 0.5)
    d = rep.as_dict()
    live = 6 * 6 * 2
    assert d["dead_lpscl_fraction"] == pytest.approx(8 / (live + 8), abs=1e-15)
    assert d["lpscl_face_attached_fraction"] == pytest.approx(live / (live + 8), abs=1e-15)
    assert d["lpscl_edge_only_fraction_of_live"] == 0
