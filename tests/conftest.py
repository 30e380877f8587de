"""Shared test fixtures and small structures.

Tests marked ``mpi`` also run under ``mpirun -n 2 python -m pytest -m mpi``; they must be
collective and write into ``shared_dir`` (one path on every rank), never ``tmp_path``.
"""

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def shared_dir():
    """A temporary directory, the same path on every rank (made on rank 0, removed afterwards)."""
    from fem_twin._dolfinx import MPI

    comm = MPI.COMM_WORLD
    path = comm.bcast(tempfile.mkdtemp(prefix="fem_twin_test_") if comm.rank == 0 else None, root=0)
    yield Path(path)
    comm.Barrier()
    if comm.rank == 0:
        shutil.rmtree(path, ignore_errors=True)


def load_rate_study_script(name: str):
    """The module ``docs/data/rate_study/<name>.py`` (the rate study's analysis scripts are not a
    package; their tests load them by path). Whatever the script puts on ``sys.path`` is taken off."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "docs" / "data" / "rate_study" / f"{name}.py"
    before = list(sys.path)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path[:] = before
    return mod


def small_generated(seed=1, ncm_wt=70.0):
    """A 20 x 20 x 16 voxel structure from the project's generator (small particle sizes)."""
    from fem_twin.design import Composition, ElectrodeDesign
    from fem_twin.microstructure.generate import generate
    from fem_twin.microstructure.psd import ParticleSizeDistribution as PSD

    design = ElectrodeDesign(composition=Composition.from_ncm_wt(ncm_wt), size_x_um=10, size_y_um=10,
                             thickness_um=8, loading_mg_cm2=8 * 0.2564,
                             ncm_psd=PSD.lognormal(2.5, 4.0, 6.0, d_min=2.0, d_max=7.0),
                             lpscl_psd=PSD.lognormal(2.0, 3.0, 5.0, d_min=1.5, d_max=6.0))
    return generate(design, np.random.default_rng(seed))


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` run only when selected (``-m slow``, the last part of ``run.sh test``),
    not a second time in the plain serial run."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def assert_conservation(rows, rel: float = 1e-8) -> None:
    """Every accepted step of a discharge: interface current = applied current = Li current (to
    ``rel``), and the lithium added to NCM = I dt / F."""
    from fem_twin.parameters.cell import FARADAY

    for r in rows:
        i = r["current_A"]
        assert abs(r["interface_current_A"] - i) <= rel * abs(i)
        assert abs(r["li_current_A"] - i) <= rel * abs(i)
    for a, b in zip(rows[:-1], rows[1:]):
        if b["dt_s"] > 0:
            assert b["li_in_ncm_mol"] - a["li_in_ncm_mol"] == pytest.approx(b["current_A"] * b["dt_s"] / FARADAY,
                                                                            rel=rel)


def nonsymmetric_p1_system(comm, n: int = 22):
    """(A, b, owned rows, V) of one non-symmetric P1 system on the unit cube with n^3 cells:
    -div(k grad u) + (3, 1, 0.5).grad u + 1e-3 u = sin(5 y), k = 1 + 100 sin^2(7 x) (12,167 unknowns
    at n = 22). Used by the direct-solve reproducibility test and benchmark. Keep V while A and b are
    in use (it holds the mesh, whose communicator they share); the caller destroys A and b."""
    from fem_twin._dolfinx import PETSc, dolfinx  # first: the pip wheel loads its MPI here

    import ufl
    from dolfinx.fem.petsc import assemble_matrix, assemble_vector

    msh = dolfinx.mesh.create_unit_cube(comm, n, n, n)
    V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    u, v, x = ufl.TrialFunction(V), ufl.TestFunction(V), ufl.SpatialCoordinate(msh)
    k = 1 + 100 * ufl.sin(7 * x[0]) ** 2
    a = (k * ufl.inner(ufl.grad(u), ufl.grad(v)) + ufl.inner(ufl.as_vector((3.0, 1.0, 0.5)), ufl.grad(u)) * v
         + 1e-3 * u * v) * ufl.dx
    A = assemble_matrix(dolfinx.fem.form(a))
    A.assemble()
    b = assemble_vector(dolfinx.fem.form(ufl.sin(5 * x[1]) * v * ufl.dx))
    b.ghostUpdate(PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
    return A, b, V.dofmap.index_map.size_local, V
