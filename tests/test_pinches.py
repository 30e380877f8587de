"""fem_twin.meshing.pinches.unglue_pinches: cells meeting only at a vertex or along an edge are
separated; cells joined through facets keep their shared vertices."""

import numpy as np
import pytest

from fem_twin.meshing.pinches import unglue_pinches


def n_vertices(tets):
    cells, source = unglue_pinches(np.array(tets))
    assert cells.shape == (len(tets), 4) and source.shape == (cells.max() + 1,)
    # every new vertex copies the input vertex of its corners
    assert np.array_equal(source[cells], np.array(tets))
    return source.size


@pytest.mark.parametrize("tets, expected", [
    ([[0, 1, 2, 3], [1, 2, 3, 4]], 5),                        # a shared facet: glued
    ([[0, 1, 2, 3], [0, 1, 4, 5]], 8),                        # a shared edge only: cut
    ([[0, 1, 2, 3], [0, 4, 5, 6]], 8),                        # a shared vertex only: cut
    ([[0, 1, 2, 3], [0, 1, 3, 4], [0, 1, 4, 5], [0, 1, 5, 2]], 6),  # a closed fan around an edge
    ([[0, 1, 2, 3], [0, 1, 3, 4], [0, 1, 4, 5]], 6),          # an open fan: still facet-joined
    # two facet-joined pairs that touch each other at vertex 0 only: 0 is split in two
    ([[0, 1, 2, 3], [1, 2, 3, 4], [0, 5, 6, 7], [5, 6, 7, 8]], 10),
])
def test_unglue_counts(tets, expected):
    assert n_vertices(tets) == expected


def test_unglue_keeps_a_manifold_mesh_and_rejects_bad_shapes():
    # the 6 Kuhn tetrahedra of a cube: a manifold mesh, nothing is split
    kuhn = [[0, 1, 3, 7], [0, 1, 5, 7], [0, 2, 3, 7], [0, 2, 6, 7], [0, 4, 5, 7], [0, 4, 6, 7]]
    assert n_vertices(kuhn) == 8
    with pytest.raises(ValueError, match=r"\(m, 4\)"):
        unglue_pinches(np.zeros((3, 3), int))
    cells, source = unglue_pinches(np.zeros((0, 4), int))
    assert cells.shape == (0, 4) and source.size == 0
