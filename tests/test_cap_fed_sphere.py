"""docs/data/rate_study/cap_fed_sphere.py: the independent sphere model behind the rate study's
"coverage alone is not the mechanism" (docs/rate_study.md), checked against exact results."""

import numpy as np
import pytest

from conftest import load_rate_study_script
from scipy.sparse.linalg import eigsh


@pytest.fixture(scope="module")
def cfs():
    return load_rate_study_script("cap_fed_sphere")


def test_lowest_neumann_modes_of_the_ball(cfs):
    # Closed sphere: the slowest decaying modes are l = 1 (j1'(kR) = 0, kR = 2.08158) and l = 2
    # (kR = 3.34209), then l = 0 (kR = 4.49341); the operator must reproduce their rates D k^2.
    r_f, mu_f = cfs.grid(48, 96, 1.0)
    vol, k, _ = cfs.operator(r_f, mu_f, 1.0)
    m_inv_sqrt = 1.0 / np.sqrt(vol.ravel())
    a = (k.multiply(m_inv_sqrt[:, None]).multiply(m_inv_sqrt[None, :])).tocsc()
    lam = np.sort(eigsh(a, k=4, sigma=-1e-3, which="LM", return_eigenvectors=False))
    assert lam[0] == pytest.approx(0.0, abs=1e-8)
    assert lam[1] == pytest.approx(2.08158 ** 2, rel=0.01)
    assert lam[2] == pytest.approx(3.34209 ** 2, rel=0.02)


def test_uniform_feed_quasi_steady_profile(cfs):
    # f = 1: after the transient, surface - mean lithiation = j R / (5 D) (exact for a sphere)
    assert cfs.check_uniform_quasi_steady() < 0.005


def test_capacity_falls_with_the_fed_fraction_and_conserves_lithium(cfs):
    # discharge() asserts the lithium balance every step; a smaller cap ends earlier
    q = [cfs.discharge(f, 1.0, n_r=24, n_mu=80, steps_per_hour=500) for f in (1.0, 0.5, 0.25)]
    assert q[0] > q[1] > q[2] > 0
    # the uniformly fed sphere does not depend on the angular grid
    assert cfs.discharge(1.0, 1.0, n_r=24, n_mu=8, steps_per_hour=500) == pytest.approx(q[0], rel=1e-9)
