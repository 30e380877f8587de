"""The smooth mesher (issue 15): smoothed surface, gmsh tetrahedra, tags, fidelity to the image.

Tests marked ``mpi`` also run under ``mpirun -n 2``: the mesh is built on rank 0 and distributed.
"""

import math

import numpy as np
import pytest

from conftest import assert_conservation, small_generated

from fem_twin import phases
from fem_twin._dolfinx import MPI, dolfinx
from fem_twin.meshing.examples import ball, two_particles
from fem_twin.meshing.smooth_mesh import build_smooth_mesh, quality
from fem_twin.meshing.smooth_surface import edge_triangle_crossings, folded_pairs, smooth, staircase_surface


def _edges(tris):
    return np.unique(np.sort(np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]]), axis=1), axis=0)


@pytest.mark.parametrize("r", [6.0, 10.0])
def test_smoothed_sphere_area_and_volume(r):
    """Staircase area of a voxel ball ~1.5x the sphere's; the smoothed surface within 4 %."""
    n = int(2 * r) + 6
    lab = ball(n, r)
    s = staircase_surface(lab, 1.0)
    true = 4 * math.pi * r * r
    assert 1.4 < s.area_between(phases.NCM, phases.LPSCL) / true < 1.6
    smooth(s, 1.0)
    assert s.area_between(phases.NCM, phases.LPSCL) / true == pytest.approx(1.0, abs=0.04)
    assert np.abs(s.points - s.points_initial).max() <= 0.5 + 1e-12
    assert edge_triangle_crossings(s.points, _edges(s.triangles), s.triangles, 1.0).shape[0] == 0


def test_crossing_detector_finds_a_pierced_triangle():
    """The self-intersection check itself: a segment through a triangle is found, one beside it not."""
    x = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.2, 0.2, -0.5], [0.2, 0.2, 0.5], [2, 2, -0.5], [2, 2, 0.5]], float)
    tris = np.array([[0, 1, 2]])
    edges = np.array([[3, 4], [5, 6]])
    hits = edge_triangle_crossings(x, edges, tris, 1.0)
    assert hits.tolist() == [[0, 0]]
    # two triangles folded onto each other across their common edge (gmsh's "overlapping facets"),
    # a third one at 90 degrees: only the folded pair is reported
    x = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.5, 0.9, 0.01], [0, 0, 1]], float)
    assert folded_pairs(x, np.array([[0, 1, 2], [0, 1, 3], [0, 1, 4]])).tolist() == [[0, 1]]


def test_smoothing_keeps_generated_structure_untangled():
    """A generated piece (pinches, triple lines, thin binder): no edge of the smoothed surface
    crosses a triangle, box-plane points stay on their planes, pinch points do not move."""
    img = small_generated(seed=2)
    s = staircase_surface(img.labels, 0.5)
    smooth(s, 0.5)
    assert s.pinch.sum() > 0
    assert edge_triangle_crossings(s.points, _edges(s.triangles), s.triangles, 0.5).shape[0] == 0
    assert folded_pairs(s.points, s.triangles).shape[0] == 0
    L = 0.5 * np.array(img.labels.shape)
    for a in range(3):
        on_lo = s.points_initial[:, a] == 0
        on_hi = s.points_initial[:, a] == L[a]
        assert np.all(s.points[on_lo, a] == 0) and np.all(s.points[on_hi, a] == L[a])
    assert np.array_equal(s.points[s.pinch], s.points_initial[s.pinch])


def _global_measures(tm):
    import ufl

    comm = tm.comm
    one = dolfinx.fem.Constant(tm.mesh, 1.0)
    dx = ufl.Measure("dx", domain=tm.mesh, subdomain_data=tm.cell_tags)
    ds = ufl.Measure("ds", domain=tm.mesh, subdomain_data=tm.facet_tags)

    def integ(form):
        return comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(form)), op=MPI.SUM)

    vol = {t: integ(one * dx(t)) for t in range(5)}
    planes = {t: integ(one * ds(t)) for t in range(1, 7)}
    return vol, planes


@pytest.mark.mpi
@pytest.mark.parametrize("mesher", ["smooth", "smooth-coarse"])
def test_two_particle_smooth_mesh_is_conforming_tagged_and_faithful(mesher):
    """Two NCM particles + binder in LPSCl over a separator: every NCM|LPSCl facet has an NCM and
    an electrolyte cell, the box planes are flat and complete, phase volumes within 2 % of the
    voxels' (total exact), components per phase as the image's 6-connectivity, interface area
    near the true spheres' (cut by the collector plane) instead of the staircase's 1.5x. The same
    with the surface coarsened, which must also remove surface points."""
    from fem_twin.fem.domains import build_domains
    from fem_twin.meshing.meshers import get_mesher

    h, n, r = 0.5, 24, 5.5
    lab = two_particles(n, r)
    tm = get_mesher(mesher)(lab, h, 2.0, MPI.COMM_WORLD)
    st = tm.stats
    if mesher == "smooth-coarse":
        c = st["coarsening"]
        assert c["points_after"] < 0.7 * c["points_before"] and c["restarts"] >= 0, c
    fid = st["fidelity"]
    assert fid["total"]["volume_rel_diff"] == pytest.approx(0.0, abs=1e-12)
    for name in ("ncm", "lpscl", "nbr", "separator"):
        assert abs(fid[name]["volume_rel_diff"]) < 0.02, (name, fid[name])
        assert fid[name]["components_mesh_facet"] == fid[name]["components_image_6"]
        assert fid[name]["components_mesh_vertex"] == fid[name]["components_image_26"]
    vol, planes = _global_measures(tm)
    L, Lz = n * h, n * h + 2.0
    assert planes[phases.BOTTOM] == pytest.approx(L * L, rel=1e-12)
    assert planes[phases.TOP] == pytest.approx(L * L, rel=1e-12)
    for t in (phases.XMIN, phases.XMAX, phases.YMIN, phases.YMAX):
        assert planes[t] == pytest.approx(L * Lz, rel=1e-12)
    assert vol[phases.SEPARATOR] == pytest.approx(L * L * 2.0, rel=1e-12)
    d = build_domains(tm)
    # two balls of radius r h centred r h below the collector: each a full sphere (tangent to the top)
    true_area = 2 * 4 * math.pi * (r * h) ** 2
    assert d.interface_area_um2 / true_area == pytest.approx(1.0, abs=0.06)
    stair = sum(int((((lab[:-1] == 1) & (lab[1:] == 2)) | ((lab[:-1] == 2) & (lab[1:] == 1))).sum())
                for lab in (lab, lab.transpose(1, 0, 2), lab.transpose(2, 1, 0))) * h * h
    assert stair / true_area > 1.35
    assert d.interface_area_um2 == pytest.approx(st["interface_area_um2"]["ncm|lpscl smooth surface"], rel=1e-9)
    assert st["quality"]["min_volume_um3"] > 0


@pytest.mark.mpi
def test_refined_smooth_mesh_keeps_geometry_and_tags():
    """``SmoothMeshOptions(refine=1)``: 8x the cells, the same phase volumes, plane areas and
    NCM|LPSCl interface area (to round-off), every interface facet still between an NCM and an
    electrolyte cell (the tags of the refined cells come from their parents, ghosts included)."""
    from fem_twin.fem.domains import build_domains
    from fem_twin.meshing.smooth_mesh import SmoothMeshOptions

    lab = two_particles(16, 3.5)
    tm0 = build_smooth_mesh(lab, 0.5, 1.0, MPI.COMM_WORLD)
    tm1 = build_smooth_mesh(lab, 0.5, 1.0, MPI.COMM_WORLD, options=SmoothMeshOptions(refine=1))
    assert tm1.num_cells_global() == 8 * tm0.num_cells_global()
    assert tm1.stats["refined"] == 1
    (v0, p0), (v1, p1) = _global_measures(tm0), _global_measures(tm1)
    for t in v0:
        assert v1[t] == pytest.approx(v0[t], rel=1e-11, abs=1e-12), t
    for t in p0:
        assert p1[t] == pytest.approx(p0[t], rel=1e-11), t
    a0, a1 = build_domains(tm0).interface_area_um2, build_domains(tm1).interface_area_um2
    assert a0 > 0 and a1 == pytest.approx(a0, rel=1e-11)


@pytest.mark.mpi
def test_smooth_mesh_same_on_one_and_two_ranks():
    """The mesh is made on rank 0 and distributed: global counts and measures do not depend on the
    number of ranks (compared with a COMM_SELF build on every rank)."""
    img = small_generated(seed=1)
    tm = build_smooth_mesh(img.labels, 0.5, separator_um=1.0, comm=MPI.COMM_WORLD)
    ref = build_smooth_mesh(img.labels, 0.5, separator_um=1.0, comm=MPI.COMM_SELF)
    assert tm.num_cells_global() == ref.num_cells_global()
    v, p = _global_measures(tm)
    v0, p0 = _global_measures(ref)
    for t in v:
        assert v[t] == pytest.approx(v0[t], rel=1e-12, abs=1e-12)
    for t in p:
        assert p[t] == pytest.approx(p0[t], rel=1e-12, abs=1e-12)


def test_quality_of_known_tetrahedra():
    """Regular tetrahedron: radius ratio 1, dihedral 70.53 deg; a flat one is reported as such."""
    x = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1], [0, 0, 1e-3]], float)
    q = quality(x, np.array([[0, 1, 2, 3]]))
    assert q["min_radius_ratio"] == pytest.approx(1.0, rel=1e-12)
    assert q["min_dihedral_deg"] == pytest.approx(math.degrees(math.acos(1 / 3)), rel=1e-12)
    flat = quality(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 1e-4]], float), np.array([[0, 1, 2, 3]]))
    assert flat["min_dihedral_deg"] < 0.1 and flat["min_radius_ratio"] < 1e-3


MESHES = __import__("pathlib").Path(__file__).resolve().parents[1] / "meshes"


@pytest.mark.mpi
@pytest.mark.parametrize("name", ["two_particles", "generated_piece"])
def test_example_meshes_read_back_with_their_tags(name):
    """meshes/NAME (made by meshes/make_meshes.py): the XDMF reads into DOLFINx with the cell and
    facet counts of its mesh.json, the discharge's domains build on it, and meshio reads the gmsh
    file with one physical tag per tetrahedron matching the cell tags' counts."""
    import json

    import meshio

    from fem_twin.commands.mesh import mesh_summary
    from fem_twin.fem.domains import build_domains
    from fem_twin.meshing import io

    d = MESHES / name
    ref = json.loads((d / "mesh.json").read_text())
    tm = io.read_xdmf(d / "mesh.xdmf", MPI.COMM_WORLD)
    s = mesh_summary(tm)
    assert s["num_cells"] == ref["num_cells"] and s["num_vertices"] == ref["num_vertices"]
    assert s["cells_per_tag"] == ref["cells_per_tag"]
    assert s["facets_per_tag"] == ref["facets_per_tag"]
    dom = build_domains(tm)
    assert dom.interface_area_um2 == pytest.approx(
        ref["mesher_stats"]["interface_area_um2"]["ncm|lpscl smooth surface"], rel=1e-9)
    m = meshio.read(d / "mesh.msh")
    tags = np.concatenate([v for c, v in zip(m.cells, m.cell_data["gmsh:physical"]) if c.type == "tetra"])
    counts = {int(t): int(n) for t, n in zip(*np.unique(tags, return_counts=True))}
    assert counts == {int(k.split("(")[1][:-1]): v for k, v in ref["cells_per_tag"].items()}


@pytest.mark.mpi
def test_discharge_on_the_smooth_mesh_conserves_and_is_rank_independent():
    """A 2C discharge of the two-particle electrode on the smooth mesh: interface current =
    applied current = Li current to 1e-8 at every step, lithium added to NCM = I dt / F, and the
    same voltages on all ranks as on one (<= 1e-6 V)."""
    import tempfile
    from pathlib import Path

    from fem_twin.fem.discharge_run import run_discharge
    from fem_twin.protocol import Protocol

    comm = MPI.COMM_WORLD
    lab = two_particles(16, 3.5)

    def run(c):
        d = Path(c.bcast(tempfile.mkdtemp(prefix="fem_twin_smooth_") if c.rank == 0 else None, root=0)) \
            if c is comm else Path(tempfile.mkdtemp(prefix="fem_twin_smooth_self_"))
        return run_discharge(lab, 0.5, d, protocol=Protocol.parse("discharge 2C for 300 s"), separator_um=1.0,
                             mesher="smooth", comm=c, quiet=True, write_fields=False)

    res = run(comm)
    assert res.complete, res.message
    assert res.summary["mesh"]["mesher"] == "smooth"
    rows = res.rows
    assert len(rows) > 5
    assert_conservation(rows)
    if comm.size > 1:
        own = run(MPI.COMM_SELF)
        v1 = np.array([r["voltage_V"] for r in own.rows])
        vn = np.array([r["voltage_V"] for r in rows])
        assert v1.shape == vn.shape and np.max(np.abs(v1 - vn)) <= 1e-6
