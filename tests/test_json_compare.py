"""The one rule for 'same record' used by saved designs and calibration records."""

import json

from fem_twin.json_compare import same_json


def test_floats_within_tolerance_and_json_round_trip():
    a = {"d_um": (4.0, 8.0 * (1 + 2e-16), 14.0), "name": "NCM", "n": 3}
    b = json.loads(json.dumps(a))
    assert same_json(a, b, 1e-12) and same_json(b, a, 1e-12)
    b["d_um"][1] = 8.0 * (1 + 1e-9)
    assert not same_json(a, b, 1e-12)
    assert same_json(a, b, 1e-8)


def test_ints_bools_none_and_strings_are_exact():
    seed = 2**62
    # 1e-12 relative of 2**62 is ~4.6e6: a tolerance on ints would call two seeds the same
    assert not same_json({"seed": seed}, {"seed": seed + 1}, 1e-12)
    assert same_json({"seed": seed}, {"seed": seed}, 1e-12)
    assert not same_json(True, 1.0, 1e-3) and not same_json(1.0, True, 1e-3)
    assert not same_json(None, 0.0, 1e-3) and same_json(None, None, 1e-3)
    assert not same_json("1", 1, 1e-3)
    assert same_json(50, 50.0, 1e-12) and same_json(50.0, 50, 1e-12)


def test_shape_differences():
    assert not same_json({"a": 1}, {"a": 1, "b": 2}, 1e-9)
    assert not same_json([1.0, 2.0], [1.0], 1e-9)
    assert not same_json({"a": [1.0]}, {"a": 1.0}, 1e-9)
