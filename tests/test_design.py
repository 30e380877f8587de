"""Composition model and particle-size distributions."""

import numpy as np
import pytest

from fem_twin.design import Composition, ElectrodeDesign
from fem_twin.errors import InputError
from fem_twin.microstructure.psd import ParticleSizeDistribution


def test_seed_fig1a_volume_fractions():
    # Fig. 1a of the seed: 60:38:2 -> 35.1 : 47.7 : 5.2 vol%, 90:8:2 -> 49.4 : 9.4 : 4.9 vol%.
    # Phase ratios follow from w/rho alone; the figure implies 2.597 and 2.437 g/cm3.
    d60 = ElectrodeDesign(composition=Composition(60, 38, 2), electrode_density_g_cm3=2.597)
    v = d60.volume_fractions()
    assert (100 * v.ncm, 100 * v.lpscl, 100 * v.nbr) == pytest.approx((35.1, 47.7, 5.2), abs=0.06)
    d90 = ElectrodeDesign(composition=Composition(90, 8, 2), electrode_density_g_cm3=2.437)
    v = d90.volume_fractions()
    assert (100 * v.ncm, 100 * v.lpscl, 100 * v.nbr) == pytest.approx((49.4, 9.4, 4.9), abs=0.06)


def test_default_design_from_loading_and_thickness():
    d = ElectrodeDesign()  # 70:28:2, 10 mg/cm2, 39 um
    assert d.electrode_density == pytest.approx(10 / 3.9)
    v = d.volume_fractions()
    assert v.ncm == pytest.approx(2.5641 * 0.70 / 4.44, rel=1e-4)
    assert v.lpscl == pytest.approx(2.5641 * 0.28 / 2.07, rel=1e-4)
    assert v.nbr == pytest.approx(2.5641 * 0.02 / 1.00, rel=1e-4)
    assert v.ncm + v.lpscl + v.nbr + v.pore == pytest.approx(1.0, abs=1e-12)
    # total pore 19.8 % is smaller than the 32.7 % particle porosity needs (19.7 %): almost all inner
    assert v.inner_pore == pytest.approx(min(v.ncm * 0.327 / 0.673, v.pore), rel=1e-12)
    assert d.shape == (100, 100, 78)


def test_density_overrides_thickness():
    d = ElectrodeDesign(electrode_density_g_cm3=2.5)
    assert d.electrode_thickness_um == pytest.approx(40.0)


def test_inner_pores_capped_by_total_pore():
    d = ElectrodeDesign(composition=Composition(60, 38, 2))
    v = d.volume_fractions()
    assert v.outer_pore == 0.0 and v.inner_pore == pytest.approx(v.pore)
    assert v.effective_particle_porosity < 0.327
    d90 = ElectrodeDesign(composition=Composition(90, 8, 2))
    v = d90.volume_fractions()
    assert v.effective_particle_porosity == pytest.approx(0.327)
    assert v.outer_pore > 0.05


@pytest.mark.parametrize("text", ["70:28:3", "70:28", "a:b:c", "-5:103:2", "0:98:2"])
def test_bad_composition(text):
    with pytest.raises(InputError) as exc:
        Composition.parse(text)
    assert "composition" in str(exc.value)


@pytest.mark.parametrize("field,value", [("voxel_um", 0.0), ("voxel_um", -0.5), ("size_x_um", 0),
                                         ("thickness_um", -3.0), ("loading_mg_cm2", 0.0)])
def test_bad_sizes(field, value):
    with pytest.raises(InputError) as exc:
        ElectrodeDesign(**{field: value})
    assert field in str(exc.value)


def test_domain_smaller_than_largest_particle():
    with pytest.raises(InputError) as exc:
        ElectrodeDesign(size_x_um=10, size_y_um=10)
    assert "largest particle" in str(exc.value)


def test_density_too_high_rejected():
    with pytest.raises(InputError, match="pore-free density"):
        ElectrodeDesign(electrode_density_g_cm3=4.0)


def test_design_json_roundtrip():
    d = ElectrodeDesign(composition=Composition(80, 18, 2), size_x_um=30, size_y_um=40)
    assert ElectrodeDesign.from_json(d.to_json()) == d
    with pytest.raises(InputError, match="only the keys"):
        ElectrodeDesign.from_dict({**d.to_dict(), "colour": "red"})


def test_same_design_despite_last_bit_drift():
    # a structure saved by one numpy release must match its design rebuilt by the next: numpy 2.5's
    # np.geomspace moved PSD diameters by 1-2 ulp, which `==` called "other ncm_psd, lpscl_psd"
    import dataclasses

    d = ElectrodeDesign(composition=Composition(70, 28, 2), size_x_um=24, size_y_um=24)
    p = d.ncm_psd
    drift = ParticleSizeDistribution(tuple(np.nextafter(x, np.inf) for x in p.diameters_um), p.cumulative)
    assert drift != p  # the old test: another design
    twin = dataclasses.replace(d, ncm_psd=drift)
    assert d.same_as(twin) and twin.differences(d) == []
    # a real change is still one: 1e-9 relative in one diameter, 0.1 um in the thickness, the composition
    moved = ParticleSizeDistribution(p.diameters_um[:5] + (p.diameters_um[5] * (1 + 1e-9),) + p.diameters_um[6:],
                                     p.cumulative)
    assert d.differences(dataclasses.replace(d, ncm_psd=moved)) == ["ncm_psd"]
    assert d.differences(dataclasses.replace(d, thickness_um=d.thickness_um + 0.1)) == ["thickness_um"]
    other = dataclasses.replace(d, composition=Composition(80, 18, 2))
    assert not d.same_as(other) and d.differences(other) == ["composition"]


def test_lognormal_psd_quantiles_and_sampling():
    psd = ParticleSizeDistribution.lognormal(6.0, 9.0, 13.5, d_min=2.0, d_max=30.0, n=200)
    assert psd.quantile(0.5) == pytest.approx(9.0, rel=0.01)
    assert psd.quantile(0.1) == pytest.approx(6.0, rel=0.02)
    assert psd.quantile(0.9) == pytest.approx(13.5, rel=0.02)
    d = psd.sample(np.random.default_rng(0), 2.0e6)
    vol = np.pi / 6 * d**3
    assert vol.sum() == pytest.approx(2.0e6, rel=0.01)
    # volume-weighted median of the sample = D50 of the volume-based PSD
    order = np.argsort(d)
    cum = np.cumsum(vol[order]) / vol.sum()
    assert d[order][np.searchsorted(cum, 0.5)] == pytest.approx(9.0, rel=0.05)
    assert d.min() >= 2.0 and d.max() <= 30.0


def test_bad_psd():
    with pytest.raises(InputError):
        ParticleSizeDistribution.lognormal(9.0, 6.0, 13.0)
    with pytest.raises(InputError):
        ParticleSizeDistribution((1.0, 2.0), (0.0, 0.5))
