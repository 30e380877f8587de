"""Structure analysis on shapes with known answers: fractions, dead particles, contact areas."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fem_twin.analysis import contact, fractions
from fem_twin.analysis.connectivity import label_clusters
from fem_twin.analysis.report import ANALYSIS_FILE, StructureReport, analyse
from fem_twin.design import ElectrodeDesign
from fem_twin.errors import FileFormatError, InputError
from fem_twin.microstructure.image import VoxelImage
from fem_twin.microstructure.psd import ParticleSizeDistribution
from fem_twin.phases import LPSCL, NBR, NCM, PORE

H = 0.5  # um


def image(labels, h=H) -> VoxelImage:
    return VoxelImage(labels=np.ascontiguousarray(labels, dtype=np.uint8), voxel_size_um=h)


def ball(n: int, r: float, centre: float) -> np.ndarray:
    """Voxels whose centres (i + 0.5) lie within ``r`` of ``(centre,) * 3`` (voxel units)."""
    x = np.arange(n) + 0.5
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    return (X - centre) ** 2 + (Y - centre) ** 2 + (Z - centre) ** 2 <= r * r


# -- sphere ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sphere_report():
    lab = np.where(ball(40, 15.0, 20.5), NCM, PORE).astype(np.uint8)
    return analyse(image(lab))


def test_sphere_volume(sphere_report):
    vol = sphere_report.volume_fraction["ncm"] * 40 ** 3
    assert vol == pytest.approx(4 / 3 * math.pi * 15 ** 3, rel=0.01)
    assert sum(sphere_report.volume_fraction.values()) == pytest.approx(1.0, abs=1e-12)


def test_sphere_area_raw_and_corrected(sphere_report):
    true_um2 = 4 * math.pi * (15 * H) ** 2
    raw = sphere_report.contact_area_um2["raw"]["pore|ncm"]
    corr = sphere_report.contact_area_um2["corrected"]["pore|ncm"]
    assert 1.4 < raw / true_um2 < 1.6
    assert corr == pytest.approx(true_um2, rel=0.03)
    assert corr == pytest.approx(raw * 2 / 3, rel=1e-12)
    # every other interface is empty
    assert all(v == 0 for k, v in sphere_report.contact_faces.items() if k != "pore|ncm")
    # density = area / volume, um^-1 -> m^-1
    dens = sphere_report.contact_area_density_per_m["corrected"]["pore|ncm"]
    assert dens == pytest.approx(corr / (40 * H) ** 3 * 1e6, rel=1e-12)


def test_sphere_marching_cubes_overestimates():
    """Documents why 'corrected' is the isotropic estimate: marching cubes on a binary image is
    ~9 % high on a sphere, the 2/3 weighting within 1 %."""
    s = ball(40, 15.0, 20.5)
    true = 4 * math.pi * 15 ** 2
    mc = contact.marching_cubes_area_um2(s, 1.0)
    iso = contact.face_counts(s.astype(np.uint8))["pore|ncm"] * 2 / 3
    assert 1.06 < mc / true < 1.12
    assert abs(iso / true - 1) < 0.01


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # skimage 0.26 under numpy 2.5
def test_bumpy_structure_isotropic_beats_marching_cubes():
    """Thresholded smooth periodic random field (correlation length 3 voxels): true area from
    marching cubes on the continuous field at 3x finer sampling."""
    from skimage.measure import marching_cubes

    rng = np.random.default_rng(3)
    n, fac, corr = 24, 3, 3.0
    k = np.fft.fftfreq(n * fac) * 2 * np.pi
    kx, ky, kz = np.meshgrid(k, k, k, indexing="ij")
    spec = np.exp(-(kx ** 2 + ky ** 2 + kz ** 2) * (corr * fac) ** 2 / 4)
    f = np.fft.ifftn(np.fft.fftn(rng.standard_normal((n * fac,) * 3)) * spec).real
    v, t, _, _ = marching_cubes(np.pad(f, ((0, 1),) * 3, mode="wrap").astype(np.float32), 0.0)
    tri = v[t]
    true = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum() / fac ** 2
    coarse = f[fac // 2::fac, fac // 2::fac, fac // 2::fac] > 0
    iso = sum(np.count_nonzero(coarse != np.roll(coarse, 1, axis=a)) for a in range(3)) * 2 / 3
    mc_pad = np.pad(coarse.astype(np.float32), ((0, 1),) * 3, mode="wrap")
    v, t, _, _ = marching_cubes(mc_pad, 0.5)
    tri = v[t]
    mc = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum()
    assert abs(iso / true - 1) < 0.04
    assert mc / true > 1.04
    assert abs(iso / true - 1) < abs(mc / true - 1)


# -- blocks ------------------------------------------------------------------------------------
def test_two_blocks_sharing_a_face():
    lab = np.zeros((10, 8, 6), np.uint8)
    lab[2:5, 1:4, 1:3] = NCM
    lab[5:8, 1:4, 1:3] = LPSCL
    faces = contact.face_counts(lab)
    assert faces == {"ncm|lpscl": 6, "ncm|nbr": 0, "pore|ncm": 36, "lpscl|nbr": 0, "pore|lpscl": 36, "pore|nbr": 0}
    rep = analyse(image(lab))
    assert rep.contact_area_um2["raw"]["ncm|lpscl"] == 6 * H * H
    assert rep.contact_area_um2["corrected"]["ncm|lpscl"] == pytest.approx(4 * H * H, rel=1e-12)
    assert rep.contact_area_density_per_m["raw"]["ncm|lpscl"] == pytest.approx(6 * H * H / (480 * H ** 3) * 1e6)


def test_faces_across_periodic_sides_count_but_not_across_z():
    lab = np.zeros((10, 6, 5), np.uint8)
    lab[0] = NCM
    lab[9] = LPSCL
    assert contact.face_counts(lab, periodic_xy=True)["ncm|lpscl"] == 6 * 5
    assert contact.face_counts(lab, periodic_xy=False)["ncm|lpscl"] == 0
    lab = np.full((4, 4, 5), LPSCL, np.uint8)
    lab[:, :, 0] = NCM
    lab[:, :, 4] = NBR
    faces = contact.face_counts(lab)
    assert faces["ncm|nbr"] == 0  # z = 0 and z = top are not neighbours
    assert faces["ncm|lpscl"] == 16 and faces["lpscl|nbr"] == 16


def test_marching_cubes_column_and_interface():
    """A 6x6 square column through z: no caps at z = 0 / top, exact chamfered perimeter; the same
    across the periodic x side."""
    lab = np.zeros((20, 20, 10), np.uint8)
    lab[3:9, 3:9, :] = NCM
    expected = (4 * 5 + 4 * math.sqrt(0.5)) * 10 * H * H
    assert contact.marching_cubes_area_um2(lab == NCM, H) == pytest.approx(expected, rel=1e-6)
    rolled = np.roll(lab, -5, axis=0)
    assert contact.marching_cubes_area_um2(rolled == NCM, H) == pytest.approx(expected, rel=1e-6)
    # half of the column LPSCl: the flat 6 x 10 interface comes out as (4 + sqrt 2) x 10 by
    # inclusion-exclusion, i.e. marching cubes loses 1 - sqrt(1/2) voxel at each triple line
    lab[6:9, 3:9, :] = LPSCL
    assert contact.marching_cubes_interface_um2(lab, "ncm", "lpscl", H) == pytest.approx(
        (4 + math.sqrt(2)) * 10 * H * H, rel=1e-6)
    assert contact.face_counts(lab)["ncm|lpscl"] == 60


# -- dead particles and percolation ---------------------------------------------------------------
def column_and_floaters() -> np.ndarray:
    lab = np.zeros((10, 10, 12), np.uint8)
    lab[0:4, 0:4, :] = NCM  # spans z: alive, percolating (192 voxels)
    lab[6:8, 6:8, 3:5] = NCM  # floats: dead (8 voxels)
    lab[6:8, 0:2, 9:12] = LPSCL  # touches the collector only: dead LPSCl, no percolation
    return lab


def test_spanning_column_and_floating_block():
    rep = analyse(image(column_and_floaters()))
    assert rep.percolates == {"ncm": True, "lpscl": False}
    assert rep.dead_fraction["ncm"] == pytest.approx(8 / 200, abs=1e-15)
    assert rep.dead_clusters == {"ncm": 1, "lpscl": 1}
    assert rep.clusters == {"ncm": 2, "lpscl": 1}
    assert rep.dead_fraction["lpscl"] == 1.0
    assert rep.dead_fraction_nonperiodic == rep.dead_fraction


def test_column_alone_has_no_dead_volume():
    lab = np.zeros((6, 6, 9), np.uint8)
    lab[1:3, 1:3, :] = NCM
    lab[4:5, 4:5, :] = LPSCL
    d = fractions.dead_particles(lab)
    assert d["dead_fraction"] == {"ncm": 0.0, "lpscl": 0.0}
    assert d["percolates"] == {"ncm": True, "lpscl": True}
    # NCM touching only the collector is alive but does not percolate
    lab[1:3, 1:3, :4] = PORE
    d = fractions.dead_particles(lab)
    assert d["dead_fraction"]["ncm"] == 0.0 and d["percolates"]["ncm"] is False


def test_particle_across_x_side_is_one_cluster_only_when_periodic():
    lab = np.zeros((10, 10, 8), np.uint8)
    lab[[8, 9, 0, 1], 3:6, 2:5] = NCM  # floating block cut by the x side
    rep = analyse(image(lab))
    assert rep.clusters["ncm"] == 1 and rep.dead_clusters["ncm"] == 1
    assert rep.clusters_nonperiodic["ncm"] == 2 and rep.dead_clusters_nonperiodic["ncm"] == 2
    assert rep.dead_fraction["ncm"] == 1.0
    assert rep.contact_faces["pore|ncm"] == 2 * (4 * 3 + 4 * 3 + 3 * 3)


def test_edge_contact_joins_with_26_not_with_6_connectivity():
    lab = np.zeros((8, 8, 8), np.uint8)
    lab[1:3, 1:3, 2:6] = NCM
    lab[3:5, 3:5, 2:6] = NCM  # shares only the edge x = 3, y = 3 with the first block
    assert label_clusters(lab == NCM, 26)[1] == 1
    assert label_clusters(lab == NCM, 6)[1] == 2
    assert fractions.dead_particles(lab)["clusters"]["ncm"] == 1  # the convention used: 26


def test_active_contact_area_excludes_dead_particles():
    lab = np.zeros((10, 10, 12), np.uint8)
    lab[0:4, 0:4, :] = NCM
    lab[4:6, 0:4, :] = LPSCL  # alive column touching the NCM column: 4 x 12 faces
    lab[6:8, 6:8, 4:6] = NCM
    lab[8:9, 6:8, 4:6] = LPSCL  # floating pair: 2 x 2 faces, both dead
    rep = analyse(image(lab))
    assert rep.contact_faces["ncm|lpscl"] == 48 + 4
    vol = 10 * 10 * 12 * H ** 3
    assert rep.active_contact_area_density_per_m["raw"] == pytest.approx(48 * H * H / vol * 1e6)


# -- generated structure, JSON ------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_generated():
    from fem_twin.microstructure.generate import generate

    design = ElectrodeDesign(
        size_x_um=12, size_y_um=12, thickness_um=12, loading_mg_cm2=10 * 12 / 39, voxel_um=0.5,
        ncm_psd=ParticleSizeDistribution.lognormal(3, 4.5, 6, d_min=2, d_max=8),
        lpscl_psd=ParticleSizeDistribution.lognormal(2, 3.5, 5, d_min=1.5, d_max=7),
    )
    return generate(design, np.random.default_rng(1))


def test_generated_structure_report_round_trip(small_generated, tmp_path):
    rep = analyse(small_generated)
    assert rep.shape == (24, 24, 24)
    for k in ("ncm", "lpscl", "nbr", "pore"):
        assert abs(rep.volume_fraction[k] - rep.target_volume_fraction[k]) < 0.02
    path = rep.save(tmp_path)
    assert path == tmp_path / ANALYSIS_FILE
    d = json.loads(path.read_text())
    for key in ("volume_fraction", "target_volume_fraction", "dead_fraction", "percolates",
                "contact_area_density_per_m", "dead_fraction_nonperiodic", "percolates_nonperiodic",
                "dead_clusters", "dead_clusters_nonperiodic", "contact_area_um2", "shape",
                "voxel_size_um", "seed"):
        assert key in d
    assert d["connectivity"] == 26 and d["periodic_xy"] is True
    assert set(d["contact_area_density_per_m"]) >= {"raw", "corrected"}
    assert list(d["contact_area_density_per_m"]["raw"]) == list(contact.INTERFACES)
    assert StructureReport.load(tmp_path) == rep
    assert StructureReport.load(path).to_dict() == d
    # three through-thickness slabs of 8 layers; their faces add up to the NCM|LPSCl count
    bands = d["through_thickness"]
    assert [(b["z_from_um"], b["z_to_um"]) for b in bands] == [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)]
    assert sum(b["ncm_lpscl_faces"] for b in bands) == d["contact_faces"]["ncm|lpscl"]
    ncm = sum(b["volume_fraction"]["ncm"] for b in bands) / 3
    assert ncm == pytest.approx(d["volume_fraction"]["ncm"], rel=1e-12)
    assert all(0 < b["ncm_distance_to_contact_um"] < 6 for b in bands)
    # corrected NCM|LPSCl lies between 2/3 of raw and the marching-cubes value, as on the sphere
    mc = d["contact_area_density_marching_cubes_per_m"]["ncm|lpscl"]
    assert d["contact_area_density_per_m"]["corrected"]["ncm|lpscl"] < mc < d["contact_area_density_per_m"]["raw"]["ncm|lpscl"]


def test_image_without_design_has_null_target(tmp_path):
    rep = analyse(image(column_and_floaters()))
    assert rep.target_volume_fraction is None
    assert json.loads(rep.save(tmp_path / "x.json").read_text())["target_volume_fraction"] is None


# -- bad input -------------------------------------------------------------------------------------
def test_bad_input_raises(tmp_path):
    with pytest.raises(InputError):
        fractions.volume_fractions(np.full((3, 3, 3), 7, np.uint8))
    with pytest.raises(InputError):
        contact.face_counts(np.zeros((3, 3), np.uint8))
    with pytest.raises(InputError):
        contact.face_counts(np.zeros((3, 3, 3), float))
    with pytest.raises(InputError):
        analyse(np.zeros((3, 3, 3), np.uint8))
    with pytest.raises(InputError):
        contact.area_density_per_m(1.0, (2, 2, 2), -1.0)
    with pytest.raises(FileFormatError):
        StructureReport.load(tmp_path)
    (tmp_path / ANALYSIS_FILE).write_text("{not json")
    with pytest.raises(FileFormatError):
        StructureReport.load(tmp_path)
    (tmp_path / ANALYSIS_FILE).write_text(json.dumps({"shape": [1, 1, 1]}))
    with pytest.raises(FileFormatError):
        StructureReport.load(tmp_path)


# -- pictures ------------------------------------------------------------------------------------
def test_pictures_written(small_generated, tmp_path):
    from fem_twin.post.pictures import save_pictures

    paths = save_pictures(small_generated, tmp_path)
    assert [p.name for p in paths] == ["slices.png", "render3d.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000


def test_render_falls_back_to_matplotlib(small_generated, tmp_path, monkeypatch):
    from fem_twin.post import pictures

    def broken(*_):
        raise RuntimeError("no OpenGL")

    monkeypatch.setattr(pictures, "_render_pyvista", broken)
    p = pictures.save_render3d(small_generated, tmp_path / "r.png")
    assert p.exists() and p.stat().st_size > 10_000


def test_no_current_path_says_which_path_is_missing():
    from fem_twin import phases
    from fem_twin.analysis.connectivity import no_current_path

    lab = np.full((4, 4, 6), phases.PORE, np.uint8)
    lab[:2, :, :] = phases.LPSCL  # electrolyte column from the separator (z = 0) to the top
    lab[2, :, 1:] = phases.NCM  # NCM column touching the collector (z = nz-1) and the electrolyte
    assert no_current_path(lab) is None
    cut = lab.copy()
    cut[2, :, 5] = phases.PORE  # NCM no longer reaches the collector
    assert "collector" in no_current_path(cut)
    cut = lab.copy()
    cut[:2, :, 0] = phases.PORE  # LPSCl no longer reaches the separator
    assert "separator" in no_current_path(cut)
    apart = lab.copy()
    apart[1, :, :] = phases.PORE  # both connected, but separated by a pore layer
    assert "interface" in no_current_path(apart)
    # a 26-connected edge contact is not a face: no interface across an edge only
    edge = np.full((3, 3, 3), phases.PORE, np.uint8)
    edge[0, 0, :] = phases.LPSCL
    edge[1, 1, :] = phases.NCM
    assert "interface" in no_current_path(edge)
    edge[1, 0, 1] = phases.NCM  # one face contact
    assert no_current_path(edge) is None
