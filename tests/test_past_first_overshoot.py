"""docs/data/rate_study/past_first_overshoot.py: the relaxed acceptance test it puts in place of
DischargeProblem.concentrations_ok (the library's own test is left alone)."""

import csv
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import load_rate_study_script

from fem_twin._dolfinx import MPI


@pytest.fixture(scope="module")
def pfo():
    return load_rate_study_script("past_first_overshoot")


def _problem(x_s, x_e=(1.0,), frozen=False):
    """What concentrations_ok reads of a DischargeProblem: the NCM lithiation (all owned), c_e."""
    x_s = np.asarray(x_s, float)
    space = SimpleNamespace(dofmap=SimpleNamespace(index_map=SimpleNamespace(size_local=x_s.size)))
    return SimpleNamespace(theta_s=SimpleNamespace(x=SimpleNamespace(array=x_s), function_space=space),
                           theta_e=SimpleNamespace(x=SimpleNamespace(array=np.asarray(x_e, float))),
                           frozen_ce=frozen, comm=MPI.COMM_SELF, V=SimpleNamespace(value=3.1))


def test_tolerance_bounds_and_log(pfo, tmp_path):
    log = tmp_path / "overshoot.csv"
    ok = pfo.relaxed_concentrations_ok(0.05, log)
    assert ok(_problem([0.5, 0.99, 1.02]))            # past 1 but inside the tolerance
    assert not ok(_problem([0.5, 1.06]))              # beyond it
    assert not ok(_problem([-0.06, 0.5]))
    assert not ok(_problem([0.5, 0.6], x_e=(0.0,)))   # c_e must stay positive as before
    assert ok(_problem([0.5, 0.6], x_e=(0.0,), frozen=True))
    assert not ok(_problem([0.5, np.nan]))
    rows = list(csv.DictReader(log.open()))
    assert len(rows) == 6
    assert rows[0]["nodes_above_1"] == "1" and float(rows[0]["x_max"]) == pytest.approx(1.02)
    assert rows[0]["accepted_bounds"] == "1" and rows[1]["accepted_bounds"] == "0"


def test_zero_tolerance_is_the_library_rule(pfo, tmp_path):
    ok = pfo.relaxed_concentrations_ok(0.0, tmp_path / "o.csv")
    assert ok(_problem([1e-6, 1 - 1e-6]))
    assert not ok(_problem([0.5, 1.0])) and not ok(_problem([0.0, 0.5]))
