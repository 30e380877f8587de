"""Voxel -> Kuhn-tetrahedral mesh: exact volumes and areas, tags, files, connectivity.

Tests marked ``mpi`` also run under ``mpirun -n 2 python -m pytest -m mpi``: they are collective
and use a directory chosen on rank 0 (``shared_dir``).
"""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import small_generated

from fem_twin import phases
from fem_twin._dolfinx import MPI, dolfinx
from fem_twin.analysis.connectivity import label_clusters
from fem_twin.errors import InputError
from fem_twin.meshing import io
from fem_twin.meshing.voxel_mesh import build_tagged_mesh, voxel_tet_mesh

H = 0.5


def face_counts(full: np.ndarray, a: int, b: int) -> int:
    """Number of voxel faces between labels a and b (full labels, separator counted as LPSCl)."""
    n = 0
    for ax in range(3):
        x0 = np.take(full, range(full.shape[ax] - 1), axis=ax)
        x1 = np.take(full, range(1, full.shape[ax]), axis=ax)
        n += int((((x0 == a) & (x1 == b)) | ((x0 == b) & (x1 == a))).sum())
    return n


def tag_measures(tm):
    """Global volume per cell tag, area per interface tag and per plane tag (assembled forms)."""
    import ufl

    comm = tm.comm
    one = dolfinx.fem.Constant(tm.mesh, 1.0)
    dx = ufl.Measure("dx", domain=tm.mesh, subdomain_data=tm.cell_tags)
    dS = ufl.Measure("dS", domain=tm.mesh, subdomain_data=tm.facet_tags)
    ds = ufl.Measure("ds", domain=tm.mesh, subdomain_data=tm.facet_tags)

    def total(f):
        return comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(f)), op=MPI.SUM)

    vol = {p: total(one * dx(p)) for p in range(5)}
    area = {t: total(one("+") * dS(t)) for t in phases.INTERFACE_TAGS.values()}
    plane = {t: total(one * ds(t)) for t in phases.BOUNDARY_TAGS.values()}
    plane_all = total(one * ufl.ds(domain=tm.mesh))
    return vol, area, plane, plane_all


def check_exact(tm, labels, separator_um):
    """Tagged volumes = voxel counts h^3, tagged areas = voxel-face counts h^2, every exterior
    facet tagged with its plane."""
    ns = int(round(separator_um / H))
    full = np.concatenate([np.full(labels.shape[:2] + (ns,), phases.LPSCL, np.uint8), labels], axis=2)
    vol, area, plane, plane_all = tag_measures(tm)
    for p in range(4):
        assert vol[p] == pytest.approx(np.count_nonzero(labels == p) * H**3, abs=1e-9)
    assert vol[phases.SEPARATOR] == pytest.approx(labels.shape[0] * labels.shape[1] * ns * H**3, abs=1e-9)
    for name, tag in phases.INTERFACE_TAGS.items():
        a, b = (phases.label_of(n) for n in name.split("|"))
        assert area[tag] == pytest.approx(face_counts(full, a, b) * H**2, abs=1e-9), name
    nx, ny, nk = full.shape
    expect = {phases.BOTTOM: nx * ny, phases.TOP: nx * ny, phases.XMIN: ny * nk, phases.XMAX: ny * nk,
              phases.YMIN: nx * nk, phases.YMAX: nx * nk}
    for tag, n in expect.items():
        assert plane[tag] == pytest.approx(n * H**2, abs=1e-9)
    assert plane_all == pytest.approx(sum(expect.values()) * H**2, abs=1e-9)


@pytest.mark.mpi
@pytest.mark.parametrize("separator_um", [0.0, 1.5])
def test_random_labels_exact_volumes_and_areas(separator_um):
    labels = np.random.default_rng(3).integers(0, 4, size=(7, 6, 9)).astype(np.uint8)
    tm = build_tagged_mesh(labels, H, separator_um)
    assert tm.separator_um == separator_um and tm.voxel_um == H
    assert tm.num_cells_global() == 6 * labels.size + 6 * 7 * 6 * int(separator_um / H)
    assert tm.extent_um() == pytest.approx((3.5, 3.0, 4.5 + separator_um))
    check_exact(tm, labels, separator_um)


@pytest.mark.mpi
def test_generated_structure_exact_volumes_and_areas():
    img = small_generated()
    tm = build_tagged_mesh(img.labels, img.voxel_size_um, 2.0)
    check_exact(tm, img.labels, 2.0)


@pytest.mark.mpi
def test_fewer_layers_than_ranks_and_single_voxel():
    for labels in (np.array([[[1]]], np.uint8), np.full((3, 2, 1), 2, np.uint8)):
        tm = build_tagged_mesh(labels, H)
        check_exact(tm, labels, 0.0)


@pytest.mark.mpi
def test_every_facet_between_phases_tagged_and_no_other():
    """Interior facets carry a tag exactly when their two cells differ in phase (and are not
    separator | LPSCl); exterior facets always carry a plane tag. Checked on owned and ghost facets."""
    labels = np.random.default_rng(5).integers(0, 4, size=(5, 4, 6)).astype(np.uint8)
    tm = build_tagged_mesh(labels, H, 1.0)
    topo = tm.mesh.topology
    f2c = topo.connectivity(2, 3)
    ctag = np.full(topo.index_map(3).size_local + topo.index_map(3).num_ghosts, -1)
    ctag[tm.cell_tags.indices] = tm.cell_tags.values
    n_f = topo.index_map(2).size_local + topo.index_map(2).num_ghosts
    ftag = np.zeros(n_f, int)
    ftag[tm.facet_tags.indices] = tm.facet_tags.values
    n_owned = topo.index_map(2).size_local
    for f in range(n_owned):
        cells = f2c.links(f)
        if len(cells) == 2:
            a, b = ctag[cells]
            la = phases.LPSCL if a == phases.SEPARATOR else a
            lb = phases.LPSCL if b == phases.SEPARATOR else b
            assert ftag[f] == (phases.interface_tag(a, b) if la != lb else 0)
        else:
            assert ftag[f] in phases.BOUNDARY_TAGS.values()
    # ghost copies carry the owner's tag: compare through global facet numbers
    imap = topo.index_map(2)
    glob = imap.local_to_global(np.arange(n_f, dtype=np.int32))
    pairs = np.column_stack([glob, ftag])
    gathered = np.concatenate(tm.comm.allgather(pairs))
    table = {}
    for g, t in gathered:
        assert table.setdefault(int(g), int(t)) == int(t)


@pytest.mark.mpi
def test_xdmf_and_msh_round_trip(shared_dir):
    img = small_generated(seed=2)
    tm = build_tagged_mesh(img.labels, img.voxel_size_um, 1.0)
    files = io.write_tagged_mesh(tm, shared_dir)
    assert files["xdmf"].exists() and (shared_dir / "mesh.h5").exists() and files["msh"].exists()
    ref = tag_measures(tm)
    for reader in (io.read_xdmf, io.read_msh):
        back = reader(files["xdmf"] if reader is io.read_xdmf else files["msh"])
        assert back.voxel_um == pytest.approx(H) and back.separator_um == pytest.approx(1.0)
        assert back.num_cells_global() == tm.num_cells_global()
        got = tag_measures(back)
        for a, b in zip(ref[:3], got[:3]):
            assert a.keys() == b.keys()
            for k in a:
                assert b[k] == pytest.approx(a[k], abs=1e-9), (reader.__name__, k)
    if MPI.COMM_WORLD.rank == 0:  # a code we did not write reads the gmsh file
        import meshio

        m = meshio.read(files["msh"])
        tets = [(c, d) for c, d in zip(m.cells, m.cell_data["gmsh:physical"]) if c.type == "tetra"]
        tris = [(c, d) for c, d in zip(m.cells, m.cell_data["gmsh:physical"]) if c.type == "triangle"]
        cell_counts = {}
        for c, d in tets:
            for t in np.unique(d):
                cell_counts[int(t)] = cell_counts.get(int(t), 0) + int((d == t).sum())
        full = np.concatenate([np.full(img.shape[:2] + (2,), phases.SEPARATOR, np.uint8), img.labels], axis=2)
        assert cell_counts == {int(p): 6 * int((full == p).sum()) for p in np.unique(full)}
        tri_tags = set(int(t) for _, d in tris for t in np.unique(d))
        assert tri_tags == {1, 2, 3, 4, 5, 6, 101, 102, 103, 112, 113, 123}
        assert sum(c.data.shape[0] for c, _ in tris if True) > 0
        assert np.allclose(m.points.max(axis=0), [10.0, 10.0, 9.0])


def mesh_components(msh) -> int:
    """Connected components of a (serial) mesh through shared vertices."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    c2v = msh.topology.connectivity(3, 0).array.reshape(-1, 4)
    n_c, n_v = c2v.shape[0], msh.topology.index_map(0).size_local
    g = coo_matrix((np.ones(c2v.size), (np.repeat(np.arange(n_c), 4), c2v.ravel())), shape=(n_c, n_v)).tocsr()
    adj = (g @ g.T).tocsr()
    return connected_components(adj, directed=False)[0]


@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="serial graph check")
@pytest.mark.parametrize("connectivity", [26, 6])
def test_mesh_connectivity_equals_image_analysis(connectivity):
    """Voxels touching only along an edge or at a corner: the 26-connected mesh joins them like
    label_clusters(..., 26); the 6-connected variant separates them like label_clusters(..., 6)."""
    mask = np.zeros((6, 6, 6), bool)
    mask[0, 0, 0] = mask[1, 1, 0] = True  # edge contact
    mask[3, 3, 3] = mask[4, 4, 4] = True  # corner contact
    mask[0, 5, 5] = mask[0, 5, 4] = True  # face contact
    rng = np.random.default_rng(0)
    for m in (mask, rng.random((8, 7, 6)) < 0.3):
        msh, _ = voxel_tet_mesh(m, H, MPI.COMM_SELF, connectivity=connectivity)
        _, n = label_clusters(m, connectivity, periodic=(False, False, False))
        assert mesh_components(msh) == n


@pytest.mark.mpi
def test_phase_mesh_equals_submesh_of_block():
    """voxel_tet_mesh of a phase: the same cells and vertex count as create_submesh of the block."""
    labels = np.random.default_rng(1).integers(0, 3, size=(6, 5, 7)).astype(np.uint8)
    keep = labels == phases.NCM
    msh, vox = voxel_tet_mesh(keep, H)
    tm = build_tagged_mesh(labels, H)
    sub, *_ = dolfinx.mesh.create_submesh(tm.mesh, 3, tm.cell_tags.find(phases.NCM))
    for dim in (0, 3):
        assert msh.topology.index_map(dim).size_global == sub.topology.index_map(dim).size_global
    n_owned = msh.topology.index_map(3).size_local
    assert keep.transpose(2, 1, 0).ravel()[vox[:n_owned]].all()


def test_bad_input():
    labels = np.zeros((3, 3, 3), np.uint8)
    with pytest.raises(InputError, match="separator"):
        build_tagged_mesh(labels, H, 0.7)
    with pytest.raises(InputError, match="separator"):
        build_tagged_mesh(labels, H, -1.0)
    with pytest.raises(InputError, match="labels"):
        build_tagged_mesh(np.zeros((3, 3), np.uint8), H)
    with pytest.raises(InputError, match="voxel_um"):
        build_tagged_mesh(labels, 0.0)


@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="CLI run on one rank")
def test_cli_mesh(tmp_path, capsys):
    from fem_twin.cli import main

    img = small_generated(seed=3)
    img.save(tmp_path)
    # the default mesher is the smooth one (gmsh): no voxel-count cell numbers, gmsh figures
    assert main(["mesh", str(tmp_path), "--separator", "1"]) == 0
    summary = json.loads((tmp_path / "mesh.json").read_text())
    assert summary["mesher"] == "smooth", summary["mesher"]
    assert summary["num_cells"] != 6 * img.labels.size + 6 * 20 * 20 * 2
    assert main(["mesh", str(tmp_path), "--separator", "1", "--mesher", "voxel"]) == 0
    for f in ("mesh.xdmf", "mesh.h5", "mesh.msh", "mesh.json"):
        assert (tmp_path / f).exists()
    summary = json.loads((tmp_path / "mesh.json").read_text())
    assert summary["num_cells"] == 6 * img.labels.size + 6 * 20 * 20 * 2
    assert summary["cells_per_tag"]["ncm (1)"] == 6 * int((img.labels == 1).sum())
    assert summary["facets_per_tag"]["top (2)"] == 2 * 20 * 20
    assert main(["mesh", str(tmp_path / "nothing")]) == 2
    assert main(["mesh", str(tmp_path), "--mesher", "gmsh"]) == 2
    assert main(["mesh", str(tmp_path), "--separator", "0.3"]) == 2
    err = capsys.readouterr().err
    assert "nothing: no such file" in err and "--mesher" in err and "separator" in err


# -- graded separator ---------------------------------------------------------------------------
def test_separator_z_grading():
    from fem_twin.meshing.voxel_mesh import SEPARATOR_MAX_RATIO, separator_z_um

    z = separator_z_um(30.0, 0.5, 1.5)
    t = np.diff(z)
    assert z[0] == 0.0 and z[-1] == pytest.approx(30.0, abs=1e-12)
    assert t.size == 11  # instead of 60 voxel layers
    assert t[-1] == pytest.approx(0.5)  # one voxel next to the composite
    assert np.all(np.diff(t) <= 1e-12)  # thinner towards the composite
    assert np.all(t[:-1] / t[1:] <= 1.5 + 1e-12) and t.max() <= SEPARATOR_MAX_RATIO * 0.5
    assert np.allclose(separator_z_um(3.0, 0.5, 1.0), np.arange(7) * 0.5)
    for n_vox in range(1, 80):  # every thickness: exact total, layers >= h, monotone, ratio <= growth
        for g in (1.2, 1.5, 2.0):
            t = np.diff(separator_z_um(n_vox * 0.5, 0.5, g))
            assert t.sum() == pytest.approx(n_vox * 0.5, rel=1e-12)
            assert t.min() >= 0.5 * (1 - 1e-9) and t[-1] == pytest.approx(0.5)
            assert np.all(np.diff(t) <= 1e-12) and np.all(t[:-1] / t[1:] <= g * (1 + 1e-9))
            assert t.size <= n_vox
    with pytest.raises(InputError, match="growth"):
        separator_z_um(3.0, 0.5, 0.8)


@pytest.mark.mpi
def test_graded_separator_conforming_and_exact():
    """Graded separator: same composite cells, volumes and areas as the voxel-layer separator, the
    separator's volume and planes exact, fewer vertices; the composite keeps the voxel grid."""
    labels = np.random.default_rng(3).integers(0, 4, size=(7, 6, 9)).astype(np.uint8)
    uni = build_tagged_mesh(labels, H, 6.0)
    tm = build_tagged_mesh(labels, H, 6.0, separator_growth=1.5)
    assert tm.separator_um == 6.0 and tm.extent_um() == pytest.approx((3.5, 3.0, 10.5))
    vol, area, plane, plane_all = tag_measures(tm)
    vol_u, area_u, plane_u, plane_all_u = tag_measures(uni)
    for p in vol:
        assert vol[p] == pytest.approx(vol_u[p], abs=1e-9), p
    assert vol[phases.SEPARATOR] == pytest.approx(3.5 * 3.0 * 6.0, abs=1e-9)
    for t in area:
        assert area[t] == pytest.approx(area_u[t], abs=1e-9), t
    for t in plane:
        assert plane[t] == pytest.approx(plane_u[t], abs=1e-9), t
    assert plane_all == pytest.approx(plane_all_u, abs=1e-9)
    nv = lambda m: m.mesh.topology.index_map(0).size_global  # noqa: E731
    assert nv(tm) == 8 * 7 * (9 + 5 + 1)  # 5 graded layers instead of 12
    assert nv(uni) == 8 * 7 * (9 + 12 + 1)
