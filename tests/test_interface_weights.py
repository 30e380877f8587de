"""Smoothed-normal interface weights (issue 15): the weighted staircase area is the true area.

Voxelised spheres (numpy, no finite elements) and the hemisphere of the verification test meshed
(the weights the discharge model uses), on 1 and 2 ranks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fem_twin import phases
from fem_twin._dolfinx import MPI
from fem_twin.analysis.contact import ISOTROPIC_FACTOR, face_counts
from fem_twin.fem import interface_weights as iw
from fem_twin.parameters.cell import ParameterSet


def test_weighted_area_of_voxel_spheres_is_the_true_area():
    """Weighted / true area within 0.7 % for balls of R = 6 and 10 voxels centred on a voxel
    corner or centre (the analysis' isotropic raw x 2/3 is off by up to 3.6 % on the same
    balls: it depends on how the staircase falls, the local weights do not)."""
    sigma = ParameterSet().interface_normal_sigma_vox
    worst_w, worst_iso = 0.0, 0.0
    for r in (6, 10):
        for centre in ("corner", "centre"):
            lab = iw.voxel_ball(r, centre=centre)
            true = 4.0 * math.pi * r ** 2
            w = iw.measure_sphere(lab, true, sigma)
            iso = face_counts(lab, periodic_xy=False)["ncm|lpscl"] * ISOTROPIC_FACTOR / true
            worst_w, worst_iso = max(worst_w, abs(w - 1.0)), max(worst_iso, abs(iso - 1.0))
    print(f"\nmax |weighted/true - 1| = {worst_w:.4f}, max |raw*2/3/true - 1| = {worst_iso:.4f}")
    assert worst_w <= 0.007
    assert worst_iso > 2 * worst_w  # (the comparison the choice rests on)


def test_flat_face_keeps_its_area_and_raw_normals_are_not_weights():
    """An axis-aligned plane: weight 1 on every facet (2/3 would be wrong); unnormalised
    gradients are not dimensionless (weighted area far from 1)."""
    lab = np.full((8, 8, 8), phases.LPSCL, np.uint8)
    lab[:, :, 4:] = phases.NCM
    tri, n_f = iw.staircase_facets(lab)
    assert len(tri) == 2 * 8 * 8
    assert iw.measure_sphere(lab, 64.0, 1.5) == pytest.approx(1.0, abs=1e-12)
    ball = iw.voxel_ball(6)
    assert iw.measure_sphere(ball, 4 * math.pi * 36, 1.5, normalise=False) < 0.5


@pytest.mark.mpi
def test_mesh_weights_equal_the_voxel_measurement():
    """On the meshed hemisphere (R = 6 voxels) the weighted interface area (UFL vertex rule) equals
    the numpy measurement to 1e-12, is 2 pi R^2 within 0.5 % and the raw staircase 1.49x."""
    from test_discharge_verification import hemisphere_on_collector

    from fem_twin.fem.box_mesh import tagged_mesh
    from fem_twin.fem.domains import build_domains

    r, h = 6, 1.0 / 3.0
    lab = hemisphere_on_collector(r)
    d = build_domains(tagged_mesh(lab, h, h, MPI.COMM_WORLD))
    iw.attach_smoothed_normals(d, lab, h, 1.5)
    true = 2.0 * math.pi * (r * h) ** 2
    assert d.interface_weighted_area_um2 == pytest.approx(
        iw.measure_sphere(lab, 2.0 * math.pi * r ** 2, 1.5) * true, rel=1e-12)
    assert d.interface_weighted_area_um2 == pytest.approx(true, rel=5e-3)
    assert d.interface_area_um2 / true == pytest.approx(1.485, abs=0.005)


def test_weights_are_in_the_checkpoint_fingerprint():
    """The weights change results: on, or with another sigma, a checkpoint is refused; off, the
    fingerprint is the one of the parameters without the new keys (earlier checkpoints match)."""
    from fem_twin.fem.checkpoint import _hash, input_fingerprint
    from fem_twin.fem.stepping import SteppingOptions
    from fem_twin.parameters.cell import TEMPERATURE_DEFAULTS
    from fem_twin.protocol import Protocol

    lab = iw.voxel_ball(3)
    proto, step = Protocol.parse("discharge 1C to 3.0 V"), SteppingOptions()

    def fp(p):
        return input_fingerprint(lab, 0.5, 1.0, p, proto, step)["parameters"]

    off = ParameterSet()
    on = off.with_overrides({"interface_area": "smoothed-normal"})
    on2 = on.with_overrides({"interface_normal_sigma_vox": 2.0})
    assert len({fp(off), fp(on), fp(on2)}) == 3
    # (the temperature keys of issue 18 are likewise left out at their defaults)
    old = {k: v for k, v in off.to_dict().items() if not k.startswith("interface_") and k not in TEMPERATURE_DEFAULTS}
    assert fp(off) == _hash(old)
    assert on.to_dict()["interface_area"] == "smoothed-normal"  # (recorded in discharge.json)
