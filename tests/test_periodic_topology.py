"""fem_twin.fem.periodic_topology: a mesh periodic in x and y by its topology."""

from __future__ import annotations

import numpy as np
import pytest
import ufl

from fem_twin._dolfinx import MPI, dolfinx
from fem_twin.errors import InputError
from fem_twin.fem.periodic_topology import make_periodic


def _solve(n: int, periodic: bool = True):
    """-lap u = f on the unit cube, periodic in x and y, u = 0 at z = 0 and 1; exact
    u = (sin(2 pi x) cos(2 pi y) + 0.3 sin(2 pi (x + y))) sin(pi z), so f = 9 pi^2 u.
    Returns (mesh, uh, L2 error, number of Dirichlet facets)."""
    from dolfinx import fem
    from dolfinx.fem.petsc import LinearProblem

    comm = MPI.COMM_WORLD
    msh = dolfinx.mesh.create_unit_cube(comm, n, n, n, dolfinx.mesh.CellType.tetrahedron)
    if periodic:
        msh = make_periodic(msh)
    X = ufl.SpatialCoordinate(msh)
    pi = np.pi
    u_exact = (ufl.sin(2 * pi * X[0]) * ufl.cos(2 * pi * X[1]) + 0.3 * ufl.sin(2 * pi * (X[0] + X[1]))) \
        * ufl.sin(pi * X[2])
    f = 9 * pi**2 * u_exact
    V = fem.functionspace(msh, ("Lagrange", 1))
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    if periodic:  # only z = 0 and z = 1 are left exterior
        dirichlet = dolfinx.mesh.exterior_facet_indices(msh.topology)
    else:  # the cut box: natural (no-flux) side faces
        dirichlet = dolfinx.mesh.locate_entities_boundary(msh, tdim - 1, lambda p: np.isclose(p[2], 0) | np.isclose(p[2], 1))
    bc = fem.dirichletbc(0.0, fem.locate_dofs_topological(V, tdim - 1, dirichlet), V)
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    problem = LinearProblem(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx, f * v * ufl.dx, bcs=[bc],
                            petsc_options_prefix=f"test_periodic_{n}_{int(periodic)}_",
                            petsc_options={"ksp_type": "preonly", "pc_type": "lu",
                                           "pc_factor_mat_solver_type": "mumps"})
    uh = problem.solve()
    err = fem.assemble_scalar(fem.form((uh - u_exact) ** 2 * ufl.dx(metadata={"quadrature_degree": 6})))
    return msh, uh, np.sqrt(comm.allreduce(err, op=MPI.SUM)), comm.allreduce(len(dirichlet), op=MPI.SUM)


@pytest.mark.mpi
def test_periodic_poisson_converges_at_second_order():
    comm = MPI.COMM_WORLD
    errors = []
    for n in (4, 8, 16):
        msh, uh, err, n_exterior = _solve(n)
        errors.append(err)
        V = uh.function_space
        # one dof per periodic pair: n x n per z-layer; only the z = 0 and z = 1 faces stay exterior
        assert V.dofmap.index_map.size_global == n * n * (n + 1)
        assert n_exterior == 2 * 2 * n * n
        volume = comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(1.0 * ufl.dx(domain=msh))), op=MPI.SUM)
        assert volume == pytest.approx(1.0, rel=1e-12)
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert rates[-1] > 1.8, (errors, rates)
    # the same mesh with cut (no-flux) side faces solves another problem: its error stays large
    cut = _solve(16, periodic=False)[2]
    assert cut > 4 * errors[-1], (cut, errors)


@pytest.mark.mpi
def test_periodic_values_equal_on_opposite_faces_and_cell_order_kept():
    comm = MPI.COMM_WORLD
    base = dolfinx.mesh.create_unit_cube(comm, 6, 6, 6, dolfinx.mesh.CellType.tetrahedron)
    msh, uh, *_ = _solve(6)
    # owned cells keep their order: same midpoints as the ordinary mesh's
    n = base.topology.index_map(3).size_local
    mid = lambda m: m.geometry.x[m.geometry.dofmaps[0][:n]].mean(axis=1)  # noqa: E731
    assert np.array_equal(mid(base), mid(msh))
    # each cell's corners with the value of the dof there; a corner on x = 1 or y = 1, moved to
    # x = 0 / y = 0, must meet the same value wherever (on any rank) that point appears
    corners = msh.geometry.x[msh.geometry.dofmaps[0][:n]].reshape(-1, 3)
    values = uh.x.array[uh.function_space.dofmap.list[:n]].reshape(-1)
    corners[:, :2] = np.where(np.isclose(corners[:, :2], 1.0), 0.0, corners[:, :2])
    keys = np.vstack(comm.allgather(np.round(corners * 6).astype(np.int64)))
    values = np.concatenate(comm.allgather(values))
    _, label = np.unique(keys, axis=0, return_inverse=True)
    label = label.ravel()
    spread = np.full(label.max() + 1, -np.inf)
    np.maximum.at(spread, label, values)
    low = np.full(label.max() + 1, np.inf)
    np.minimum.at(low, label, values)
    assert np.array_equal(spread, low)
    on_face = np.isclose(keys[:, 0], 0) & (keys[:, 2] > 0) & (keys[:, 2] < 6)
    assert np.abs(values[on_face]).max() > 0.1  # not trivially equal (zero) on the faces


def test_unmatched_faces_and_other_cells_are_refused():
    comm = MPI.COMM_WORLD
    msh = dolfinx.mesh.create_unit_cube(comm, 3, 3, 3, dolfinx.mesh.CellType.tetrahedron)
    x = msh.geometry.x
    x[np.isclose(x[:, 0], 1.0) & (x[:, 1] > 0.1) & (x[:, 1] < 0.9), 1] += 0.01  # move the x = 1 face
    with pytest.raises(InputError, match="without a partner"):
        make_periodic(msh)
    hexes = dolfinx.mesh.create_unit_cube(comm, 2, 2, 2, dolfinx.mesh.CellType.hexahedron)
    with pytest.raises(InputError, match="P1 tetrahedra"):
        make_periodic(hexes)


@pytest.mark.mpi
def test_interior_facet_integrals_see_neighbours_across_periodic_faces_and_ranks():
    """sum over interior facets of (f+ - f-)^2 for a cell-wise f: each rank holds the cells beside
    its own as ghosts (across the periodic faces too), so any rank count gives the serial value."""
    from dolfinx import fem

    comm = MPI.COMM_WORLD

    def jump_sum(c):
        msh = make_periodic(dolfinx.mesh.create_unit_cube(c, 5, 5, 5, dolfinx.mesh.CellType.tetrahedron))
        f = fem.Function(fem.functionspace(msh, ("DG", 0)))
        f.interpolate(lambda p: np.sin(3 * p[0] + 1) * np.cos(2 * p[1]) + p[2] ** 2)
        value = fem.assemble_scalar(fem.form((f("+") - f("-")) ** 2 * ufl.dS))
        area = fem.assemble_scalar(fem.form(1.0 * ufl.dS(domain=msh)))
        return c.allreduce(value, op=MPI.SUM), c.allreduce(area, op=MPI.SUM)

    serial, distributed = jump_sum(MPI.COMM_SELF), jump_sum(comm)
    assert distributed == pytest.approx(serial, rel=1e-12)
    # every facet but the z = 0 and z = 1 faces is interior, and the x = 0 / x = 1 (y = 0 / y = 1)
    # faces are one: the cut box's facet area (each facet once) less the 6 box faces plus 2
    msh = dolfinx.mesh.create_unit_cube(MPI.COMM_SELF, 5, 5, 5, dolfinx.mesh.CellType.tetrahedron)
    all_area = fem.assemble_scalar(fem.form(1.0 * ufl.dS(domain=msh))) + fem.assemble_scalar(fem.form(1.0 * ufl.ds(domain=msh)))
    assert serial[1] == pytest.approx(all_area - 6.0 + 2.0, rel=1e-12)


@pytest.mark.mpi
def test_a_submesh_across_the_periodic_face_stays_joined():
    """A phase submesh (here the slab x > 5/6 or x < 1/3, which crosses x = 0 = 1) keeps the
    periodic identification: one set of vertices on the joined face, which is not exterior."""
    from dolfinx import fem

    comm = MPI.COMM_WORLD
    msh = make_periodic(dolfinx.mesh.create_unit_cube(comm, 6, 6, 6, dolfinx.mesh.CellType.tetrahedron))
    n = msh.topology.index_map(3).size_local
    mid = msh.geometry.x[msh.geometry.dofmaps[0][:n]].mean(axis=1)
    sub = dolfinx.mesh.create_submesh(msh, 3, np.flatnonzero((mid[:, 0] < 1 / 3) | (mid[:, 0] > 5 / 6)).astype(np.int32))[0]
    volume = comm.allreduce(fem.assemble_scalar(fem.form(1.0 * ufl.dx(domain=sub))), op=MPI.SUM)
    exterior = comm.allreduce(fem.assemble_scalar(fem.form(1.0 * ufl.ds(domain=sub))), op=MPI.SUM)
    assert volume == pytest.approx(0.5, rel=1e-12)
    # vertex planes x = 5/6, 0 = 1, 1/6, 2/6, each 6 (y, periodic) x 7 (z)
    assert fem.functionspace(sub, ("Lagrange", 1)).dofmap.index_map.size_global == 4 * 6 * 7
    # exterior: the cut planes x = 5/6 and x = 1/3 (1 each) and the slab's z = 0, 1 faces (0.5 each)
    assert exterior == pytest.approx(3.0, rel=1e-12)
