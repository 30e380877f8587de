"""The smooth mesher with periodic x and y faces (``smooth-periodic``) and the discharge on it.

The surface is smoothed on the wrapped image with the points of opposite faces tied, gmsh meshes
the cut-open regions, and :func:`fem_twin.fem.periodic_topology.make_periodic` joins the faces.
Checked here: the faces' points stay partners through smoothing and coarsening; the joined mesh has
no side faces left and solves a periodic Poisson problem with second-order convergence (the cut mesh
of the same cells, with no-flux sides, does not converge); its interface area is the cut mesh's plus
the facets that lie on the cut faces; the discharge on it conserves charge, gives the same curve on 1
and 2 ranks, restarts from a 2-rank checkpoint on 1 rank, and writes periodic XDMF fields.
The test marked ``mpi`` also runs under ``mpirun -n 2``.
"""

import tempfile
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_conservation, small_generated
from fem_twin import phases
from fem_twin._dolfinx import MPI, dolfinx
from fem_twin.meshing.coarsen_surface import coarsen
from fem_twin.meshing.smooth_mesh import COARSE, SmoothMeshOptions, build_smooth_mesh
from fem_twin.meshing.smooth_surface import (edge_triangle_crossings, folded_pairs, periodic_partners, smooth,
                                             staircase_surface)
from fem_twin.meshing.voxel_mesh import composite_with_separator

H = 0.5  # um, the voxel edge of small_generated


def _edges(tris):
    return np.unique(np.sort(np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]]), axis=1), axis=0)


@pytest.fixture(scope="module")
def image():
    return small_generated(seed=2).labels


def test_periodic_surface_keeps_its_faces_partners(image):
    """Smoothing the wrapped image: every point on x = L (y = L) stays its partner on x = 0 (y = 0)
    plus the box length, the partners lying on a phase boundary do move (within the face), the
    surface stays untangled; coarsening removes points elsewhere but none on the periodic faces."""
    full, z = composite_with_separator(image, H, 2.0, 1.0)
    s = staircase_surface(full, H, z, periodic=(0, 1))
    smooth(s, H)
    rep, shift = periodic_partners(s)
    pairs = rep != np.arange(rep.size)
    assert pairs.sum() > 500
    assert np.array_equal(s.points, s.points[rep] + shift)  # exactly: the faces are copies
    moved = np.abs(s.points - s.points_initial).max(axis=1) > 0.05 * H
    assert (moved & pairs).sum() > 50  # the partners smooth too (phase boundaries crossing the faces)
    L = H * np.array(full.shape)
    for a in (0, 1):
        on = (s.points_initial[:, a] == 0) | (s.points_initial[:, a] == L[a])
        assert np.array_equal(s.points[on, a], s.points_initial[on, a])  # ... within their face
    assert edge_triangle_crossings(s.points, _edges(s.triangles), s.triangles, H).shape[0] == 0
    assert folded_pairs(s.points, s.triangles).shape[0] == 0

    c = coarsen(s, H, COARSE)
    assert c.periodic == (0, 1) and c.points.shape[0] < 0.9 * s.points.shape[0]
    face = lambda p: (p[:, 0] == 0) | (p[:, 0] == L[0]) | (p[:, 1] == 0) | (p[:, 1] == L[1])  # noqa: E731
    before = s.points[face(s.points_initial)]
    after = c.points[face(c.points_initial)]
    assert np.array_equal(np.unique(before, axis=0), np.unique(after, axis=0))
    crep, cshift = periodic_partners(c)
    assert np.array_equal(c.points, c.points[crep] + cshift)

    with pytest.raises(Exception, match="periodic"):
        staircase_surface(full[:2], H, z, periodic=(0,))


def _poisson_l2(tm, dirichlet_tags):
    """L2 error of P1 for -lap u = f on ``tm``'s mesh, u = 0 on the facets tagged
    ``dirichlet_tags``, exact u = sin(2 pi x / Lx) cos(2 pi y / Ly) sin(pi z / Lz) (periodic in x, y)."""
    import ufl
    from dolfinx.fem.petsc import LinearProblem

    msh = tm.mesh
    L = np.array(tm.extent_um())
    x = ufl.SpatialCoordinate(msh)
    u_ex = ufl.sin(2 * np.pi * x[0] / L[0]) * ufl.cos(2 * np.pi * x[1] / L[1]) * ufl.sin(np.pi * x[2] / L[2])
    f = ((2 * np.pi / L[0]) ** 2 + (2 * np.pi / L[1]) ** 2 + (np.pi / L[2]) ** 2) * u_ex
    V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    facets = np.concatenate([tm.facet_tags.find(t) for t in dirichlet_tags])
    bc = dolfinx.fem.dirichletbc(0.0, dolfinx.fem.locate_dofs_topological(V, 2, facets), V)
    prefix = f"test_periodic_poisson_{id(tm)}_"
    uh = LinearProblem(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx, f * v * ufl.dx, bcs=[bc],
                       petsc_options={"ksp_type": "cg", "pc_type": "gamg", "ksp_rtol": 1e-12,
                                      "ksp_error_if_not_converged": True},
                       petsc_options_prefix=prefix).solve()
    err = dolfinx.fem.assemble_scalar(dolfinx.fem.form((uh - u_ex) ** 2 * ufl.dx))
    ref = dolfinx.fem.assemble_scalar(dolfinx.fem.form(u_ex ** 2 * ufl.dx))
    return float(np.sqrt(msh.comm.allreduce(err) / msh.comm.allreduce(ref)))


@pytest.mark.mpi
def test_periodic_smooth_mesh_is_joined_and_converges(image):
    """The joined mesh: no facets on the side planes; one vertex per pair of face vertices; the
    NCM | LPSCl area is the cut mesh's plus the interface facets on the cut faces; Poisson with a
    periodic exact solution converges under uniform refinement (relative L2 error 0.0504 -> 0.0151,
    rate 1.74), while the same cells with cut, no-flux sides are 45 % off."""
    import ufl

    from fem_twin.fem.periodic_output import cut_interface_facets

    comm = MPI.COMM_WORLD
    errs = []
    for refine in (0, 1):
        tm = build_smooth_mesh(image, H, 2.0, comm, options=SmoothMeshOptions(periodic=(0, 1), refine=refine))
        cut = tm.unjoined
        assert cut is not None and tm.stats["periodic_axes"] == [0, 1]
        if refine == 0:
            def tags(t):
                n = t.mesh.topology.index_map(2).size_local
                return set(np.unique(np.concatenate(comm.allgather(t.facet_tags.values[t.facet_tags.indices < n]))))

            side = {phases.XMIN, phases.XMAX, phases.YMIN, phases.YMAX}
            assert not (tags(tm) & side) and side <= tags(cut)
            nv = [t.mesh.topology.index_map(0).size_global for t in (tm, cut)]
            ext = np.array(cut.extent_um())
            x = cut.mesh.geometry.x[: cut.mesh.topology.index_map(0).size_local]  # (owned nodes)
            on_hi = (np.abs(x[:, 0] - ext[0]) < 1e-9) | (np.abs(x[:, 1] - ext[1]) < 1e-9)
            assert nv[1] - nv[0] == comm.allreduce(int(on_hi.sum()))

            def area(t, facets=None):
                dS = ufl.Measure("dS", domain=t.mesh, subdomain_data=t.facet_tags)
                return comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(
                    dolfinx.fem.Constant(t.mesh, 1.0) * dS(phases.NCM_LPSCL))))

            n_own = tm.mesh.topology.index_map(3).size_local
            is_ncm = np.zeros(n_own + tm.mesh.topology.index_map(3).num_ghosts, bool)
            is_ncm[tm.cell_tags.find(phases.NCM)] = True
            facets = cut_interface_facets(cut, tm, is_ncm)
            xf = cut.mesh.geometry.x[dolfinx.mesh.entities_to_geometry(cut.mesh, 2, facets)]
            a_cut_facets = comm.allreduce(float(0.5 * np.linalg.norm(
                np.cross(xf[:, 1] - xf[:, 0], xf[:, 2] - xf[:, 0]), axis=1).sum()))
            a_per, a_cut = area(tm), area(cut)
            assert a_per - a_cut > 10.0  # um2: the faces carry interface facets (17.5 here)
            assert a_per == pytest.approx(a_cut_facets, rel=1e-12)
            e_cut = _poisson_l2(cut, (phases.BOTTOM, phases.TOP))
        errs.append(_poisson_l2(tm, (phases.BOTTOM, phases.TOP)))
    assert errs[0] < 0.07 and errs[1] < 0.35 * errs[0]  # rate >= 1.5 (measured 0.0504, 0.0151: 1.74)
    assert e_cut > 5 * errs[0]  # measured 0.450


#: each field's last time on x = L (y = L) equal to its value at the same point on x = 0 (y = 0)
_PARTNER_CHECK = """
import sys
import h5py, numpy as np
from scipy.spatial import cKDTree
for fn, name in (("fields_ncm.h5", "c_s"), ("fields_electrolyte.h5", "phi_e")):
    with h5py.File(sys.argv[1] + "/" + fn) as g:
        x = next(iter(g["Mesh"].values()))["geometry"][:]
        series = g["Function"][name]
        val = series[sorted(series.keys(), key=float)[-1]][:].ravel()
    assert np.ptp(val) > 0
    for ax in (0, 1):
        lo, hi = np.abs(x[:, ax]) < 1e-9, np.abs(x[:, ax] - x[:, ax].max()) < 1e-9
        other = [i for i in range(3) if i != ax]
        d, i = cKDTree(x[lo][:, other]).query(x[hi][:, other])
        pair = d < 1e-9
        assert pair.sum() > 20, (fn, ax, pair.sum())
        assert np.array_equal(val[hi][pair], val[lo][i[pair]]), (fn, ax)
        print("ok")
"""


def _discharge(comm, out, mesher="smooth-periodic", **kw):
    from fem_twin.fem.discharge_run import run_discharge
    from fem_twin.protocol import Protocol

    return run_discharge(small_generated(seed=2, ncm_wt=80.0).labels, H, out,
                         protocol=Protocol.parse("discharge 2C for 240 s"), separator_um=3.0, mesher=mesher,
                         comm=comm, quiet=True, transport="p1", **kw)


@pytest.mark.mpi
def test_periodic_discharge_conserves_restarts_across_ranks_and_writes_periodic_fields():
    """2C for 240 s on the periodic mesh: interface current = applied = Li current at every step;
    a 2-rank run stopped after 3 steps and restarted on 1 rank gives the 1-rank run's curve (to
    1e-6 V; the checkpoint keys the periodic vertices by their partners' input ids); the XDMF
    fields hold one value per periodic vertex pair (equal on x = 0 and x = L)."""
    import subprocess
    import sys

    from fem_twin.fem.checkpoint import CheckpointOptions

    comm = MPI.COMM_WORLD
    shared = Path(comm.bcast(tempfile.mkdtemp(prefix="fem_twin_periodic_") if comm.rank == 0 else None, root=0))
    own = Path(tempfile.mkdtemp(prefix="fem_twin_periodic_self_"))
    ref = _discharge(MPI.COMM_SELF, own, write_fields=True)
    assert ref.complete, ref.message
    assert ref.summary["mesh"]["mesher"] == "smooth-periodic"
    assert_conservation(ref.rows)
    assert len(ref.rows) > 5

    a = _discharge(comm, shared, write_fields=False, checkpoint=CheckpointOptions(every=1, stop_after=3))
    assert not a.complete
    comm.Barrier()
    if comm.rank == 0:
        c = _discharge(MPI.COMM_SELF, shared, write_fields=False, checkpoint=CheckpointOptions(restart=True))
        assert c.complete, c.message
        v_ref = np.array([r["voltage_V"] for r in ref.rows])
        v_c = np.array([r["voltage_V"] for r in c.rows])
        assert v_c.shape == v_ref.shape and np.max(np.abs(v_c - v_ref)) <= 1e-6

        # h5py and DOLFINx's HDF5 must not share a process: read the fields in a fresh interpreter
        out = subprocess.run([sys.executable, "-c", _PARTNER_CHECK, str(own)], capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.split() == ["ok"] * 4, out.stdout + out.stderr
    comm.Barrier()


def test_conductivity_refuses_the_periodic_mesher(image):
    from fem_twin.errors import InputError
    from fem_twin.fem.conductivity import effective_conductivity

    with pytest.raises(InputError, match="periodic"):
        effective_conductivity(image, H, "lpscl", "z", method="p1", mesher="smooth-periodic")


@pytest.mark.parametrize("command", ["mesh", "discharge"])
def test_an_imported_image_is_refused_by_the_periodic_mesher(tmp_path, capsys, command):
    """An imported image need not be periodic: joining its faces would invent interfaces, so
    ``--mesher smooth-periodic`` refuses it with one line naming the file and the way out."""
    from fem_twin.cli import main

    src = np.zeros((6, 6, 5), np.uint8)
    src[:, :, 2:] = 3
    np.save(tmp_path / "seg.npy", src)
    assert main(["import-image", str(tmp_path / "seg.npy"), "--labels", "ncm=3,pore=0", "--voxel", "0.5",
                 "-o", str(tmp_path / "imp")]) == 0
    capsys.readouterr()
    rc = main([command, str(tmp_path / "imp"), "--mesher", "smooth-periodic"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "structure.npz" in err and "seg.npy" in err and "--mesher smooth" in err


@pytest.mark.mpi
def test_fv_matched_factors_on_the_periodic_mesh(image):
    """``fv-matched`` on a periodic mesh matches periodic P1 to periodic finite volumes along every
    axis (x and y by the cell problem) to MATCH_RTOL, with factors like the cut mesh's but not
    theirs (LPSCl 0.704 / 0.665 / 0.800 against 0.723 / 0.686 / 0.823)."""
    from fem_twin.fem.domains import prune_dead_clusters
    from fem_twin.fem.transport_matching import MATCH_RTOL, match_conductances

    comm = MPI.COMM_WORLD
    pruned, _ = prune_dead_clusters(image, H, periodic_xy=True)
    tm = build_smooth_mesh(pruned, H, 0.0, comm, options=SmoothMeshOptions(periodic=(0, 1)))
    per = match_conductances(pruned, H, tm, comm)
    cut = match_conductances(pruned, H, tm.unjoined, comm)
    for phase in ("ncm", "lpscl"):
        p, c = getattr(per, phase), getattr(cut, phase)
        assert p.mismatch < MATCH_RTOL and all(0.3 < f < 1.0 for f in p.factor), p
        # along z (potentials on the z planes in both) joining the side faces only adds connections, so
        # neither conductance can fall (Rayleigh's monotonicity; along x and y the cut piece's faces are
        # equipotential planes instead, which can conduct more: LPSCl x here 0.162 cut, 0.143 periodic)
        assert p.p1[2] >= c.p1[2] and p.fv[2] >= c.fv[2]
