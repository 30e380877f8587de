"""Equality of JSON-like records with floating-point numbers compared within a relative tolerance.

Saved designs and calibration records come back from disk after a round trip through JSON, or
from another numpy/scipy release that moves a computed number by an ulp. Comparing them with
``==`` refuses the same record; comparing with a loose tolerance accepts another one. This module
holds the one rule both use.
"""

from __future__ import annotations

import math

__all__ = ["same_json"]


def same_json(a, b, rel_tol: float) -> bool:
    """``True`` when ``a`` and ``b`` hold the same record.

    Dicts need the same keys and lists/tuples the same length, compared item by item. A float on
    either side of a number is compared within ``rel_tol`` (relative, no absolute floor). Two ints
    must be equal; booleans and ``None`` match only themselves (``True`` is not ``1.0``); anything
    else (strings) must be equal and of the same type.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k], rel_tol) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_json(x, y, rel_tol) for x, y in zip(a, b))
    if _is_number(a) and _is_number(b) and (isinstance(a, float) or isinstance(b, float)):
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=0.0)
    return type(a) is type(b) and a == b


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)
