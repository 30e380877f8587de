"""Geometric descriptors on shapes with known answers: geodesic tortuosity, constrictivity,
specific surface area, through-plane two-point correlation; the fit of the Stenzel relation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fem_twin.analysis import contact
from fem_twin.analysis import descriptors as D
from fem_twin.analysis.descriptor_fit import fit_exponents, r2_of
from fem_twin.analysis.report import StructureReport, analyse
from fem_twin.errors import InputError
from fem_twin.microstructure.image import VoxelImage
from fem_twin.phases import LPSCL, NCM, PORE

H = 0.5  # um
SQ2 = math.sqrt(2.0)


def columns(shape=(8, 8, 20)) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[1:3, 1:3, :] = True  # 2x2 column
    m[5, 6, :] = True  # 1x1 column
    m[7, 0, :] = True  # column on the x/y sides
    return m


def diagonal_channel(width: int, nx=12, ny=4, nz=20) -> np.ndarray:
    """45-degree channel in x-z, ``width`` voxels wide in x, all of y; it wraps across x (nz > nx)."""
    i = np.arange(nx)[:, None]
    k = np.arange(nz)[None, :]
    m2 = ((i - k) % nx) < width
    return np.repeat(m2[:, None, :], ny, axis=1)


# -- geodesic tortuosity -------------------------------------------------------------------------
def test_straight_columns_have_tortuosity_one():
    tau, reached = D.geodesic_tortuosity(columns(), H, return_reached=True)
    assert tau == pytest.approx(1.0, abs=1e-9) and reached == 1.0
    assert D.geodesic_tortuosity(columns(), H, periodic_xy=False) == pytest.approx(1.0, abs=1e-9)


def test_diagonal_channel_is_sqrt2_and_needs_the_periodic_wrap():
    # 1 voxel wide: every step is a (1, 0, 1) edge step of length sqrt(2) h
    assert D.geodesic_tortuosity(diagonal_channel(1), H) == pytest.approx(SQ2, abs=1e-9)
    # 3 wide: a top voxel j (0..2 from the channel's left edge) is reached from source i = 2 with
    # (j - 2) vertical steps of 1 replacing diagonal ones, so the mean path over the three is
    # (nz - 1) sqrt2 - (sqrt2 - 1) and tau = sqrt2 - (sqrt2 - 1) / (nz - 1)
    nz = 20
    assert D.geodesic_tortuosity(diagonal_channel(3, nz=nz), H) == pytest.approx(
        SQ2 - (SQ2 - 1) / (nz - 1), abs=1e-9)
    # the channel crosses the x side: it percolates only with periodic x/y
    tau, reached = D.geodesic_tortuosity(diagonal_channel(3), H, periodic_xy=False, return_reached=True)
    assert math.isnan(tau) and reached == 0.0


def test_zigzag_channel_of_known_length():
    """A sheet (all y) one voxel thick in x-z: vertical runs joined by m horizontal runs of L voxels
    alternating right/left. A 26-neighbour path cuts each of the 2m corners with one diagonal step
    (sqrt2 for 2), so its length is (nz - 1) + m L - m (4 - 2 sqrt2) voxels; the centre line is
    (nz - 1) + m L."""
    nx, ny, nz, L, x0 = 14, 3, 31, 10, 1
    runs = (6, 12, 18, 24)  # z of the horizontal runs (>= 2 layers apart: corners do not interact)
    m = np.zeros((nx, ny, nz), bool)
    x, z0 = x0, 0
    for zr in runs:
        m[x, :, z0:zr + 1] = True
        x1 = x + L if x == x0 else x0
        m[min(x, x1):max(x, x1) + 1, :, zr] = True
        x, z0 = x1, zr
    m[x, :, z0:] = True
    k = len(runs)
    exact = ((nz - 1) + k * L - k * (4 - 2 * SQ2)) / (nz - 1)
    tau = D.geodesic_tortuosity(m, H)
    assert tau == pytest.approx(exact, abs=1e-9)
    centre_line = ((nz - 1) + k * L) / (nz - 1)
    assert 0.92 < tau / centre_line < 0.95  # 2.177 vs 2.333: the 8 cut corners save 6.7 %


def test_non_percolating_phase_gives_nan():
    m = columns()
    m[:, :, 10] = False  # cut every column
    tau, reached = D.geodesic_tortuosity(m, H, return_reached=True)
    assert math.isnan(tau) and reached == 0.0
    none_at_bottom = columns()
    none_at_bottom[:, :, 0] = False
    assert math.isnan(D.geodesic_tortuosity(none_at_bottom, H))
    # a phase absent from the top plane: nothing to reach
    tau, reached = D.geodesic_tortuosity(np.zeros((4, 4, 5), bool), H, return_reached=True)
    assert math.isnan(tau) and math.isnan(reached)


def test_geodesic_distances_of_a_column_are_heights():
    d = D.geodesic_distances(columns(), H)
    assert d[1, 1, :] == pytest.approx(np.arange(20) * H, abs=1e-12)
    assert np.isinf(d[0, 0, 0])


# -- constrictivity ------------------------------------------------------------------------------
def disc_mask(n: int, radius_of_z, nz: int) -> np.ndarray:
    """Voxels whose centre lies within radius_of_z(z) of the z axis through the middle of n x n."""
    x = np.arange(n) - (n - 1) / 2
    rho2 = x[:, None] ** 2 + x[None, :] ** 2
    r = np.array([radius_of_z(k) for k in range(nz)])
    return rho2[:, :, None] <= r[None, None, :] ** 2


def test_straight_cylinder_has_constrictivity_one():
    R = 5.0
    beta, r_min, r_max = D.constrictivity(disc_mask(16, lambda k: R, 30), H)
    assert beta > 0.9
    assert (R - 1) * H <= r_max <= (R + 1) * H and r_min == pytest.approx(r_max)


def test_chambers_and_throats():
    """Spherical chambers (radius Rc) on the z axis joined by throats (cylinders of radius Rt),
    a throat first at z = 0. Expected beta = (Rt / Rc)^2 = 0.16. Tolerance 30 %: a radius is the
    distance to the first voxel centre outside, within about +-0.5 voxel of the nominal radius
    depending on how the circle meets the lattice; (3.5 / 10)^2 = 0.1225 is -23 %, (4.5 / 10)^2
    = 0.2025 is +27 %."""
    Rc, Rt, lt = 10.0, 4.0, 4
    period = int(2 * Rc) + lt
    nz = lt + 3 * period
    centres = [lt + Rc + p * period for p in range(3)]

    def radius(k):
        r = Rt
        for c in centres:
            if abs(k - c) <= Rc:
                r = max(r, math.sqrt(Rc ** 2 - (k - c) ** 2))
        return r

    m = disc_mask(24, radius, nz)
    beta, r_min, r_max = D.constrictivity(m, H)
    assert beta == pytest.approx((Rt / Rc) ** 2, rel=0.3)
    assert (Rt - 1) * H <= r_min <= (Rt + 1) * H
    assert (Rc - 1) * H <= r_max <= (Rc + 1) * H
    # throats widened to 0.8 Rc: beta = 0.64
    wide = disc_mask(24, lambda k: max(radius(k), 0.8 * Rc), nz)
    assert D.constrictivity(wide, H)[0] == pytest.approx(0.8 ** 2, rel=0.3)


def test_constrictivity_edge_cases():
    assert all(math.isnan(v) for v in D.constrictivity(np.zeros((4, 4, 4), bool), H))
    assert D.constrictivity(np.ones((4, 4, 4), bool), H)[0] == 1.0
    floating = disc_mask(16, lambda k: 4.0, 20)
    floating[:, :, :3] = False  # never reaches z = 0: no intrusion
    beta, r_min, r_max = D.constrictivity(floating, H)
    assert beta == 0.0 and r_min == 0.0 and r_max > 0


# -- specific surface area, S2 -------------------------------------------------------------------
def ball_labels(n=40, R=12.0) -> np.ndarray:
    x = np.arange(n) + 0.5
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    inside = (X - n / 2) ** 2 + (Y - n / 2) ** 2 + (Z - n / 2) ** 2 <= R * R
    return np.where(inside, NCM, PORE).astype(np.uint8)


def test_specific_surface_area_of_a_sphere():
    n, R = 40, 12.0
    ssa = D.specific_surface_area(ball_labels(n, R), H)
    exact = 4 * math.pi * (R * H) ** 2 / (n * H) ** 3 * 1e6  # 1/m
    assert ssa["ncm"] == pytest.approx(exact, rel=0.05)
    assert ssa["pore"] == pytest.approx(ssa["ncm"], rel=1e-12)
    assert ssa["lpscl"] == 0.0 and ssa["nbr"] == 0.0


def test_specific_surface_area_is_the_sum_of_corrected_contact_densities():
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 4, (10, 9, 8)).astype(np.uint8)
    ssa = D.specific_surface_area(lab, H)
    dens = {k: contact.area_density_per_m(v, lab.shape, H)
            for k, v in contact.contact_areas_um2(lab, H)["isotropic"].items()}
    for phase in ("ncm", "lpscl", "nbr", "pore"):
        assert ssa[phase] == pytest.approx(sum(v for k, v in dens.items() if phase in k.split("|")))


def test_two_point_correlation_of_columns_and_layers():
    m = columns()
    eps = np.count_nonzero(m) / m.size
    lags, s2 = D.two_point_correlation_z(m, H, 5.0)
    assert lags == pytest.approx(np.arange(11) * H) and s2[0] == eps
    assert np.all(s2 == eps)  # exactly: each lag counts whole columns
    layers = np.zeros((3, 3, 20), bool)
    layers[:, :, ::2] = True  # every other plane
    _, s2 = D.two_point_correlation_z(layers, 1.0, 100.0)
    assert s2.size == 20 and s2[0] == 0.5
    assert np.all(s2[1::2] == 0.0) and np.all(s2[2::2] == 0.5)


# -- report ----------------------------------------------------------------------------------------
def test_descriptors_in_analysis_json_round_trip(tmp_path):
    lab = np.full((8, 8, 12), PORE, np.uint8)
    lab[1:4, 1:4, :] = LPSCL  # straight electrolyte column
    lab[5:7, 5:7, 2:] = NCM  # NCM column from the collector, not reaching z = 0
    rep = analyse(VoxelImage(labels=lab, voxel_size_um=H))
    d = json.loads(rep.save(tmp_path).read_text())["descriptors"]
    assert set(d) == {"ncm", "lpscl", "nbr", "pore"}
    assert d["lpscl"]["tau_geo"] == pytest.approx(1.0, abs=1e-9)
    assert d["lpscl"]["eps"] == pytest.approx(9 / 64) == d["lpscl"]["s2"][0]
    assert d["ncm"]["tau_geo"] is None and d["nbr"]["beta"] is None  # nan and absent -> null
    assert len(d["pore"]["s2"]) == len(d["pore"]["s2_lag_um"]) == 11
    assert StructureReport.load(tmp_path) == rep
    # a file written before the descriptors existed still loads
    old = rep.to_dict()
    del old["descriptors"]
    assert StructureReport.from_dict(old).descriptors == {}
    assert analyse(VoxelImage(labels=lab, voxel_size_um=H), descriptors=False).descriptors == {}


def test_bad_input_raises():
    with pytest.raises(InputError, match="3D"):
        D.geodesic_tortuosity(np.ones((3, 3), bool), H)
    with pytest.raises(InputError, match="voxel_size_um"):
        D.constrictivity(np.ones((3, 3, 3), bool), 0.0)
    with pytest.raises(InputError, match="voxel_size_um"):
        D.two_point_correlation_z(np.ones((3, 3, 3), bool), -1.0, 1.0)
    with pytest.raises(InputError, match="2 voxel planes"):
        D.geodesic_tortuosity(np.ones((3, 3, 1), bool), H)
    with pytest.raises(InputError, match="boolean"):
        D.geodesic_tortuosity(np.full((3, 3, 3), 2), H)
    with pytest.raises(InputError, match="voxel_size_um"):
        D.descriptors(np.zeros((3, 3, 3), np.uint8))


# -- fit -------------------------------------------------------------------------------------------
def test_fit_recovers_known_exponents():
    rng = np.random.default_rng(5)
    eps = rng.uniform(0.1, 0.6, 30)
    beta = rng.uniform(0.05, 1.0, 30)
    tau = rng.uniform(1.0, 2.0, 30)
    a, b, c = 1.15, 0.37, 4.39
    rel = eps ** a * beta ** b / tau ** c
    fit = fit_exponents(eps, beta, tau, rel)
    assert (fit["a"], fit["b"], fit["c"]) == pytest.approx((a, b, c), abs=1e-8)
    assert fit["r2"] == pytest.approx(1.0, abs=1e-12) and fit["n"] == 30
    assert r2_of((a, b, c), eps, beta, tau, rel) == pytest.approx(1.0, abs=1e-12)
    # non-percolating rows (tau nan, sigma 0) are dropped
    fit2 = fit_exponents(np.append(eps, 0.3), np.append(beta, 0.5), np.append(tau, np.nan),
                         np.append(rel, 0.0))
    assert fit2["n"] == 30 and fit2["a"] == pytest.approx(a, abs=1e-8)
    assert math.isnan(fit_exponents(eps[:2], beta[:2], tau[:2], rel[:2])["a"])
