"""docs/data/rate_study/smooth_saturation.py: the smoothed kinetics equal the library's away from
x = 1, are smooth through it, and their x-derivative is the finite difference of their current."""

import numpy as np
import pytest

from conftest import load_rate_study_script

from fem_twin.fem import kinetics as K
from fem_twin.parameters.cell import ParameterSet


@pytest.fixture(scope="module")
def script():
    return load_rate_study_script("smooth_saturation")


def _args(x):
    x = np.asarray(x, float)
    return x, np.full_like(x, 0.1), np.zeros_like(x), np.full_like(x, 0.9), 3.6


def test_equal_to_the_clipped_kinetics_away_from_1(script):
    p = ParameterSet()
    bv = script.smoothed_butler_volmer(1e-3)
    x = np.linspace(0.3, 0.99, 50)
    a, b = bv(p, *_args(x)), K._butler_volmer(p, *_args(x))
    # (x - x~ = delta ln(1 + exp(-10)) = 4.5e-8 at 0.99, where U' = -27 V: 1.2e-6 V in eta)
    assert np.max(np.abs(a.j / b.j - 1)) < 1e-4
    assert np.max(np.abs(a.dj_dphi_s / b.dj_dphi_s - 1)) < 1e-4
    # at 0.995, 6.7e-6 in x and U' = -50 V: 0.34 mV, ~0.5 % of j at this eta
    x = np.linspace(0.3, 0.9, 20)
    assert np.allclose(bv(p, *_args(x)).j, K._butler_volmer(p, *_args(x)).j, rtol=1e-9)


def test_derivative_is_the_finite_difference_through_1(script):
    p = ParameterSet()
    bv = script.smoothed_butler_volmer(1e-3)
    x = np.array([0.99, 0.998, 0.9995, 1.0, 1.0005, 1.002, 1.01])
    h = 1e-8
    fd = (bv(p, *_args(x + h)).j - bv(p, *_args(x - h)).j) / (2 * h)
    kin = bv(p, *_args(x))
    assert np.allclose(kin.dj_dtheta_s, fd, rtol=1e-5, atol=1e-9 * np.abs(kin.j).max())
    assert np.all(np.isfinite(kin.j)) and np.all(np.diff(kin.j) != 0)  # no flat, clipped part past 1
    clipped = K._butler_volmer(p, *_args(x))
    assert clipped.dj_dtheta_s[-1] == 0.0  # (the library's: no slope past 1)
    with pytest.raises(ValueError, match="delta"):
        script.smoothed_butler_volmer(0.0)
