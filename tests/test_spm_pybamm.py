"""One NCM particle against PyBaMM's single-particle model (issue 15), a model we did not write.

Set-up and conventions: :mod:`fem_twin.fem.one_particle` (hemisphere of true radius 2 um on the
collector, ideal conduction, frozen electrolyte, ideal Li contact; PyBaMM's half-cell SPM with
our OCP, exchange current, diffusivity and the TRUE radius; each model at 1C of its own NCM
volume, compared at equal times over the first 90 % of PyBaMM's capacity). Table:
``python benchmarks/spm_pybamm.py``.

What a 10 % error of the interface weights does (measured with the weights scaled by 0.9 / 1.1,
max |dV| overall / after the first 300 s, mV; correct weights in brackets):
R = 6 voxels: 4.18 / 2.95 and 9.57 / 4.84 (7.10 / 2.51); R = 10 voxels: 3.59 / 3.59 and
7.34 / 3.70 (4.90 / 0.97). At R = 6 the mesh's own error (~2.5 mV) hides a 10 % too small area,
so the decisive check is the slow R = 10 test (after 300 s <= 2 mV fails both).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pybamm = pytest.importorskip("pybamm")

from fem_twin._dolfinx import MPI  # noqa: E402
from fem_twin.fem import one_particle as op  # noqa: E402
from fem_twin.fem import reference_spm as spm  # noqa: E402
from fem_twin.parameters.cell import ParameterSet  # noqa: E402

RADIUS_UM = 2.0
TARGET_MV = 5.0  # the target for max |dV| (the smooth mesh's)


def _params():
    return ParameterSet().with_overrides(op.SPM_OVERRIDES)


@pytest.fixture(scope="module")
def reference():
    r = RADIUS_UM * 1e-6
    return op.pybamm_discharge(_params(), r, op.hemisphere_volume_m3(r))


def test_ocp_as_a_pybamm_expression():
    from fem_twin.parameters.ocp import OpenCircuitPotential

    x = np.linspace(0.2, 1.02, 83)
    for ocp in (OpenCircuitPotential(), OpenCircuitPotential("chen2020"),
                OpenCircuitPotential("table", (0.2, 0.6, 1.0), (4.4, 3.8, 3.4))):
        u = np.ravel(ocp.pybamm(pybamm.Vector(x)).evaluate())
        assert np.allclose(u, ocp.numpy(x), rtol=0, atol=1e-12), ocp.kind


def test_pybamm_spm_equals_the_1d_reference_of_the_true_sphere(reference):
    """PyBaMM's SPM and our 1D reference (reference_spm, same true sphere, 1 s steps) agree to
    0.5 mV: the parameter translation (OCP, j0 = k sqrt(c_e c_s (c_max - c_s)), D, R, 1C) is
    right (a j0 off by 2x moves eta by ~10 mV at 1C)."""
    p = _params()
    r = RADIUS_UM * 1e-6
    g = spm.SphereGeometry(op.hemisphere_volume_m3(r), 2 * math.pi * r ** 2, r)
    assert reference.current_A == pytest.approx(p.one_c_current_A(g.volume_m3), rel=1e-12)
    ref1d = spm.discharge(p, g, reference.current_A, 3.0, dt_s=1.0, n_cells=400)
    m = ref1d.time_s <= 0.9 * reference.time_s[-1]
    dv = np.abs(ref1d.voltage_V[m] - np.interp(ref1d.time_s[m], reference.time_s, reference.voltage_V))
    cap = ref1d.charge_C[-1] / (reference.current_A * reference.time_s[-1])
    print(f"\n1D reference vs PyBaMM: max |dV| {1e3 * dv.max():.3f} mV, capacity ratio {cap:.5f}")
    assert dv.max() <= 0.5e-3
    assert cap == pytest.approx(1.0, abs=2e-3)


def _compare(r_vox, tmp_path, reference, interface_area):
    c = op.compare_with_pybamm(r_vox, tmp_path / interface_area, radius_um=RADIUS_UM,
                               interface_area=interface_area, reference=reference, comm=MPI.COMM_SELF)
    return c


def _report(rows):
    print("\n| " + " | ".join(op.TABLE_HEADER) + " | target <= 5 mV |")
    for c in rows:
        print(op.table_row(c) + (" met |" if c.max_dV_mV <= TARGET_MV else " NOT met |"))


def _check_run(c: op.Comparison):
    # interface current = applied current (conservation) and the capacity of the same particle
    assert c.conservation <= 1e-8
    assert c.capacity_ratio == pytest.approx(1.0, abs=0.01)


def test_one_particle_voxel_mesh_against_pybamm(tmp_path, reference):
    """R = 6 voxels (h = 1/3 um): with the smoothed-normal weights max |dV| <= 8 mV (7.10 measured;
    the first step, where the 72 s backward-Euler step alone is 3.2 mV off PyBaMM) and <= 3.5 mV
    after 300 s (2.51; weights 10 % too large: 4.84); without weights (printed, not asserted:
    they miss the target) the staircase's 1.49x area costs ~13 mV."""
    rows = [_compare(6, tmp_path, reference, a) for a in ("mesh", "smoothed-normal")]
    _report(rows)
    plain, weighted = rows
    for c in rows:
        _check_run(c)
    assert weighted.interface_area_rel == pytest.approx(1.0, abs=0.01)
    assert weighted.max_dV_mV <= 8.0
    assert weighted.max_dV_late_mV <= 3.5
    assert weighted.max_dV_late_mV < plain.max_dV_late_mV / 3


@pytest.mark.slow
def test_one_particle_finer_voxel_mesh_against_pybamm(tmp_path, reference):
    """R = 10 voxels (h = 0.2 um): with the weights max |dV| <= 5 mV (the issue's target; 4.90
    measured, of which ~3.2 mV is the first 72 s step's time error) and <= 2 mV after 300 s
    (0.97 measured; weights x0.9 / x1.1: 3.59 / 3.70 mV, both caught)."""
    rows = [_compare(10, tmp_path, reference, a) for a in ("mesh", "smoothed-normal")]
    _report(rows)
    plain, weighted = rows
    for c in rows:
        _check_run(c)
    assert weighted.max_dV_mV <= TARGET_MV
    assert weighted.max_dV_late_mV <= 2.0
    assert weighted.max_dV_late_mV < plain.max_dV_late_mV / 5


def test_one_particle_smooth_mesh_against_pybamm(tmp_path, reference):
    """The smooth mesh (no area weights: its interface is the smoothed surface), R = 6 and 10
    voxels: the issue's target max |dV| <= 5 mV is met at R = 10 (4.68 measured, most of it the
    first 72 s step's time error, 3.2 mV); after 300 s the curves agree to 0.80 / 0.39 mV
    (asserted <= 1.5 / 1.0: the staircase's 1.49x area costs ~13 mV there, the voxel-weighted mesh
    2.51 / 0.97 mV). Interface area within 3 % of 2 pi R^2 (1.022 / 1.016 measured)."""
    from fem_twin.meshing.smooth_mesh import build_smooth_mesh

    rows = [op.compare_with_pybamm(r, tmp_path / f"smooth{r}", radius_um=RADIUS_UM, mesher=build_smooth_mesh,
                                   reference=reference, comm=MPI.COMM_SELF) for r in (6, 10)]
    _report(rows)
    for c in rows:
        _check_run(c)
        assert c.interface_area_rel == pytest.approx(1.0, abs=0.03)
    r6, r10 = rows
    assert r6.max_dV_late_mV <= 1.5
    assert r10.max_dV_late_mV <= 1.0
    assert r10.max_dV_mV <= TARGET_MV


HOLD_V = 3.8  #: the CC-CV test's hold voltage (1C reaches it at ~62 % of the 1C discharge)


def test_one_particle_cv_hold_against_pybamm(tmp_path):
    """Issue 18: 1C to 3.8 V, then hold at 3.8 V until C/50, on the R = 6 voxel hemisphere with the
    smoothed-normal weights, against PyBaMM's SPM running the experiment ["Discharge at 1C until
    3.8 V", "Hold at 3.8 V until C/50"] with the same parameters. Currents in units of each model's
    own 1C, times from the switch to the hold; our time steps 5 s growing to 20 s.

    Measured: max |I - I_pybamm| 0.0074 C over the hold, hold length to C/50 1.020 x PyBaMM's
    (963 s); with half the time steps 0.012 C and 1.001 (the hold length converges; the current's
    remaining difference is the R = 6 mesh's, ~1 % of 1C, our current slightly below PyBaMM's in the
    first 300 s). Tolerances 0.015 C and |hold ratio - 1| <= 0.035. What they catch (the same run with
    a deliberate error in our model): D_s 10 % low gives 0.0129 C and a hold ratio 1.066 (caught by
    the ratio), k 20 % low 0.034 C and 1.149 (caught by both)."""
    p = _params()
    r = RADIUS_UM * 1e-6
    ref = op.pybamm_cc_cv(p, r, op.hemisphere_volume_m3(r), HOLD_V)
    res = op.voxel_cc_cv_run(6, RADIUS_UM, tmp_path, HOLD_V, interface_area="smoothed-normal", comm=MPI.COMM_SELF)
    assert res.complete, res.message
    ours = op.hold_curve(res)
    c = op.compare_holds(ours, ref)
    print(f"\nCV hold vs PyBaMM: max |dI| {c['max_dI_1C']:.4f} C, after 60 s {c['max_dI_1C_late']:.4f} C, "
          f"hold {ours.hold_s:.0f} s vs {ref.hold_s:.0f} s (ratio {c['hold_ratio']:.4f}), "
          f"charge in the hold ratio {c['charge_ratio']:.4f}")
    assert ours.c_rate[0] == pytest.approx(1.0, abs=2e-3)  # continuous at the switch (1C before it)
    assert ours.c_rate[-1] == pytest.approx(0.02, rel=0.011)
    assert c["max_dI_1C"] <= 0.015
    assert abs(c["hold_ratio"] - 1.0) <= 0.035
