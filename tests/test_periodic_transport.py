"""Effective conductivity with periodic x and y faces (fem_twin/fem/periodic_transport.py).

Exact cases: a laminate on a periodic box mesh gives the harmonic mean across its layers (the cell
problem's periodic part carries the whole answer) and the arithmetic mean along them, the current is
the sum of the directional dissipations times the tensor's factors; the periodic finite volumes give
the layer fraction for slabs, 1 for a full box, and conduct through a path that percolates only across
the faces (0 with the faces cut). The test marked ``mpi`` also runs under ``mpirun -n 2``.
"""

import numpy as np
import pytest

from fem_twin._dolfinx import MPI, dolfinx
from fem_twin.fem.periodic_topology import make_periodic
from fem_twin.fem.conductivity import phase_components
from fem_twin.fem.periodic_transport import fv_relative_periodic, solve_ohm_periodic


@pytest.mark.mpi
def test_periodic_p1_laminate_is_exact():
    """Layers normal to x (sigma 1 for x < 1/2, 0.1 beyond) on a periodic unit cube: sigma_eff along
    x = harmonic mean 1/5.5, along y = arithmetic mean 0.55 (x, y by the cell problem, z between
    its planes), to 1e-9; with the tensor diag(2, 3, 0.5) both scale by their factor, and the current
    equals sum_b f_b split_b."""
    comm = MPI.COMM_WORLD
    box = dolfinx.mesh.create_unit_cube(comm, 6, 6, 6, ghost_mode=dolfinx.mesh.GhostMode.shared_facet)
    msh = make_periodic(box, (0, 1))
    n = msh.topology.index_map(3).size_local + msh.topology.index_map(3).num_ghosts
    mid = dolfinx.mesh.compute_midpoints(msh, 3, np.arange(n, dtype=np.int32))
    sigma = np.where(mid[:, 0] < 0.5, 1.0, 0.1)
    _, pinned = phase_components(msh, np.arange(n, dtype=np.int32), 0.0, 1.0)
    assert pinned.size == 1  # one component: the whole box
    harmonic, arithmetic = 1.0 / (0.5 / 1.0 + 0.5 / 0.1), 0.55
    for ax, exact in ((0, harmonic), (1, arithmetic), (2, arithmetic)):
        s = solve_ohm_periodic(msh, ax, 1.0, 1.0, pinned, cell_sigma=sigma, rtol=1e-12)
        assert s.relative == pytest.approx(exact, rel=1e-9)
    f = (2.0, 3.0, 0.5)
    for ax, exact in ((0, 2.0 * harmonic), (1, 3.0 * arithmetic)):
        s = solve_ohm_periodic(msh, ax, 1.0, 1.0, pinned, cell_sigma=sigma, tensor_diag=f, split=True, rtol=1e-12)
        assert s.relative == pytest.approx(exact, rel=1e-9)
        assert sum(fb * sb for fb, sb in zip(f, s.split)) == pytest.approx(s.relative, rel=1e-9)


def test_periodic_finite_volumes_exact_and_across_the_faces():
    h = 0.5
    full = np.ones((6, 5, 4), bool)
    for ax in range(3):
        assert fv_relative_periodic(full, h, ax) == pytest.approx(1.0, rel=1e-10)
    slabs = np.zeros((6, 5, 8), bool)
    slabs[:, :, [1, 2, 5]] = True  # layers normal to z: 3 of 8 conduct along x and y, nothing along z
    assert fv_relative_periodic(slabs, h, 0) == pytest.approx(3 / 8, rel=1e-10)
    assert fv_relative_periodic(slabs, h, 1) == pytest.approx(3 / 8, rel=1e-10)
    assert fv_relative_periodic(slabs, h, 2) == 0.0
    # a staircase: column i holds y = 2i .. 2i + 2 (mod n), so it meets column i + 1 at one face; it
    # wraps in y twice per period in x, and in the box (faces cut) it breaks into pieces that do not
    # span x; periodic, it is one chain: per period 2 faces in each of the n columns and 1 between
    # neighbours, 3n faces of conductance h (sigma = 1) in series, I = h / (3n) for a unit drop, and
    # sigma_eff = I L / A = (h / 3n) (n h) / (n h * h) = 1 / 3n
    n = 8
    path = np.zeros((n, n, 1), bool)
    for i in range(n):
        path[i, [(2 * i + d) % n for d in range(3)], 0] = True
    from fem_twin.analysis.connectivity import spanning

    assert not spanning(path, axis=0, connectivity=6, periodic=(False, False, False)).any()
    assert spanning(path, axis=0, connectivity=6, periodic=(False, True, False))[path].all()
    assert fv_relative_periodic(path, h, 0) == pytest.approx(1 / (3 * n), rel=1e-10)
    # along z the cut faces (reference: conductivity_fv's convention) and the periodic ones agree on a
    # structure that does not cross them
    col = np.zeros((6, 6, 5), bool)
    col[2:4, 1:3, :] = True
    assert fv_relative_periodic(col, h, 2) == pytest.approx(4 / 36, rel=1e-10)
    assert fv_relative_periodic(col, h, 2, periodic=False) == pytest.approx(4 / 36, rel=1e-10)
