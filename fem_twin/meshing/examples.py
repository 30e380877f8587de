"""Small hand-made label images for tests, demos and the example meshes in ``meshes/``."""

from __future__ import annotations

import numpy as np

from .. import phases


def ball(n: int, r: float, centre=None, inside: int = phases.NCM, outside: int = phases.LPSCL) -> np.ndarray:
    """(n, n, n) uint8 labels with a voxelised ball of radius ``r`` voxels (default: centred)."""
    c = np.arange(n) + 0.5
    centre = np.full(3, n / 2) if centre is None else np.asarray(centre, float)
    X, Y, Z = np.meshgrid(c, c, c, indexing="ij")
    lab = np.full((n, n, n), outside, np.uint8)
    lab[(X - centre[0]) ** 2 + (Y - centre[1]) ** 2 + (Z - centre[2]) ** 2 < r * r] = inside
    return lab


def two_particles(n: int = 24, r: float = 5.5) -> np.ndarray:
    """Two NCM balls of radius ``r`` voxels side by side, tangent to the collector plane
    (k = n - 1 side), an NBR ball of 2.5 voxels between them below, in LPSCl."""
    c = np.arange(n) + 0.5
    X, Y, Z = np.meshgrid(c, c, c, indexing="ij")
    lab = np.full((n, n, n), phases.LPSCL, np.uint8)
    for cx in (n / 2 - r, n / 2 + r):
        lab[(X - cx) ** 2 + (Y - n / 2) ** 2 + (Z - (n - r)) ** 2 < r * r] = phases.NCM
    lab[(X - n / 2) ** 2 + (Y - n / 2) ** 2 + (Z - (n - 2 * r)) ** 2 < 2.5 ** 2] = phases.NBR
    return lab
