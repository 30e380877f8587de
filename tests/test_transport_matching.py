"""Conductance matching (fem_twin/fem/transport_matching.py): factors, their placement, a discharge with them.

Rank-independent tests are marked ``mpi`` (also run under ``mpirun -n 2 python -m pytest -m mpi``).
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_conservation, small_generated

from fem_twin import phases
from fem_twin._dolfinx import MPI
from fem_twin.errors import InputError
from fem_twin.fem.conductivity import phase_label, solve_ohm
from fem_twin.fem.domains import build_domains, prune_dead_clusters
from fem_twin.fem.transport_matching import _phase_meshes, check_transport, match_conductances
from fem_twin.meshing.meshers import get_mesher


def laminate() -> np.ndarray:
    """6 x 6 x 8 voxels: NCM and LPSCl slabs stacked along y (planes x-z), a pore slab: every phase
    spans x and z straight, none spans y."""
    lab = np.empty((6, 6, 8), np.uint8)
    lab[:, 0:2] = phases.NCM
    lab[:, 2:3] = phases.PORE
    lab[:, 3:6] = phases.LPSCL
    return lab


@pytest.mark.mpi
@pytest.mark.parametrize("mesher", ["voxel", "smooth"])
def test_straight_slabs_need_no_correction(mesher):
    # P1 and finite volumes are both exact on straight slabs (sigma_eff/sigma = eps): the factors
    # must be 1 where the phase spans (x, z) and the z factor (1) where it does not (y), with a note
    comm = MPI.COMM_WORLD
    lab = laminate()
    tm = get_mesher(mesher)(lab, 1.0, 2.0, comm)
    m = match_conductances(lab, 1.0, tm, comm)
    for pm, eps in ((m.ncm, 2 / 6), (m.lpscl, 3 / 6)):
        assert pm.p1[0] == pytest.approx(eps, rel=1e-8) and pm.p1[2] == pytest.approx(eps, rel=1e-8)
        assert pm.fv[0] == pytest.approx(eps, rel=1e-8) and pm.fv[1] == 0.0
        assert pm.fv_1x[2] == pytest.approx(eps, rel=1e-8) and pm.fv_2x[2] == pytest.approx(eps, rel=1e-8)
        assert pm.factor == pytest.approx((1.0, 1.0, 1.0), rel=1e-7)
        assert "not matched along y" in pm.note


def blobs(seed: int = 3) -> np.ndarray:
    """12 x 12 x 10 voxels of smoothed noise cut into NCM / LPSCl / pore: tortuous phases with
    one-voxel necks and edge-only contacts, like the generated structures (P1 overestimates)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    a = gaussian_filter(rng.standard_normal((12, 12, 10)), 1.2, mode="wrap")
    q = np.quantile(a, [0.4, 0.85])
    lab = np.full(a.shape, phases.LPSCL, np.uint8)
    lab[a < q[0]] = phases.NCM
    lab[a > q[1]] = phases.PORE
    return lab


@pytest.mark.mpi
@pytest.mark.parametrize("mesher", ["voxel", "smooth"])
def test_matched_tensor_carries_the_finite_volume_conductance(mesher):
    comm = MPI.COMM_WORLD
    lab, _ = prune_dead_clusters(blobs(), 1.0)
    tm = get_mesher(mesher)(lab, 1.0, 3.0, comm)
    m = match_conductances(lab, 1.0, tm, comm)
    for pm in (m.ncm, m.lpscl):
        meshes = _phase_meshes(lab, 1.0, phase_label(pm.phase), tm)
        for ax in range(3):
            if pm.fv[ax] == 0.0:
                continue
            # P1 overestimates on this image, so every factor is below 1 ...
            assert pm.p1[ax] > 1.02 * pm.fv[ax]
            assert 0.2 < pm.factor[ax] < 1.0
            # ... and an independent solve with the tensor diag(factor) has the fv conductance
            msh, lo, hi, area = meshes[ax]
            got = solve_ohm(msh, ax, lo, hi, area, tensor_diag=pm.factor).relative
            assert got == pytest.approx(pm.fv[ax], rel=1e-3), (pm.phase, ax)
        assert pm.iterations <= 4


def test_tensor_split_sums_to_the_conductance():
    # relative = sum_b f_b split_b exactly (the discrete energy identity the Newton update uses)
    lab, _ = prune_dead_clusters(blobs(5), 1.0)
    tm = get_mesher("voxel")(lab, 1.0, 0.0, MPI.COMM_SELF)
    (msh, lo, hi, area) = _phase_meshes(lab, 1.0, phases.LPSCL, tm)[2]
    f = (0.9, 0.6, 0.7)
    s = solve_ohm(msh, 2, lo, hi, area, tensor_diag=f, split=True)
    assert sum(fb * sb for fb, sb in zip(f, s.split)) == pytest.approx(s.relative, rel=1e-7)
    assert s.split[2] > s.split[0] > 0


@pytest.mark.mpi
def test_discharge_problem_scales_the_composite_not_the_separator():
    # x^T K x of the electrolyte's cached stiffness block for the coordinate fields x, y, z is
    # f_a V_composite-LPSCl + V_separator: the factor's diagonal in the right order, on the
    # composite's LPSCl cells only
    from fem_twin.fem.discharge import DischargeProblem
    from fem_twin.parameters.cell import ParameterSet

    comm = MPI.COMM_WORLD
    lab, _ = prune_dead_clusters(blobs(), 1.0)
    tm = get_mesher("voxel")(lab, 1.0, 3.0, comm)
    d = build_domains(tm)
    f_ely, f_ncm = (0.8, 0.7, 0.6), (0.5, 0.45, 0.4)
    p = ParameterSet()
    problem = DischargeProblem(d, p, 0.4, 1e-9, conductance_factors={"ncm": f_ncm, "lpscl": f_ely})
    try:
        v_comp = comm.allreduce(float(np.count_nonzero(lab == phases.LPSCL)), op=MPI.SUM) / comm.size
        v_sep = 12 * 12 * 3.0
        K = [M for k, _, M in problem.lin_mats if k == 2][0]
        Ve = problem.Ve
        n_own = Ve.dofmap.index_map.size_local
        xyz = Ve.tabulate_dof_coordinates()[:n_own]
        def quadratic(k, values):
            M = [M for kk, _, M in problem.lin_mats if kk == k][-1]  # (the stiffness: after a mass block)
            x, y = M.createVecs()
            x.array[:] = values
            M.mult(x, y)
            return comm.allreduce(float(np.dot(x.array, y.array)), op=MPI.SUM)

        for ax in range(3):
            assert quadratic(2, xyz[:, ax]) == pytest.approx(f_ely[ax] * v_comp + v_sep, rel=1e-9), ax
            if not p.frozen_ce:  # D_e's block, on the same cells
                assert quadratic(3, xyz[:, ax]) == pytest.approx(f_ely[ax] * v_comp + v_sep, rel=1e-9), ax
        assert not p.frozen_ce
        # NCM's sigma_s block (psi_s = 0 on the collector: rows and columns of those dofs are zero,
        # so take z_top - z, which vanishes there): f_z V_NCM
        Vs = problem.Vs
        zs = Vs.tabulate_dof_coordinates()[: Vs.dofmap.index_map.size_local, 2]
        v_ncm = comm.allreduce(float(np.count_nonzero(lab == phases.NCM)), op=MPI.SUM) / comm.size
        assert quadratic(1, d.z_top_um - zs) == pytest.approx(f_ncm[2] * v_ncm, rel=1e-9)
        # D_s is not scaled: its stiffness block gives V_NCM for x
        xs = problem.Vcs.tabulate_dof_coordinates()[: problem.Vcs.dofmap.index_map.size_local, 0]
        assert quadratic(0, xs) == pytest.approx(v_ncm, rel=1e-9)
    finally:
        problem.destroy()


@pytest.mark.mpi
def test_matched_discharge_conserves_and_records(shared_dir):
    from fem_twin.fem.discharge_run import run_discharge
    from fem_twin.protocol import Protocol

    comm = MPI.COMM_WORLD
    img = small_generated(seed=2)
    res = run_discharge(img.labels, img.voxel_size_um, shared_dir, protocol=Protocol.parse("discharge 2C for 400 s"),
                        separator_um=2.0, comm=comm, quiet=True, write_fields=True, transport="fv-matched")
    assert res.complete, res.message
    assert_conservation(res.rows)
    rec = res.summary["transport"]
    assert rec["transport"] == "fv-matched"
    for ph in ("ncm", "lpscl"):
        assert len(rec[ph]["factor"]) == 3 and all(0 < v <= 1.2 for v in rec[ph]["factor"])
    assert (shared_dir / "fields_electrolyte.xdmf").exists()  # (i_e with the matched tensor)
    plain = run_discharge(img.labels, img.voxel_size_um, shared_dir / "p1", protocol=Protocol.parse("discharge 2C for 400 s"),
                          separator_um=2.0, comm=comm, quiet=True, write_fields=False)
    assert plain.summary["transport"]["transport"] == "p1"
    # less conductance, more polarisation: the matched cell's voltage is lower at the same charge
    assert res.rows[-1]["voltage_V"] < plain.rows[-1]["voltage_V"] - 1e-5


def test_plain_factors_change_nothing():
    from fem_twin.fem.checkpoint import input_fingerprint
    from fem_twin.fem.discharge import DischargeProblem
    from fem_twin.fem.stepping import SteppingOptions
    from fem_twin.parameters.cell import ParameterSet
    from fem_twin.protocol import Protocol

    lab, _ = prune_dead_clusters(blobs(), 1.0)
    d = build_domains(get_mesher("voxel")(lab, 1.0, 3.0, MPI.COMM_SELF))
    pb = DischargeProblem(d, ParameterSet(), 0.4, 1e-9, conductance_factors={"ncm": 1.0, "lpscl": (1.0, 1.0, 1.0)})
    try:
        assert pb.conductance_factor is None
    finally:
        pb.destroy()
    args = (lab, 1.0, 3.0, ParameterSet(), Protocol.discharge(1.0, 3.0), SteppingOptions())
    assert input_fingerprint(*args, transport="p1") == input_fingerprint(*args)
    assert input_fingerprint(*args, transport="fv-matched")["mesh"] != input_fingerprint(*args)["mesh"]


def test_corner_contact_only_is_not_matched():
    # two NCM blocks meeting at one corner: P1 conducts through it along z, finite volumes do not;
    # the factor stays 1 and the record says why
    lab = np.full((6, 6, 8), phases.LPSCL, np.uint8)
    lab[1:3, 1:3, 0:4] = phases.NCM
    lab[3:5, 3:5, 4:8] = phases.NCM
    tm = get_mesher("voxel")(lab, 1.0, 0.0, MPI.COMM_SELF)
    m = match_conductances(lab, 1.0, tm, MPI.COMM_SELF)
    assert m.ncm.p1[2] > 0 and m.ncm.fv[2] == 0.0
    assert m.ncm.factor == (1.0, 1.0, 1.0)
    assert "edge or corner contacts only" in m.ncm.note


def test_extrapolation_and_upsampling():
    from fem_twin.fem.transport_matching import FV_ORDER, extrapolated, upsampled

    g = lambda h: 0.026 - 0.004 * h ** FV_ORDER  # noqa: E731  (an error of the assumed order)
    assert extrapolated(g(1.0), g(0.5)) == pytest.approx(0.026, rel=1e-12)
    lab = blobs()
    up = upsampled(lab)
    assert up.shape == (24, 24, 20) and np.array_equal(up[::2, ::2, ::2], lab) and np.array_equal(up[1::2, 1::2, 1::2], lab)


def test_bad_transport_names_the_option():
    with pytest.raises(InputError, match="--transport"):
        check_transport("fv")


def _tet_and_sliver():
    """Two tetrahedra on one rank: a regular-ish one (NCM) and, on its face z = 0, a sliver (LPSCl)
    whose fourth vertex lies 1e-3 below that face's centre (dihedral angles ~0.1 deg)."""
    import basix.ufl
    import ufl

    from fem_twin._dolfinx import dolfinx

    x = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.3, 0.3, 1.0], [1 / 3, 1 / 3, -1e-3]], float)
    cells = np.array([[0, 1, 2, 3], [0, 1, 2, 4]], np.int64)
    domain = ufl.Mesh(basix.ufl.element("Lagrange", "tetrahedron", 1, shape=(3,)))
    comm = MPI.COMM_SELF
    msh = dolfinx.mesh.create_mesh(comm, cells, domain, x)
    orig = np.asarray(msh.topology.original_cell_index)
    return msh, np.array([phases.NCM, phases.LPSCL], np.int32)[orig]


def test_slivers_carry_no_conduction_in_the_factor_field():
    """``sliver_cells`` finds the flat cell and only it; the factor field keeps each phase's matched
    diagonal on sound cells and SLIVER_FACTOR times it on the sliver; without the angle it is the
    plain diagonal everywhere."""
    from fem_twin.fem.transport_matching import SLIVER_FACTOR, conductance_factor_field, sliver_cells

    msh, lab = _tet_and_sliver()
    flat = sliver_cells(msh, 1.0)
    assert flat.tolist() == (lab == phases.LPSCL).tolist()
    assert not sliver_cells(msh, 0.0).any()
    factors = {"ncm": (0.5, 0.6, 0.7), "lpscl": (0.8, 0.9, 1.1)}
    ff, gf = conductance_factor_field(msh, lab, factors, 1.0), conductance_factor_field(msh, lab, factors, 0.0)
    dofs = ff.function_space.dofmap.list[:, 0]  # (cell -> its DG0 dof)
    f, g = ff.x.array.reshape(-1, 3)[dofs], gf.x.array.reshape(-1, 3)[dofs]
    for c in range(2):
        want = np.array(factors["ncm" if lab[c] == phases.NCM else "lpscl"])
        assert np.allclose(g[c], want, rtol=0, atol=1e-15)
        assert np.allclose(f[c], want * (SLIVER_FACTOR if flat[c] else 1.0), rtol=1e-12, atol=0)


def _linear_model(S: np.ndarray, fv: list, split_scale: float = 1.0):
    """A phase whose conductance along a is sum_b S_ab f_b (S constant; ``split_scale`` != 1 gives
    Newton a wrong derivative), as ``match_factors`` sees it; records every tensor tried."""
    from types import SimpleNamespace

    calls = []

    def solve(f):
        return {a: SimpleNamespace(relative=float(S[a] @ np.asarray(f)), split=tuple(split_scale * S[a]))
                for a in range(3)}

    def mismatch(f):
        sols = solve(f)
        worst = max(abs(s.relative / fv[a] - 1.0) for a, s in sols.items())
        calls.append((tuple(f), worst))
        return sols, worst

    return solve, mismatch, calls


def test_match_factors_newton_converges_without_fallback():
    # a coupled but matchable phase: Newton on a linear conductance is exact in one step, and
    # nothing else is tried
    from fem_twin.fem.transport_matching import match_factors

    S = np.array([[0.20, 0.02, 0.03], [0.01, 0.15, 0.04], [0.03, 0.02, 0.25]])
    f_true = np.array([0.7, 0.9, 0.8])
    fv = list(S @ f_true)
    solve, mismatch, calls = _linear_model(S, fv)
    f, its, worst, fallback, history = match_factors(mismatch, fv, [float(S[a].sum()) for a in range(3)],
                                            solve([1.0, 1.0, 1.0]), [True] * 3)
    assert np.allclose(f, f_true, rtol=1e-12) and its == 1 and worst < 1e-12 and fallback == ""
    assert len(calls) == 1 and history == (calls[0][1],)


def test_match_factors_falls_back_to_the_per_axis_ratios():
    # Newton given a derivative 10x too small overshoots by 10x at every step (900 % off, never
    # converging); the axes do not couple, so the per-axis ratios fv / p1 match exactly and are kept
    from fem_twin.fem.transport_matching import MATCH_MAX_ITERATIONS, match_factors

    S = np.diag([0.06, 0.0116, 0.03])
    fv = [0.049, 0.00453, 0.0167]
    solve, mismatch, calls = _linear_model(S, fv, split_scale=0.1)
    p1 = [0.06, 0.0116, 0.03]
    f, its, worst, fallback, history = match_factors(mismatch, fv, p1, solve([1.0, 1.0, 1.0]), [True] * 3)
    assert its == MATCH_MAX_ITERATIONS and len(calls) == MATCH_MAX_ITERATIONS + 1
    assert all(w == pytest.approx(9.0, rel=1e-9) for _, w in calls[:-1])
    assert np.allclose(f, np.array(fv) / np.array(p1), rtol=1e-12) and worst < 1e-12
    assert "per-axis ratios" in fallback and "9.0e+00 off" in fallback
    assert history == tuple(w for _, w in calls)


def test_match_factors_keeps_the_best_tensor_when_none_matches():
    # y spans mostly through detours along x and z (its own factor carries 10 % of its conductance):
    # no positive diagonal tensor brings y down to 39 % of P1 while x and z stay near 81 / 56 %
    # (it would need f_y = -2.6). The result is the least-bad tensor tried, and says so.
    from fem_twin.fem.transport_matching import match_factors

    p1 = np.array([0.06, 0.0116, 0.03])
    S = np.array([[0.90, 0.05, 0.05], [0.45, 0.10, 0.45], [0.05, 0.05, 0.90]]) * p1[:, None]
    fv = list(p1 * np.array([0.81, 0.39, 0.56]))
    assert np.linalg.solve(S, fv)[1] < 0  # (no exact match)
    solve, mismatch, calls = _linear_model(S, fv)
    f, its, worst, fallback, history = match_factors(mismatch, fv, list(p1), solve([1.0, 1.0, 1.0]), [True] * 3)
    assert worst == min(w for _, w in calls) and worst > 0.1
    assert tuple(f) == next(t for t, w in calls if w == worst)
    assert worst <= calls[its - 1][1] and fallback != ""


def test_match_factors_ties_an_unmatched_axis_to_z():
    from fem_twin.fem.transport_matching import _tied

    assert _tied([0.5, 0.0, 0.8], [True, False, True]) == [0.5, 0.8, 0.8]
    assert _tied([0.5, 0.0, 0.0], [True, False, False]) == [0.5, 1.0, 1.0]
