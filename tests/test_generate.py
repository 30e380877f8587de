"""Generator: volume fractions, determinism, periodicity, polyhedral primaries."""

import numpy as np
import pytest

from fem_twin import phases
from fem_twin.design import Composition, ElectrodeDesign
from fem_twin.microstructure.generate import generate, sphere_field, voronoi_cells


def small(ncm_wt=70, **kw):
    return ElectrodeDesign(composition=Composition.from_ncm_wt(ncm_wt), size_x_um=20, size_y_um=20, **kw)


@pytest.mark.parametrize("ncm_wt", [60, 70, 80, 90])
@pytest.mark.parametrize("seed", [1, 2])
def test_volume_fractions_within_two_points(ncm_wt, seed):
    d = small(ncm_wt)
    img = generate(d, np.random.default_rng(seed))
    frac = np.bincount(img.labels.ravel(), minlength=4) / img.labels.size
    target = d.volume_fractions().phases()
    for name, label in phases.PHASES.items():
        assert abs(frac[label] - target[name]) < 0.02, (name, frac[label], target[name])
    # the LPSCl and NBR counts are matched exactly by construction, NCM to one primary particle
    assert abs(frac[phases.LPSCL] - target["lpscl"]) < 1.0 / img.labels.size * 1.01
    assert abs(frac[phases.NCM] - target["ncm"]) < 0.005


def test_same_seed_same_array_other_seed_other_array():
    d = small()
    a = generate(d, np.random.default_rng(3)).labels
    b = generate(d, np.random.default_rng(3)).labels
    c = generate(d, np.random.default_rng(4)).labels
    assert np.array_equal(a, b)
    assert np.mean(a != c) > 0.3
    # statistically alike: same fractions within 0.5 point
    fa = np.bincount(a.ravel(), minlength=4) / a.size
    fc = np.bincount(c.ravel(), minlength=4) / c.size
    assert np.max(np.abs(fa - fc)) < 0.005


def test_rng_must_be_generator():
    with pytest.raises(TypeError):
        generate(small(), 1)


def test_sphere_field_is_periodic_in_x_and_y_not_z():
    shape, h = (20, 20, 20), 1.0
    f = sphere_field(shape, h, np.array([[0.0, 10.0, 0.0]]), np.array([4.0]))
    inside = f > 0
    # the sphere centred on the x = 0 side continues on the opposite side, symmetrically
    # mirror symmetry about the x = 0 side: voxel i and voxel -1 - i are equal
    assert np.array_equal(inside, inside[::-1, :, :])
    assert inside[0, 10, 0] and inside[19, 10, 0]
    assert inside[:4, 10, 0].sum() == inside[16:, 10, 0].sum()
    # not periodic in z: nothing at the top
    assert not inside[:, :, 19].any()
    # volume: half a sphere (cut by z = 0) of radius 4 in voxels
    assert inside.sum() == pytest.approx(0.5 * 4 / 3 * np.pi * 4**3, rel=0.15)


def test_primaries_are_small_polyhedra():
    rng = np.random.default_rng(0)
    cell, n, seed_vox = voronoi_cells((40, 40, 40), 0.5, 0.57, 1.55, rng)
    vol = np.bincount(cell.ravel(), minlength=n) * 0.5**3
    d_eq = (6 * vol[vol > 0] / np.pi) ** (1 / 3)
    # mean equivalent diameter in the 0.57-1.55 um range of the seed's primaries
    assert 0.8 < d_eq.mean() < 1.3
    # every seed voxel belongs to its own cell
    assert np.mean(cell.ravel()[seed_vox] == np.arange(n)) > 0.85


def test_pores_of_70wt_electrode_are_inner_pores():
    # at 70 wt% the pore volume is (almost) all inner pores of the secondary particles: pore voxels
    # are enclosed by NCM, not next to the electrolyte or binder
    from scipy import ndimage

    d = small(70)
    lab = generate(d, np.random.default_rng(1)).labels
    pore = lab == phases.PORE
    near = ndimage.binary_dilation((lab == phases.LPSCL) | (lab == phases.NBR), structure=np.ones((3, 3, 3)))
    assert pore.mean() == pytest.approx(d.volume_fractions().pore, abs=0.005)
    assert (pore & ~near).sum() / pore.sum() > 0.85
