"""docs/data/rate_study/nonmonotone_edges.py: positive stiffness couplings (the lumped scheme's bound
guarantee needs none), on meshes where the answer is known."""

import numpy as np
import pytest

from conftest import load_rate_study_script


@pytest.fixture(scope="module")
def ne():
    return load_rate_study_script("nonmonotone_edges")


def _kuhn_cube():
    """The unit cube split into the 6 Kuhn tetrahedra along the diagonal (0,0,0)-(1,1,1)."""
    x = np.array([[i & 1, (i >> 1) & 1, (i >> 2) & 1] for i in range(8)], float)
    paths = [(1, 2, 4), (1, 4, 2), (2, 1, 4), (2, 4, 1), (4, 1, 2), (4, 2, 1)]
    cells = [[0, a, a + b, 7] for a, b, _ in paths]
    return x, np.array(cells)


def test_kuhn_tetrahedra_are_an_m_matrix(ne):
    x, cells = _kuhn_cube()
    k = ne.ncm_stiffness(x, cells)
    assert np.allclose(k.sum(axis=1), 0, atol=1e-14)           # constants in the kernel
    assert np.isclose(np.abs(np.linalg.det(np.c_[np.ones(4), x[cells[0]]])) / 6, 1 / 6)
    r = ne.positive_couplings(k, np.arange(8))
    assert r["edges_positive"] == 0


def test_an_obtuse_tetrahedron_has_a_positive_coupling(ne):
    # a flat tetrahedron: vertices 2 and 3 lie on either side of edge 0-1, nearly in one plane, so
    # the dihedral angle at edge 0-1 (between faces 012 and 013) is close to 180 deg and the pair
    # opposite that edge couples positively: K_23 = -|e_01| cot(theta_01) / 6 > 0
    x = np.array([[0, 0, 0], [2, 0, 0], [1, 1, 0], [1, -1, 0.1]], float)
    k = ne.ncm_stiffness(x, np.array([[0, 1, 2, 3]]))
    assert k[2, 3] > 0
    r = ne.positive_couplings(k, np.arange(4))
    assert r["edges_positive"] >= 1 and r["nodes_touching_positive_share"] >= 0.5
