"""Effective conductivity: exact answers, non-percolating structures, PoreSpy, CLI and study, for
both discretisations (fv: voxel finite volumes, the default; p1: P1 on Kuhn tetrahedra).

Tests marked ``mpi`` also run under ``mpirun -n 2 python -m pytest -m mpi``: they are collective
and rank-safe (files in a directory chosen on rank 0).
"""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import small_generated

from fem_twin import phases
from fem_twin._dolfinx import MPI
from fem_twin.errors import InputError
from fem_twin.fem import solvers
from fem_twin.fem.conductivity import active_mask, effective_conductivity, solve_ohm
from fem_twin.fem.conductivity_fv import assemble_direct, assemble_form, current_density_fv, solve_ohm_fv
from fem_twin.meshing.voxel_hex import voxel_hex_mesh
from fem_twin.meshing.voxel_mesh import build_tagged_mesh, voxel_tet_mesh
from fem_twin.parameters import park2020

H = 0.5
NCM, LPS, PORE = phases.NCM, phases.LPSCL, phases.PORE
EXACT = 1e-10
METHODS = ("fv", "p1")


def columns_image():
    """NCM columns of different cross-sections through an LPSCl/pore matrix (z is the axis)."""
    lab = np.full((8, 7, 6), LPS, np.uint8)
    lab[:, :, :][np.random.default_rng(2).random((8, 7)) < 0.2] = PORE
    lab[0:2, 0:3, :] = NCM  # 2 x 3 column
    lab[4, 4, :] = NCM  # 1 x 1 column
    lab[6:8, 5:7, :] = NCM  # 2 x 2 column, touches the x and y sides
    return lab


# -- exact answers -------------------------------------------------------------------------------
@pytest.mark.mpi
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("solver", ["gamg", "mumps"])
@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_homogeneous_block(method, solver, axis):
    lab = np.full((5, 4, 6), NCM, np.uint8)
    r = effective_conductivity(lab, H, "ncm", axis, sigma_S_per_m=3.0, solver=solver, rtol=1e-12, method=method)
    assert r.method == method and r.connectivity == (6 if method == "fv" else 26)
    assert r.num_dofs == (lab.size if method == "fv" else 6 * 5 * 7)
    assert r.percolates and r.volume_fraction == 1.0 and r.active_volume_fraction == 1.0
    assert r.sigma_eff_S_per_m == pytest.approx(3.0, rel=EXACT)
    assert r.tortuosity_factor == pytest.approx(1.0, rel=EXACT)
    # I = sigma_eff A dV / L, in A (um -> m)
    n = {"x": 0, "y": 1, "z": 2}[axis]
    dims = np.array(lab.shape) * H * 1e-6
    assert r.current_A == pytest.approx(3.0 * np.prod(dims) / dims[n] ** 2, rel=EXACT)


@pytest.mark.mpi
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("solver", ["gamg", "mumps"])
def test_straight_columns(method, solver):
    lab = columns_image()
    r = effective_conductivity(lab, H, "ncm", "z", sigma_S_per_m=1.0, solver=solver, rtol=1e-12, method=method)
    eps = np.count_nonzero(lab == NCM) / lab.size
    assert r.volume_fraction == eps and r.active_volume_fraction == eps
    assert r.sigma_eff_S_per_m == pytest.approx(eps, rel=EXACT)
    assert r.tortuosity_factor == pytest.approx(1.0, rel=EXACT)


@pytest.mark.mpi
@pytest.mark.parametrize("solver", ["gamg", "mumps"])
def test_layers_in_series_and_in_parallel(solver):
    """Heterogeneous conductor: layers across the current give the harmonic mean, layers along it
    the arithmetic mean (solve_ohm with one sigma per cell on the full block)."""
    nz = 8
    k_layer = np.array([1, 1, 1, 3, 3, 3, 3, 3], dtype=float)  # sigma of voxel layer k (relative)
    k_layer[5] = 0.25
    keep = np.ones((4, 3, nz), bool)
    msh, vox = voxel_tet_mesh(keep, H)
    k_of_cell = vox // (4 * 3)
    L = nz * H
    series = solve_ohm(msh, 2, 0.0, L, 4 * 3 * H * H, solver, rtol=1e-12, cell_sigma=k_layer[k_of_cell])
    assert series.relative == pytest.approx(nz / np.sum(1.0 / k_layer), rel=EXACT)
    parallel = solve_ohm(msh, 0, 0.0, 4 * H, 3 * nz * H * H, solver, rtol=1e-12, cell_sigma=k_layer[k_of_cell])
    assert parallel.relative == pytest.approx(np.mean(k_layer), rel=EXACT)


@pytest.mark.mpi
@pytest.mark.parametrize("solver", ["gamg", "mumps"])
def test_fv_layers_in_series_and_in_parallel(solver):
    """fv with one sigma per voxel (harmonic mean across faces): layers across the current give the
    harmonic mean, layers along it the arithmetic mean, exactly."""
    nz = 8
    k_layer = np.array([1, 1, 1, 3, 3, 3, 3, 3], dtype=float)
    k_layer[5] = 0.25
    shape = (4, 3, nz)
    msh, vox = voxel_hex_mesh(np.ones(shape, bool), H)
    s = k_layer[vox // (4 * 3)]
    series = solve_ohm_fv(msh, vox, shape, 2, H, solver, rtol=1e-12, cell_sigma=s)
    assert series.relative == pytest.approx(nz / np.sum(1.0 / k_layer), rel=EXACT)
    assert series.current_hi_unit == pytest.approx(series.current_unit, rel=EXACT)
    parallel = solve_ohm_fv(msh, vox, shape, 0, H, solver, rtol=1e-12, cell_sigma=s)
    assert parallel.relative == pytest.approx(np.mean(k_layer), rel=EXACT)


# -- clusters and percolation --------------------------------------------------------------------
@pytest.mark.mpi
@pytest.mark.parametrize("method", METHODS)
def test_floating_cluster_is_removed_without_solver_error(method):
    lab = columns_image()
    lab[3, 1:3, 2:4] = NCM  # floating NCM block: touches neither plane, not the columns
    eps_active = np.count_nonzero(columns_image() == NCM) / lab.size
    for solver in ("mumps", "gamg"):  # MUMPS gives NaN on the singular matrix if it were kept
        r = effective_conductivity(lab, H, "ncm", "z", sigma_S_per_m=1.0, solver=solver, rtol=1e-12,
                                   method=method)
        assert r.percolates
        assert r.volume_fraction == pytest.approx(eps_active + 4 / lab.size)
        assert r.active_volume_fraction == pytest.approx(eps_active)
        assert r.sigma_eff_S_per_m == pytest.approx(eps_active, rel=EXACT)
        assert "active" in r.message


@pytest.mark.mpi
@pytest.mark.parametrize("method", METHODS)
def test_no_path_gives_zero_and_clear_message(method):
    lab = columns_image()
    lab[:, :, 3] = LPS  # a full electrolyte layer cuts every NCM column
    r = effective_conductivity(lab, H, "ncm", "z", method=method)
    assert not r.percolates and r.sigma_eff_S_per_m == 0.0 and r.active_volume_fraction == 0.0
    assert r.tortuosity_factor is None and r.ksp_iterations == 0
    assert "does not percolate" in r.message
    # along x the remaining column pieces still do not connect the x faces
    assert effective_conductivity(lab, H, "ncm", "x", method=method).percolates is False


@pytest.mark.mpi
def test_edge_contact_conducts_with_26_connectivity_only():
    """Two half columns meeting along an edge: the analysis (26) and the P1 mesh both call the
    path connected; with connectivity=6 (edge contacts cut, as in 6-connected voxel solvers) and
    with fv (face neighbours only) it is not."""
    lab = np.full((4, 4, 6), LPS, np.uint8)
    lab[1, 1, :3] = NCM
    lab[2, 2, 3:] = NCM
    r26 = effective_conductivity(lab, H, "ncm", "z", sigma_S_per_m=1.0, method="p1")
    assert r26.percolates and 0 < r26.sigma_eff_S_per_m < 1 / 16
    r6 = effective_conductivity(lab, H, "ncm", "z", sigma_S_per_m=1.0, connectivity=6, method="p1")
    assert not r6.percolates and r6.sigma_eff_S_per_m == 0.0
    fv = effective_conductivity(lab, H, "ncm", "z", sigma_S_per_m=1.0, method="fv")
    assert not fv.percolates and fv.sigma_eff_S_per_m == 0.0 and fv.connectivity == 6


@pytest.mark.mpi
def test_submesh_of_tagged_mesh_equals_image_mesh_and_ranks_agree():
    """create_submesh of the tagged mesh (with a separator) and the directly meshed phase give the
    same sigma_eff; the result on COMM_WORLD equals a serial solve on every rank."""
    img = small_generated(seed=4)
    tm = build_tagged_mesh(img.labels, H, 1.5)
    for phase in ("ncm", "lpscl"):
        a = effective_conductivity(img.labels, H, phase, "z", solver="gamg", rtol=1e-12, method="p1")
        b = effective_conductivity(img.labels, H, phase, "z", solver="gamg", rtol=1e-12, tagged_mesh=tm,
                                   method="p1")
        c = effective_conductivity(img.labels, H, phase, "z", solver="mumps", comm=MPI.COMM_SELF, method="p1")
        assert a.percolates and a.num_dofs == b.num_dofs == c.num_dofs
        assert b.sigma_eff_S_per_m == pytest.approx(a.sigma_eff_S_per_m, rel=1e-9)
        assert c.sigma_eff_S_per_m == pytest.approx(a.sigma_eff_S_per_m, rel=1e-9)
        assert a.sigma_intrinsic_S_per_m == pytest.approx(
            park2020.intrinsic_sigma_S_per_m(phase, np.count_nonzero(img.labels == NCM) / img.labels.size))
        assert a.tortuosity_factor == pytest.approx(a.volume_fraction * a.sigma_intrinsic_S_per_m
                                                    / a.sigma_eff_S_per_m)


# -- fv: the scheme itself -----------------------------------------------------------------------
@pytest.mark.mpi
def test_voxel_hex_mesh_cells_volume_and_faces():
    """One hexahedron per kept voxel at the voxel's place; interior facets = 6-neighbour pairs."""
    from fem_twin._dolfinx import dolfinx

    keep = np.random.default_rng(0).random((7, 6, 9)) < 0.7
    msh, vox = voxel_hex_mesh(keep, H)
    comm = msh.comm
    assert msh.topology.index_map(3).size_global == keep.sum()
    mid = dolfinx.mesh.compute_midpoints(msh, 3, np.arange(vox.size, dtype=np.int32))
    ijk = np.column_stack([vox % 7, (vox // 7) % 6, vox // 42])
    assert np.allclose(mid, (ijk + 0.5) * H)
    assert keep.transpose(2, 1, 0).ravel()[vox].all()
    msh.topology.create_entities(2)
    msh.topology.create_connectivity(2, 3)
    f2c = msh.topology.connectivity(2, 3)
    n_own = msh.topology.index_map(2).size_local
    interior = comm.allreduce(int(np.count_nonzero(np.diff(f2c.offsets[: n_own + 1]) == 2)), op=MPI.SUM)
    pairs = sum(int(np.count_nonzero(np.take(keep, range(1, n), a) & np.take(keep, range(n - 1), a)))
                for a, n in enumerate(keep.shape))
    assert interior == pairs


@pytest.mark.mpi
def test_fv_conservation_form_assembly_and_ranks_agree():
    """On a generated structure: the lo and hi plane currents agree (discrete conservation), the
    volume integral of the reconstructed current density along z is I L, the UFL form assembled by
    DOLFINx gives the same matrix and solution as the direct assembly, and COMM_WORLD (1 or 2
    ranks) gives the serial result."""
    from fem_twin._dolfinx import PETSc
    from fem_twin.fem.conductivity_fv import VoxelAdjacency

    lab = small_generated(seed=4).labels
    for label in (NCM, LPS):
        active = active_mask(lab, label, 2, connectivity=6)
        msh, vox = voxel_hex_mesh(active, H)
        sol = solve_ohm_fv(msh, vox, active.shape, 2, H, rtol=1e-12)
        assert sol.relative > 0.05
        assert sol.current_hi_unit == pytest.approx(sol.current_unit, rel=1e-9)
        j = current_density_fv(sol, 1.0)  # A/m^2 for sigma = 1 S/m
        n_own = msh.topology.index_map(3).size_local
        jz = j.x.array.reshape(-1, 3)[j.function_space.dofmap.list[:n_own, 0], 2]
        integral = msh.comm.allreduce(float(jz.sum()) * (H * 1e-6) ** 3, op=MPI.SUM)  # A m
        assert integral == pytest.approx(sol.current_unit * 1e-6 * lab.shape[2] * H * 1e-6, rel=1e-9)
        form = solve_ohm_fv(msh, vox, active.shape, 2, H, rtol=1e-12, assembly="form")
        assert form.relative == pytest.approx(sol.relative, rel=1e-10)
        assert np.allclose(form.phi.x.array, sol.phi.x.array, rtol=0, atol=1e-10)
        V = sol.phi.function_space
        adj = VoxelAdjacency(vox, active.shape, n_own)
        s = np.ones(vox.size)
        (Ad, bd), (Af, bf) = assemble_direct(V, adj, 2, H, s, 1.0), assemble_form(V, 2, lab.shape[2] * H, H, s, 1.0)
        Af.axpy(-1.0, Ad, structure=PETSc.Mat.Structure.DIFFERENT_NONZERO_PATTERN)
        bf.axpy(-1.0, bd)
        assert Af.norm() < 1e-12 * Ad.norm() and bf.norm() < 1e-12 * bd.norm()
        for m in (Ad, bd, Af, bf):
            m.destroy()
        serial_mesh = voxel_hex_mesh(active, H, MPI.COMM_SELF)
        serial = solve_ohm_fv(*serial_mesh, active.shape, 2, H, solver="mumps")
        assert serial.relative == pytest.approx(sol.relative, rel=1e-9)
        # PoreSpy's plane convention: conservative too, and rank-independent
        centres = solve_ohm_fv(msh, vox, active.shape, 2, H, rtol=1e-12, planes="centres")
        assert centres.current_hi_unit == pytest.approx(centres.current_unit, rel=1e-9)
        serial = solve_ohm_fv(*serial_mesh, active.shape, 2, H, solver="mumps", planes="centres")
        assert serial.relative == pytest.approx(centres.relative, rel=1e-9)


# -- against PoreSpy -----------------------------------------------------------------------------
def _porespy():
    pytest.importorskip("openpnm", reason="PoreSpy's tortuosity_fd needs openpnm and pyamg")
    pytest.importorskip("pyamg")
    import porespy

    return porespy


def porespy_relative(mask, axis=2, tol=None):
    """sigma_eff / sigma from PoreSpy: tortuosity_fd returns tau = eps_eff / D_eff and the formation
    factor F = 1 / D_eff (D_eff normalised by the full cross-section), so sigma_eff / sigma = 1/F.
    ``tol``: pyamg residual tolerance (None: PoreSpy's default flux-balance loop, ftol 1e-3)."""
    res = _porespy().simulations.tortuosity_fd(mask, axis=axis, tol=tol)
    return 1.0 / res.formation_factor, res


def generated_32_layers(seed=1):
    """A 40 x 40 x 32 voxel structure (20 x 20 x 16 um) from the project's generator, with the
    particle sizes of conftest.small_generated."""
    from fem_twin.design import Composition, ElectrodeDesign
    from fem_twin.microstructure.generate import generate
    from fem_twin.microstructure.psd import ParticleSizeDistribution as PSD

    design = ElectrodeDesign(composition=Composition.from_ncm_wt(70.0), size_x_um=20, size_y_um=20,
                             thickness_um=16, loading_mg_cm2=16 * 0.2564,
                             ncm_psd=PSD.lognormal(2.5, 4.0, 6.0, d_min=2.0, d_max=7.0),
                             lpscl_psd=PSD.lognormal(2.0, 3.0, 5.0, d_min=1.5, d_max=6.0))
    return generate(design, np.random.default_rng(seed))


@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="PoreSpy runs serially")
def test_fv_agrees_with_porespy_on_3d_generated_structure():
    """fv against PoreSpy's tortuosity_fd on a generated 3-D structure, both phases:

    - with PoreSpy's plane convention (potentials on the first/last layer centres, length L - h)
      the two are the same discretisation: equal to the solver tolerance, same active set;
    - with the default convention (potentials on the faces, length L) they differ only through
      the two end layers, O(h / L): within 2 % here (measured 0.4-1.8 % over 5 seeds at 32 layers,
      0.6-3.1 % over 6 seeds of the 16-layer small_generated, 0.5-0.6 % at the seed's size)."""
    _porespy()
    lab = generated_32_layers(seed=1).labels
    for phase, label in (("ncm", NCM), ("lpscl", LPS)):
        ref, res = porespy_relative(lab == label, tol=1e-10)
        faces = effective_conductivity(lab, H, phase, "z", sigma_S_per_m=1.0, rtol=1e-10)
        centres = effective_conductivity(lab, H, phase, "z", sigma_S_per_m=1.0, rtol=1e-12, fv_planes="centres")
        assert faces.method == "fv" and faces.percolates
        assert faces.active_volume_fraction == pytest.approx(res.effective_porosity, abs=1e-12)
        assert centres.relative_conductivity == pytest.approx(ref, rel=1e-7)
        assert faces.relative_conductivity == pytest.approx(ref, rel=0.02)
        assert faces.tortuosity_factor * faces.active_volume_fraction / faces.volume_fraction == pytest.approx(
            res.tortuosity, rel=0.02)


@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="PoreSpy runs serially")
def test_porespy_agrees_on_extruded_generated_structure():
    """A cross-section of a generated electrode extruded along z, plus floating clusters that
    touch no plane: 6- and 26-spanning sets coincide (every spanning voxel lies on a straight
    column), every discretisation is exact (sigma_eff = eps_active sigma) and must agree."""
    from fem_twin.analysis.connectivity import spanning

    _porespy()
    img = small_generated(seed=5)
    lab = np.full((26, 20, 12), PORE, np.uint8)
    lab[:20] = img.labels[:, :, 8][:, :, None]  # straight columns of every phase
    lab[22:24, 2:5, 3:6] = NCM  # floating NCM block, 2 pore voxels away from everything
    lab[22:24, 15:18, 0:4] = NCM  # NCM block touching the bottom plane only
    lab[22:24, 9:12, 4:8] = LPS  # floating LPSCl block
    for label in (NCM, LPS):
        m = lab == label
        assert np.array_equal(spanning(m, 2, 6, (False,) * 3), spanning(m, 2, 26, (False,) * 3))
    for phase, label in (("ncm", NCM), ("lpscl", LPS)):
        mask = lab == label
        ref, res = porespy_relative(mask)
        ours = effective_conductivity(lab, H, phase, "z", sigma_S_per_m=1.0, rtol=1e-12, method="p1")
        ours6 = effective_conductivity(lab, H, phase, "z", sigma_S_per_m=1.0, rtol=1e-12, connectivity=6,
                                       method="p1")
        fv = effective_conductivity(lab, H, phase, "z", sigma_S_per_m=1.0, rtol=1e-12, method="fv")
        assert ours.active_volume_fraction == pytest.approx(res.effective_porosity, abs=1e-12)
        assert fv.active_volume_fraction == pytest.approx(res.effective_porosity, abs=1e-12)
        assert fv.relative_conductivity == pytest.approx(fv.active_volume_fraction, rel=EXACT)
        for r in (ours, ours6, fv):
            assert r.relative_conductivity == pytest.approx(ref, rel=0.02)
        assert ours.tortuosity_factor * ours.active_volume_fraction / ours.volume_fraction == pytest.approx(
            res.tortuosity, rel=0.02)


@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="PoreSpy runs serially")
def test_p1_difference_to_porespy_on_3d_generated_structure_shrinks_with_resolution():
    """On a tortuous 3-D structure P1 on the Kuhn mesh and cell-centred finite differences differ
    (corner nodes vs voxel centres, 26- vs 6-connectivity): measured, not hidden. Both converge to
    the same continuum value as the image is refined (each voxel split into 2^3), from opposite
    sides: P1 above (a conforming energy bound), FD below."""
    _porespy()
    img = small_generated(seed=6)
    base = img.labels[:12, :12, :]
    diffs = {}
    for f in (1, 2):
        lab = base.repeat(f, 0).repeat(f, 1).repeat(f, 2)
        for phase, label in (("ncm", NCM), ("lpscl", LPS)):
            ref, _ = porespy_relative(lab == label)
            ours = effective_conductivity(lab, H / f, phase, "z", sigma_S_per_m=1.0, rtol=1e-10, method="p1")
            assert ours.relative_conductivity > ref > 0
            diffs[phase, f] = ours.relative_conductivity / ref - 1
    for phase in ("ncm", "lpscl"):
        assert diffs[phase, 2] < 0.8 * diffs[phase, 1], diffs


# -- pieces --------------------------------------------------------------------------------------
def test_park2020_values():
    assert park2020.SIGMA_NCM_S_PER_M == pytest.approx(8.5e-4 * 100)
    assert park2020.sigma_lpscl_S_per_m(0.45) == pytest.approx((-4.45e-3 * 0.45 + 4.64e-3) * 100)
    assert park2020.intrinsic_sigma_S_per_m("ncm", 0.3) == park2020.SIGMA_NCM_S_PER_M
    with pytest.raises(ValueError):
        park2020.sigma_lpscl_S_per_m(1.5)


@pytest.mark.mpi
def test_drop_stored_zeros_keeps_operator_entries():
    import ufl

    from fem_twin._dolfinx import dolfinx

    msh, _ = voxel_tet_mesh(np.ones((4, 4, 4), bool), H)
    V = dolfinx.fem.functionspace(msh, ("Lagrange", 1))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    A = dolfinx.fem.petsc.assemble_matrix(dolfinx.fem.form(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx))
    A.assemble()
    P = solvers.drop_stored_zeros(A)
    nnz_a, nnz_p = A.getInfo()["nz_used"], P.getInfo()["nz_used"]
    assert nnz_p < 0.7 * nnz_a
    x = A.createVecRight()
    x.setRandom()
    ya, yp = A.createVecLeft(), P.createVecLeft()
    A.mult(x, ya)
    P.mult(x, yp)
    assert (ya - yp).norm() < 1e-12 * ya.norm()


def test_bad_input():
    lab = np.full((3, 3, 3), NCM, np.uint8)
    with pytest.raises(InputError, match="--phase"):
        effective_conductivity(lab, H, "nbr")
    with pytest.raises(InputError, match="--axis"):
        effective_conductivity(lab, H, "ncm", "w")
    with pytest.raises(InputError, match="--solver"):
        effective_conductivity(lab, H, "ncm", solver="hypre")
    with pytest.raises(InputError, match="--sigma"):
        effective_conductivity(lab, H, "ncm", sigma_S_per_m=-1.0)
    with pytest.raises(InputError, match="--method"):
        effective_conductivity(lab, H, "ncm", method="fem")
    with pytest.raises(InputError, match="--connectivity"):
        effective_conductivity(lab, H, "ncm", method="fv", connectivity=26)
    tm = build_tagged_mesh(lab, H, comm=MPI.COMM_SELF)
    with pytest.raises(InputError, match="--from-mesh"):
        effective_conductivity(lab, H, "ncm", method="fv", tagged_mesh=tm, comm=MPI.COMM_SELF)
    with pytest.raises(InputError, match="planes"):
        effective_conductivity(lab, H, "ncm", fv_planes="edges", comm=MPI.COMM_SELF)


def test_cli_and_library_default_method_agree():
    from fem_twin.commands import conductivity as cmd
    from fem_twin.fem import conductivity as lib

    assert cmd.DEFAULT_METHOD == lib.DEFAULT_METHOD == "fv"


# -- command line ----------------------------------------------------------------------------------
@pytest.mark.mpi
def test_cli_conductivity(shared_dir):
    from fem_twin.cli import main

    comm = MPI.COMM_WORLD
    img = small_generated(seed=7)
    if comm.rank == 0:
        img.save(shared_dir)
    comm.Barrier()
    assert main(["conductivity", str(shared_dir), "--phase", "ncm"]) == 0
    assert main(["conductivity", str(shared_dir), "--phase", "lpscl", "--axis", "x", "--sigma", "0.2",
                 "--solver", "mumps", "--no-fields"]) == 0
    comm.Barrier()
    data = json.loads((shared_dir / "conductivity_ncm.json").read_text())
    for key in ("sigma_intrinsic_S_per_m", "sigma_eff_S_per_m", "volume_fraction", "active_volume_fraction",
                "tortuosity_factor", "percolates", "ksp_iterations", "wall_time_s"):
        assert key in data
    assert data["percolates"] and data["sigma_intrinsic_S_per_m"] == pytest.approx(0.085)
    assert data["method"] == "fv" and data["connectivity"] == 6
    assert (shared_dir / "conductivity_ncm.xdmf").exists() and (shared_dir / "conductivity_ncm.h5").exists()
    xdmf = (shared_dir / "conductivity_ncm.xdmf").read_text()  # DG0 potential and current on hexahedra
    assert 'TopologyType="Hexahedron"' in xdmf and xdmf.count('Center="Cell"') == 2
    # the P1 method on request; fv cannot use the tetrahedral mesh file
    assert main(["conductivity", str(shared_dir), "--phase", "ncm", "--method", "p1", "--no-fields"]) == 0
    comm.Barrier()
    p1 = json.loads((shared_dir / "conductivity_ncm.json").read_text())
    assert p1["method"] == "p1" and p1["connectivity"] == 26
    assert p1["sigma_eff_S_per_m"] > data["sigma_eff_S_per_m"] > 0
    assert main(["conductivity", str(shared_dir), "--phase", "ncm", "--from-mesh"]) == 2
    assert main(["conductivity", str(shared_dir), "--phase", "ncm", "--method", "fd"]) == 2
    data_x = json.loads((shared_dir / "conductivity_lpscl_x.json").read_text())
    assert data_x["axis"] == "x" and data_x["sigma_intrinsic_S_per_m"] == 0.2
    assert not (shared_dir / "conductivity_lpscl_x.xdmf").exists()
    # a phase without a path: exit 0, JSON says so
    lab = img.labels.copy()
    lab[:, :, 5] = PORE
    if comm.rank == 0:
        from fem_twin.microstructure.image import VoxelImage

        VoxelImage(lab, H).save(shared_dir / "cut")
    comm.Barrier()
    assert main(["conductivity", str(shared_dir / "cut"), "--phase", "ncm"]) == 0
    comm.Barrier()
    cut = json.loads((shared_dir / "cut" / "conductivity_ncm.json").read_text())
    assert cut["percolates"] is False and cut["sigma_eff_S_per_m"] == 0 and cut["tortuosity_factor"] is None
    # errors: one line, exit 2
    assert main(["conductivity", str(shared_dir), "--phase", "nbr"]) == 2
    assert main(["conductivity", str(shared_dir), "--phase", "ncm", "--axis", "q"]) == 2
    assert main(["conductivity", str(shared_dir / "missing"), "--phase", "ncm"]) == 2


@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="CLI study run on one rank")
def test_cli_study_conductivity(tmp_path, capsys):
    from fem_twin.cli import main

    args = ["study", "conductivity", "--compositions", "70,90", "--seeds", "1", "--size", "16,16",
            "-o", str(tmp_path)]
    assert main(args) == 0
    rows = list(csv.DictReader(open(tmp_path / "conductivity_study.csv")))
    assert {(r["ncm_wt"], r["phase"]) for r in rows} == {("70.0", "ncm"), ("70.0", "lpscl"),
                                                        ("90.0", "ncm"), ("90.0", "lpscl")}
    for r in rows:
        assert float(r["sigma_eff_S_per_m"]) >= 0 and r["method"] == "fv"
        assert float(r["ssa_per_m"]) > 0 and 0 <= float(r["beta"]) <= 1  # descriptors next to it
        assert r["tau_geo"] == "" or float(r["tau_geo"]) >= 1
    assert "descriptors" in json.loads((tmp_path / "ncm70_seed1" / "analysis.json").read_text())
    assert (tmp_path / "conductivity_study.png").stat().st_size > 10_000
    assert (tmp_path / "conductivity_summary.csv").exists()
    assert (tmp_path / "ncm70_seed1" / "structure.npz").exists()
    capsys.readouterr()
    assert main(args) == 0  # second run reuses structures and results
    out = capsys.readouterr().out
    assert out.count("[reused]") == 4
    assert main(args[:-2] + ["--method", "p1", "--compositions", "90", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("[reused]") == 0 and out.count("(p1)") == 2  # other method: solved again
    assert main(["study", "conductivity", "--seeds", "x", "-o", str(tmp_path)]) == 2
