"""The P2D cross-check (``fem-twin p2d``, :mod:`fem_twin.p2d`): input extraction, two limits the
DFN must reach, and the command's errors. Serial."""

from __future__ import annotations

import builtins
import json
import math

import numpy as np
import pytest

from fem_twin import p2d, phases
from fem_twin.cli import main
from fem_twin.design import ElectrodeDesign
from fem_twin.microstructure.image import VoxelImage
from fem_twin.microstructure.psd import ParticleSizeDistribution
from fem_twin.parameters.cell import FARADAY, ParameterSet
from fem_twin.protocol import Protocol

H = 0.5  # voxel (um)
SHAPE = (8, 8, 12)
#: two PSD classes of equal volume, 2-4 and 4-8 um: mid-diameters sqrt(8), sqrt(32)
PSD = ParticleSizeDistribution((2.0, 4.0, 8.0), (0.0, 0.5, 1.0))


def _slabs(tmp_path):
    """NCM slab x < 4 voxels, LPSCl slab x >= 4, straight through z: both percolate, nothing is
    dead, so eps, B and the area are known exactly."""
    lab = np.full(SHAPE, phases.LPSCL, np.uint8)
    lab[:4] = phases.NCM
    d = tmp_path / "slabs"
    VoxelImage(labels=lab, voxel_size_um=H, design_json=ElectrodeDesign(ncm_psd=PSD).to_json()).save(d)
    return d


def test_psd_radii_of_a_two_class_table():
    m1, m2 = math.sqrt(8.0), math.sqrt(32.0)
    assert p2d.volume_weighted_radius_um(PSD) == pytest.approx(0.25 * (m1 + m2), rel=1e-12)
    assert p2d.sauter_radius_um(PSD) == pytest.approx(0.5 / (0.5 / m1 + 0.5 / m2), rel=1e-12)
    # the default NCM PSD (D50 = 9 um, log-normal): D[4,3] a little above D50
    r = p2d.volume_weighted_radius_um(ElectrodeDesign().ncm_psd)
    assert 4.5 < r < 5.0


def test_inputs_of_a_slab_structure_and_the_cli_run(tmp_path, capsys):
    """(a) Slabs: eps 0.5 / 0.5, B = 0.5 each (straight paths: sigma_eff = eps sigma), NCM|LPSCl
    area 2 planes x 8 x 12 faces of 0.25 um2 over 96 um3 = 5e5 1/m (raw), radius from the PSD;
    the CLI computes the missing analysis and conductivities and runs the DFN."""
    d = _slabs(tmp_path)
    rc = main(["p2d", str(d), "--c-rate", "2", "--separator", "5"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    for name in ("analysis.json", "conductivity_ncm.json", "conductivity_lpscl.json", "p2d_2C.csv",
                 "p2d_2C.png", "p2d.json"):
        assert (d / name).exists(), name
    inp = p2d.inputs_from_directory(d, 5.0)
    assert inp.eps_ncm == inp.eps_ncm_active == pytest.approx(0.5, abs=1e-12)
    assert inp.eps_lpscl == pytest.approx(0.5, abs=1e-12)
    assert inp.b_ncm == pytest.approx(0.5, rel=1e-6) and inp.b_lpscl == pytest.approx(0.5, rel=1e-6)
    assert inp.area_estimate == "raw"
    assert inp.area_per_volume_per_m == pytest.approx(2 * 8 * 12 * H * H / (8 * 8 * 12 * H ** 3) * 1e6, rel=1e-12)
    assert inp.radius_um == pytest.approx(p2d.volume_weighted_radius_um(PSD), rel=1e-12)
    assert inp.thickness_um == pytest.approx(6.0) and inp.face_area_um2 == pytest.approx(16.0)
    assert p2d.P2DInputs.from_dict(json.loads(json.dumps(inp.to_dict()))) == inp  # JSON round trip
    corr = p2d.inputs_from_directory(d, 5.0, ParameterSet().with_overrides({"interface_area": "smoothed-normal"}))
    assert corr.area_per_volume_per_m == pytest.approx(inp.area_per_volume_per_m * 2 / 3, rel=1e-12)
    s = json.loads((d / "p2d.json").read_text())
    run = s["runs"]["2C"]
    assert run["inputs"]["separator_um"] == 5.0 and "--separator" in run["inputs"]["sources"]["separator_um"]
    # a thin slab electrode at 2C: most of the window (equilibrium 196.6 mAh/g with this OCP)
    assert 150.0 < run["capacity_mAh_per_g"] < 197.0

    # the comparison path: a "3D run" that is this P2D curve on a 5 um separator; the P2D must take
    # the separator from its discharge.json (the default would be 30 um) and match it exactly
    import csv

    rows = list(csv.DictReader(open(d / "p2d_2C.csv")))
    fake = tmp_path / "run"
    fake.mkdir()
    with open(fake / "discharge.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time_s", "step", "voltage_V", "current_A", "capacity_mAh_per_g", "capacity_mAh_per_cm2"])
        for r in rows[::7]:
            w.writerow([r["time_s"], r["step"], r["voltage_V"], r["current_A"], r["capacity_mAh_per_g"], 0.0])
    (fake / "discharge.json").write_text(json.dumps({"complete": True, "mesh": {
        "separator_um": 5.0, "interface_area_um2": 48.0, "interface_weighted_area_um2": 30.0}}))
    rc = main(["p2d", str(d), "--c-rate", "2", "--discharge", str(fake), "-o", str(tmp_path / "cmp")])
    assert rc == 0, capsys.readouterr().err
    cmp = json.loads((tmp_path / "cmp" / "p2d.json").read_text())["runs"]["2C"]["comparison"]
    assert cmp["max_dV_V"] < 1e-6 and cmp["points"] > 10
    assert abs(cmp["capacity_difference_rel"]) < 2e-3  # (the fake curve's last row is up to 7 rows early)
    src = json.loads((tmp_path / "cmp" / "p2d.json").read_text())["inputs"]["sources"]["separator_um"]
    assert "discharge.json" in src
    # --area 3d-run: the area the 3D kinetics integrated over (the weighted one when there is one)
    run_area = p2d.inputs_from_directory(d, 5.0, area_um2=p2d.area_of_3d_run(fake))
    assert run_area.area_estimate == "3d-run"
    assert run_area.area_per_volume_per_m == pytest.approx(30.0 / 96.0 * 1e6, rel=1e-12)
    assert "interface_weighted_area_um2" in run_area.sources["area_per_volume_per_m"]


def _fake_run(path, mesher, transport):
    """A 3D run's folder: a short curve and a ``discharge.json`` with ``mesh`` and ``transport``."""
    path.mkdir()
    path.joinpath("discharge.csv").write_text(
        "time_s,step,voltage_V,current_A,capacity_mAh_per_g,capacity_mAh_per_cm2\n"
        "0,0,4.1,1e-9,0,0\n100,0,3.9,1e-9,50,0\n200,0,3.5,1e-9,100,0\n")
    path.joinpath("discharge.json").write_text(json.dumps({"complete": True, "transport": transport, "mesh": {
        "mesher": mesher, "separator_um": 5.0, "interface_area_um2": 40.0, "interface_weighted_area_um2": None}}))
    return path


def test_inputs_follow_a_matched_smooth_3d_run(tmp_path, capsys):
    """With ``--discharge`` of a smooth-mesh run with fv-matched transport, ``auto`` takes B from the
    run's matched targets (not the P1 conductivity files) and the area its kinetics integrated over
    (the smooth surface, not the voxel faces); a plain-P1 voxel run keeps the files and the raw area."""
    d = _slabs(tmp_path)
    matched = {"transport": "fv-matched", "time_s": 1.0,
               "ncm": {"phase": "ncm", "p1": [0.6, 0.6, 0.55], "fv": [0.4, 0.4, 0.35], "factor": [0.7, 0.7, 0.64],
                       "note": "", "iterations": 2, "mismatch": 1e-4},
               "lpscl": {"phase": "lpscl", "p1": [0.3, 0.3, 0.0], "fv": [0.2, 0.2, 0.0], "factor": [0.7, 0.7, 1.0],
                         "note": "lpscl not matched along z (no span on the mesh): factor 1 there"}}
    run = _fake_run(tmp_path / "run_smooth", "smooth", matched)
    b = p2d.conductances_of_3d_run(run)
    assert set(b) == {"ncm"} and b["ncm"][0] == 0.35 and "transport.ncm.fv[2]" in b["ncm"][1]
    assert p2d.mesher_of_3d_run(run) == "smooth"
    rc = main(["p2d", str(d), "--c-rate", "2", "--discharge", str(run), "-o", str(tmp_path / "o1")])
    assert rc == 0, capsys.readouterr().err
    inp = json.loads((tmp_path / "o1" / "p2d.json").read_text())["inputs"]
    assert inp["b_ncm"] == 0.35 and "transport.ncm.fv[2]" in inp["sources"]["b_ncm"]
    assert inp["b_lpscl"] == pytest.approx(0.5, rel=1e-6) and "conductivity_lpscl.json" in inp["sources"]["b_lpscl"]
    assert not (d / "conductivity_ncm.json").exists()  # (not needed, not computed)
    assert inp["area_estimate"] == "3d-run" and inp["area_per_volume_per_m"] == pytest.approx(40.0 / 96.0 * 1e6)
    # --conductances files: the P1 file for both phases
    rc = main(["p2d", str(d), "--c-rate", "2", "--discharge", str(run), "--conductances", "files",
               "-o", str(tmp_path / "o2")])
    assert rc == 0, capsys.readouterr().err
    inp = json.loads((tmp_path / "o2" / "p2d.json").read_text())["inputs"]
    assert inp["b_ncm"] == pytest.approx(0.5, rel=1e-6)
    # a plain-P1 voxel run: files and the raw voxel-face area; --conductances 3d-run is refused
    plain = _fake_run(tmp_path / "run_p1", "voxel", {"transport": "p1", "ncm": None, "lpscl": None})
    assert p2d.conductances_of_3d_run(plain) is None
    rc = main(["p2d", str(d), "--c-rate", "2", "--discharge", str(plain), "-o", str(tmp_path / "o3")])
    assert rc == 0, capsys.readouterr().err
    inp = json.loads((tmp_path / "o3" / "p2d.json").read_text())["inputs"]
    assert inp["area_estimate"] == "raw" and inp["b_ncm"] == pytest.approx(0.5, rel=1e-6)
    _one_line_exit_2(capsys, ["p2d", str(d), "--discharge", str(plain), "--conductances", "3d-run"],
                     "--conductances", "fv-matched")
    _one_line_exit_2(capsys, ["p2d", str(d), "--conductances", "3d-run"], "--conductances", "--discharge")


def _spm_limit_params():
    return ParameterSet().with_overrides({"sigma_ncm_S_m": 10.0, "sigma_lpscl_S_m": 10.0, "li_contact": "ideal",
                                          "freeze_electrolyte": True})


def test_dfn_with_fast_transport_is_the_single_particle_model():
    """(b) B = 1, conductivities 10 S/m (ohmic drop < 0.05 mV at 1C), ideal Li contact, flat c_e:
    the DFN is a single-particle model of the active NCM volume with the structure's area (not the
    spheres' 3 eps/R: area factor 0.75 here) and radius. Our own 1D sphere model
    (:mod:`fem_twin.fem.reference_spm`) given V, A = a L A_cc and R directly agrees within 2.5 mV
    over 90 % of the discharge (measured 1.3 mV; a 10 % wrong area gives 5.1 mV, a 10 % wrong
    radius 12.7 mV) and in capacity within 0.2 %."""
    from fem_twin.fem import reference_spm as spm

    p = _spm_limit_params()
    inp = p2d.P2DInputs(39.0, 5.0, 256.0, 0.42, 0.40, 0.30, 1.0, 1.0, 0.3e6, "raw", 3.0)
    assert inp.area_factor == pytest.approx(0.75, rel=1e-12)
    c = p2d.run(inp, p, Protocol.discharge(1.0, 3.0))
    i1c = p2d.one_c_current_A(inp, p)
    assert i1c == pytest.approx(p.one_c_current_A(0.42 * 39e-6 * 256e-12), rel=1e-12)  # 1C of ALL NCM
    g = spm.SphereGeometry(inp.ncm_volume_m3(active=True), inp.area_per_volume_per_m * 39e-6 * 256e-12, 3.0e-6)
    r = spm.discharge(p, g, i1c, 3.0, dt_s=1.0, n_cells=200)
    m = c.time_s <= 0.9 * r.time_s[-1]
    dv = np.abs(c.voltage_V[m] - np.interp(c.time_s[m], r.time_s, r.voltage_V))
    print(f"\nDFN vs 1D SPM: max |dV| {1e3 * dv.max():.2f} mV")
    assert dv.max() < 2.5e-3
    assert c.step_capacity_mAh_per_g[0] == pytest.approx(r.charge_C[-1] / 3.6 / c.mass_g, rel=2e-3)
    assert np.all(np.isclose(c.current_A, i1c, rtol=1e-9))


def test_low_rate_capacity_is_the_equilibrium_window():
    """(b) At C/50 with the real (slow) transport the DFN delivers the OCP window of the ACTIVE NCM,
    (x(U = 3.0 V) - x0) c_max F V_active, per gram of ALL NCM: within 0.5 % (measured 0.26 %;
    counting the dead NCM as active would be 5 % off here)."""
    p = ParameterSet()
    inp = p2d.P2DInputs(39.0, 5.0, 256.0, 0.42, 0.40, 0.30, 0.02, 0.03, 0.6e6, "raw", 4.6)
    c = p2d.run(inp, p, Protocol.discharge(0.02, 3.0))
    x_cut = p.ocp.lithiation_at(3.0)
    q_eq = (x_cut - p.initial_lithiation) * p.c_ncm_max_mol_m3 * FARADAY * inp.ncm_volume_m3(active=True)
    q_eq_mAh_g = q_eq / 3.6 / c.mass_g
    print(f"\nC/50: {c.step_capacity_mAh_per_g[0]:.2f} mAh/g, equilibrium window {q_eq_mAh_g:.2f}")
    assert c.step_capacity_mAh_per_g[0] == pytest.approx(q_eq_mAh_g, rel=5e-3)
    assert c.step_capacity_mAh_per_g[0] < q_eq_mAh_g
    assert c.mean_lithiation[-1] == pytest.approx(x_cut, abs=5e-3)


def test_compare_curves_on_known_lines():
    q = np.linspace(0, 100, 101)
    cmp = p2d.compare_curves(q, 4.0 - 0.01 * q, q[:81], 4.0 - 0.01 * q[:81] + 0.002)
    assert cmp["capacity_3d_mAh_g"] == 100 and cmp["capacity_p2d_mAh_g"] == 80
    assert cmp["capacity_difference_rel"] == pytest.approx(-0.2)
    assert cmp["max_dV_V"] == pytest.approx(0.002, abs=1e-12)
    assert cmp["max_dV_up_to_mAh_g"] == pytest.approx(72.0)


# -- (c) errors ---------------------------------------------------------------------------------------
def _one_line_exit_2(capsys, argv, *words):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("fem-twin p2d: error:"), err
    for w in words:
        assert w in err, err
    return err


def test_cli_errors(tmp_path, capsys):
    d = _slabs(tmp_path)
    _one_line_exit_2(capsys, ["p2d", str(d), "--no-run"], "analysis.json", "fem-twin analyze")
    from fem_twin.analysis.report import analyse

    analyse(VoxelImage.load(d), descriptors=False).save(d)
    _one_line_exit_2(capsys, ["p2d", str(d), "--no-run"], "conductivity_ncm.json", "fem-twin conductivity")
    _one_line_exit_2(capsys, ["p2d", str(d), "--c-rate", "0"], "--c-rate")
    _one_line_exit_2(capsys, ["p2d", str(d), "--c-rate", "nan"], "--c-rate")
    _one_line_exit_2(capsys, ["p2d", str(d), "--separator", "-1"], "--separator")
    _one_line_exit_2(capsys, ["p2d", str(d), "--area", "3d-run"], "--area", "--discharge")
    _one_line_exit_2(capsys, ["p2d", str(tmp_path / "nowhere")], "nowhere", "fem-twin generate")
    _one_line_exit_2(capsys, ["p2d", str(d), "--discharge", str(tmp_path)], "--discharge")
    # a conductivity file saying the NCM does not percolate
    (d / "conductivity_ncm.json").write_text(json.dumps({"axis": "z", "percolates": False, "method": "fv",
                                                         "relative_conductivity": 0.0}))
    (d / "conductivity_lpscl.json").write_text(json.dumps({"axis": "z", "percolates": True, "method": "fv",
                                                           "relative_conductivity": 0.5}))
    _one_line_exit_2(capsys, ["p2d", str(d)], "conductivity_ncm.json", "no path")
    assert not (d / "p2d.json").exists()


def test_cli_solver_failure_exit_1(tmp_path, capsys, monkeypatch):
    d = _slabs(tmp_path)

    def fail(*a, **k):
        raise p2d.P2DSolverError("PyBaMM's solver failed: IDA_CONV_FAIL")

    monkeypatch.setattr(p2d, "run", fail)
    rc = main(["p2d", str(d), "--separator", "5"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "IDA_CONV_FAIL" in err
    assert not (d / "p2d.json").exists()


def test_cli_without_pybamm(tmp_path, capsys, monkeypatch):
    real_import = builtins.__import__

    def no_pybamm(name, *args, **kw):
        if name == "pybamm" or name.startswith("pybamm."):
            raise ModuleNotFoundError("No module named 'pybamm'", name="pybamm")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_pybamm)
    _one_line_exit_2(capsys, ["p2d", str(_slabs(tmp_path))], "pip install fem_twin[p2d]")
