"""``fem-twin calibrate``: the root finder and the curve fit on analytic functions (no FE), the
inputs it refuses, the calibration notes of the parameter set, and one calibration of a tiny 3D
electrode back to a known initial lithiation (also under ``mpirun -n 2 ... -m mpi``)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from fem_twin import calibration as C
from fem_twin.errors import InputError
from fem_twin.parameters.cell import ParameterSet


# -- the root finder on analytic functions ------------------------------------------------------------
def _counting(f):
    calls = []

    def g(x):
        calls.append(x)
        return f(x)

    return g, calls


@pytest.mark.parametrize("f, root", [
    (lambda x: 100.0 + 200.0 * x, 0.35),                                    # increasing, linear
    (lambda x: 206.0 - 284.0 * (x - 0.27) - 80.0 * (x - 0.27) ** 2, None),  # decreasing, curved
    (lambda x: 150.0 + 60.0 * math.tanh(12.0 * (x - 0.4)), None),           # S-shaped
])
def test_finds_the_target_within_the_tolerance(f, root):
    target = f(root) if root is not None else 133.3
    g, calls = _counting(f)
    res = C.find_parameter(g, 0.27, 0.6, target, ftol=0.5, max_evals=12)
    assert res.converged, res.message
    assert abs(f(res.value) - target) <= 0.5
    assert res.capacity == pytest.approx(f(res.value))
    assert calls[:2] == [0.27, 0.6]  # both ends first
    assert len(res.evaluations) == len(calls) <= 8
    if root is not None:
        assert len(calls) == 3  # a linear capacity: one interior evaluation
        assert res.value == pytest.approx(root, abs=0.5 / 200.0)


def test_illinois_does_not_stall_on_a_convex_function():
    """Plain regula falsi keeps one end for ever on x**8; Illinois halves its residual."""
    f = lambda x: 10.0 + 300.0 * x ** 8  # noqa: E731
    res = C.find_parameter(f, 0.0, 1.0, 11.0, ftol=1e-3, max_evals=30)
    assert res.converged and len(res.evaluations) <= 20
    assert res.value == pytest.approx((1.0 / 300.0) ** 0.125, rel=1e-3)


def test_log_scale_for_a_rate_constant():
    f = lambda k: 120.0 + 25.0 * math.log10(k / 1e-9)  # noqa: E731  (capacity rises by decades of k)
    res = C.find_parameter(f, 1e-9, 1e-5, 170.0, ftol=0.1, max_evals=6, scale="log")
    assert res.converged and len(res.evaluations) == 3
    assert res.value == pytest.approx(1e-7, rel=0.02)


def test_noisy_capacity_converges_with_a_tolerance_above_the_noise():
    rng = np.random.default_rng(3)
    noise = {}

    def f(x):  # +-0.3 mAh/g of step-size noise on a linear capacity
        return 206.0 - 280.0 * (x - 0.27) + noise.setdefault(x, rng.uniform(-0.3, 0.3))

    res = C.find_parameter(f, 0.27, 0.6, 133.3, ftol=0.5, max_evals=8)
    assert res.converged and abs(f(res.value) - 133.3) <= 0.5
    assert res.value == pytest.approx(0.27 + (206.0 - 133.3) / 280.0, abs=0.8 / 280.0)


def test_flat_capacity_and_targets_out_of_reach():
    with pytest.raises(C.TargetOutOfRange) as exc:
        C.find_parameter(lambda x: 150.0, 0.27, 0.6, 133.3, ftol=0.5, name="initial_lithiation")
    msg = str(exc.value)
    assert msg.startswith("--target-capacity") and "150.00 mAh/g at initial_lithiation = 0.27" in msg
    assert "150.00 mAh/g at initial_lithiation = 0.6" in msg
    assert isinstance(exc.value, InputError)
    with pytest.raises(C.TargetOutOfRange, match=r"206.00 mAh/g at p = 0.27, 112.28 mAh/g at p = 0.6"):
        C.find_parameter(lambda x: 206.0 - 284.0 * (x - 0.27), 0.27, 0.6, 240.0, ftol=0.5, name="p")
    # flat at the target: the lower end already is the answer (one run)
    res = C.find_parameter(lambda x: 133.5, 0.27, 0.6, 133.3, ftol=0.5)
    assert res.converged and res.value == 0.27 and len(res.evaluations) == 1


def test_budget_and_jump_are_reported_not_converged():
    f = lambda x: 206.0 - 284.0 * (x - 0.27)  # noqa: E731
    res = C.find_parameter(lambda x: f(x) ** 3 / 1e4, 0.27, 0.6, 200.0, ftol=1e-9, max_evals=3)
    assert not res.converged and len(res.evaluations) == 3 and "--max-evals" in res.message
    step = lambda x: 180.0 if x < 0.4 else 120.0  # noqa: E731  (no value gives 150)
    res = C.find_parameter(step, 0.27, 0.6, 150.0, ftol=0.5, xtol=1e-6, max_evals=60)
    assert not res.converged and abs(res.value - 0.4) < 1e-5 and "jump" in res.message


def test_not_a_number_is_an_error():
    with pytest.raises(C.CalibrationError, match="not a number"):
        C.find_parameter(lambda x: float("nan"), 0.27, 0.6, 133.0, ftol=0.5)


# -- the curve fit on analytic curves ---------------------------------------------------------------
def _model_curve(x0, k=1.0):
    """A voltage curve whose end moves with x0 and whose slope with k."""
    q = np.linspace(0, 284.0 * (1.0 - x0) * 0.9, 60)
    return q, 4.2 - 0.004 * k * q - 0.3 * (q / q[-1]) ** 8


def test_curve_fit_one_parameter_recovers_it():
    mq, mv = _model_curve(0.45)
    mq, mv = mq[::3], mv[::3]
    res = C.fit_curve(lambda x: C.curve_residuals(*_model_curve(x[0]), mq, mv), [(0.3, 0.6)], ["linear"],
                      max_evals=12, xtol=1e-3)
    assert res.values[0] == pytest.approx(0.45, abs=0.003)
    assert res.rms_V < 5e-3 and len(res.evaluations) <= 12


def test_curve_fit_two_parameters_recovers_both():
    mq, mv = _model_curve(0.4, 1.3)
    res = C.fit_curve(lambda x: C.curve_residuals(*_model_curve(*x), mq, mv), [(0.3, 0.6), (0.5, 2.0)],
                      ["linear", "log"], max_evals=40, xtol=1e-6)
    assert res.values[0] == pytest.approx(0.4, abs=0.005) and res.values[1] == pytest.approx(1.3, rel=0.02)


def test_curve_residuals_are_distances_in_the_plane():
    sim_q, sim_v = [0, 10, 20], [4.0, 3.5, 3.0]
    # on the curve; 0.1 V below its middle; beyond its end (distance to the end point, 1 V per 10 mAh/g)
    r = C.curve_residuals(sim_q, sim_v, [5, 10, 30], [3.75, 3.4, 3.0], volts_per_mAh_g=0.1)
    assert r[0] == pytest.approx(0.0, abs=1e-12)
    assert r[1] == pytest.approx(0.1 / math.hypot(1, 0.5), rel=1e-9)  # (the steep segment is nearer)
    assert r[2] == pytest.approx(-1.0) or r[2] == pytest.approx(1.0)
    # a curve shifted by dq on its steep end: residual ~ dq, not the voltage drop
    q = np.linspace(0, 100, 201)
    v = 4.0 - 0.005 * q - 0.5 * np.maximum(q - 95, 0)
    r = C.curve_residuals(q + 0.5, v, q, v)
    assert np.max(np.abs(r)) < 0.5 * np.ptp(v) / 100 * 1.01


def test_read_curve_names_the_file_and_the_column(tmp_path):
    good = tmp_path / "m.csv"
    good.write_text("capacity_mAh_per_g,voltage_V,other\n0,4.1,x\n50,3.8,y\n100,3.5,z\n")
    q, v = C.read_curve(good)
    assert q.tolist() == [0, 50, 100] and v.tolist() == [4.1, 3.8, 3.5]
    bad = tmp_path / "bad.csv"
    bad.write_text("capacity,voltage_V\n0,4.1\n50,3.8\n100,3.5\n")
    with pytest.raises(InputError) as exc:
        C.read_curve(bad)
    assert str(bad) in str(exc.value) and "column capacity_mAh_per_g" in str(exc.value)
    word = tmp_path / "word.csv"
    word.write_text("capacity_mAh_per_g,voltage_V\n0,4.1\n50,high\n100,3.5\n")
    with pytest.raises(InputError, match=r"column voltage_V, line 3"):
        C.read_curve(word)
    with pytest.raises(InputError, match="--curve"):
        C.read_curve(tmp_path / "missing.csv")


# -- parameters and brackets -------------------------------------------------------------------------
def test_parameter_names_and_brackets():
    base = ParameterSet()
    with pytest.raises(InputError, match=r"^--parameter: .*initial_lithiation.*got 'initial_lithium'"):
        C.check_parameter("initial_lithium")
    with pytest.raises(InputError, match=r"--parameter"):
        C.check_parameter("li_contact")  # not a number
    assert C.parse_bracket("0.3,0.5", "initial_lithiation", base) == (0.3, 0.5)
    assert C.parse_bracket(None, "initial_lithiation", base) == C.DEFAULT_BRACKETS["initial_lithiation"]
    with pytest.raises(InputError, match=r"--bracket: expected a bracket inside the valid range of k_ncm"):
        C.parse_bracket("1e-20,1e-7", "k_ncm", base)
    with pytest.raises(InputError, match=r"--bracket: .*max_lithiation"):  # valid range, invalid set
        C.parse_bracket("0.3,0.9995", "initial_lithiation", base.with_overrides({"max_lithiation": 0.99}))
    with pytest.raises(InputError, match=r"--bracket: expected two numbers"):
        C.parse_bracket("0.5,0.3", "initial_lithiation", base)
    with pytest.raises(InputError, match=r"no default bracket"):
        C.parse_bracket(None, "temperature_K", base)
    assert C.default_scale("k_ncm", 1e-9, 1e-5) == "log"
    assert C.default_scale("initial_lithiation", 0.27, 0.6) == "linear"


def test_calibration_notes_in_the_parameter_set(tmp_path):
    note = "fitted to Park et al. 2020 (60 wt%, 0.1C, 133.3 mAh/g) by fem-twin calibrate on runs/x"
    p = ParameterSet().with_overrides({"initial_lithiation": 0.497, "calibration": {"initial_lithiation": note}})
    assert p.source_of("initial_lithiation") == note and p.source_of("k_ncm") is None
    assert p.to_dict()["calibration"] == {"initial_lithiation": note}
    assert "calibration" not in ParameterSet().to_dict()  # (no note: discharge.json as before)
    f = tmp_path / "p.toml"
    f.write_text(p.to_toml())
    assert ParameterSet.from_toml(f) == p
    assert p.with_overrides({"initial_lithiation": 0.3}).calibration == ()  # a new value loses the old note
    assert p.with_overrides({"k_ncm": 2e-7}).source_of("initial_lithiation") == note
    with pytest.raises(InputError, match=r"calibration\.foo"):
        ParameterSet(calibration={"foo": "x"})
    with pytest.raises(InputError, match=r"calibration\.k_ncm"):
        ParameterSet(calibration={"k_ncm": ""})


# -- the command on a tiny 3D electrode ---------------------------------------------------------------
def _column():
    sys.path.insert(0, str(Path(__file__).parent))
    from test_discharge import column_electrode

    return column_electrode()


COMMON = ["--c-rate", "1", "--separator", "2", "--mesher", "voxel", "--transport", "p1", "-q"]  # (as run_discharge)


@pytest.fixture
def column_dir(shared_dir):
    from fem_twin._dolfinx import MPI
    from fem_twin.microstructure.image import VoxelImage

    if MPI.COMM_WORLD.rank == 0:
        VoxelImage(_column(), 1.0).save(shared_dir / "s")
    MPI.COMM_WORLD.Barrier()
    return shared_dir / "s"


@pytest.mark.mpi
def test_calibrates_back_to_a_known_initial_lithiation(column_dir, capsys):
    """The capacity of x0 = 0.41 is the target; from the bracket [0.3, 0.55] the command must find
    x0 again, to within what the capacity tolerance allows (tol / |dQ/dx0|, the slope from the
    bracket's ends). Then: the same command reuses every run; an unreachable target names both ends."""
    from fem_twin._dolfinx import MPI
    from fem_twin.cli import main
    from fem_twin.fem.discharge_run import run_discharge
    from fem_twin.protocol import Protocol

    comm = MPI.COMM_WORLD
    truth = run_discharge(_column(), 1.0, column_dir.parent / "truth", params=ParameterSet(initial_lithiation=0.41),
                          protocol=Protocol.parse("discharge 1C to 3.0 V"), separator_um=2.0, quiet=True,
                          write_fields=False, mesher="voxel", comm=comm)
    assert truth.complete
    target, tol = truth.summary["capacity_mAh_per_g"], 0.3
    args = ["calibrate", str(column_dir), "--target-capacity", repr(target), "--tol", str(tol),
            "--bracket", "0.3,0.55", "--source", "a test"] + COMMON
    assert main(args) == 0
    out = column_dir / "calibration"
    rep = json.loads((out / "calibration.json").read_text())
    evs = rep["evaluations"]
    slope = (evs[1]["capacity_mAh_per_g"] - evs[0]["capacity_mAh_per_g"]) / (0.55 - 0.3)
    assert slope < -100  # the capacity falls with the initial lithiation
    x = rep["fitted_values"]["initial_lithiation"]
    assert rep["converged"] and abs(rep["capacity_mAh_per_g"] - target) <= tol
    assert abs(x - 0.41) <= 1.5 * tol / abs(slope), (x, slope)
    assert 3 <= rep["runs"] <= 5 and rep["new_runs"] == rep["runs"]
    assert [e["folder"] for e in evs] == [f"eval_{i:02d}" for i in range(len(evs))]
    assert all(e["wall_s"] > 0 and e["residual_mAh_per_g"] is not None for e in evs)
    fitted = ParameterSet.from_toml(out / "calibrated_parameters.toml")
    assert fitted.initial_lithiation == x and "fitted to a test" in fitted.source_of("initial_lithiation")
    assert (out / "calibration.png").stat().st_size > 1000
    assert not (out / "study.lock").exists()  # (released)
    # again (with the progress lines: outputs do not matter): every evaluation reused, the same answer,
    # and the note (so the fitted file) keeps the day the value was fitted: as if that was another day
    comm.Barrier()
    if comm.rank == 0:
        day = rep["note"].rpartition(", ")[2]
        for name in ("calibration.json", "calibrated_parameters.toml"):
            (out / name).write_text((out / name).read_text().replace(day, "2001-02-03"))
    comm.Barrier()
    toml_before = (out / "calibrated_parameters.toml").read_bytes()
    assert main([a for a in args if a != "-q"]) == 0
    rep2 = json.loads((out / "calibration.json").read_text())
    assert rep2["new_runs"] == 0 and rep2["fitted_values"] == rep["fitted_values"]
    assert rep2["note"].endswith(", 2001-02-03") and (out / "calibrated_parameters.toml").read_bytes() == toml_before
    # a target the bracket cannot reach: exit 2, both ends' capacities (reused) in one line
    capsys.readouterr()
    code = main(["calibrate", str(column_dir), "--target-capacity", "250", "--bracket", "0.3,0.55"] + COMMON)
    err = capsys.readouterr().err.strip().splitlines()
    if comm.rank == 0:
        assert code == 2 and len(err) == 1 and "--target-capacity" in err[0]
        assert f"{evs[0]['capacity_mAh_per_g']:.2f} mAh/g at initial_lithiation = 0.3" in err[0]
        assert f"{evs[1]['capacity_mAh_per_g']:.2f} mAh/g at initial_lithiation = 0.55" in err[0]
    rep3 = json.loads((out / "calibration.json").read_text())
    assert rep3["new_runs"] == 0 and rep3["converged"] is False


def test_calibrates_to_a_measured_curve(column_dir, tmp_path):
    """The discharge.csv of x0 = 0.45 as the measured curve (its columns are the ones read)."""
    from fem_twin.cli import main
    from fem_twin.fem.discharge_run import run_discharge
    from fem_twin.protocol import Protocol

    truth = run_discharge(_column(), 1.0, tmp_path / "truth", params=ParameterSet(initial_lithiation=0.45),
                          protocol=Protocol.parse("discharge 1C to 3.0 V"), separator_um=2.0, quiet=True,
                          write_fields=False, mesher="voxel")
    assert truth.complete
    code = main(["calibrate", str(column_dir), "--curve", str(tmp_path / "truth" / "discharge.csv"),
                 "--bracket", "0.35,0.55", "--max-evals", "6", "-o", str(tmp_path / "cal")] + COMMON)
    rep = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    assert code in (0, 1) and rep["runs"] <= 6
    assert rep["fitted_values"]["initial_lithiation"] == pytest.approx(0.45, abs=0.01)
    assert rep["rms_residual_V"] < 0.01
    assert ParameterSet.from_toml(tmp_path / "cal" / "calibrated_parameters.toml").initial_lithiation == \
        rep["fitted_values"]["initial_lithiation"]


@pytest.mark.parametrize("extra, needle", [
    (["--target-capacity", "150", "--parameter", "initial_lithium"], "--parameter: expected a numeric parameter"),
    (["--target-capacity", "150", "--parameter", "k_ncm", "--bracket", "1e-20,1e-7"], "--bracket: expected a "
                                                                                       "bracket inside"),
    (["--target-capacity", "150", "--bracket", "0.3"], "--bracket: expected two numbers"),
    (["--target-capacity", "-3"], "--target-capacity"),
    (["--target-capacity", "150", "--parameter", "k_ncm", "--parameter", "d_ncm_m2_s"], "one parameter with"),
    (["--curve", "BADCSV"], "column voltage_V"),
    (["--target-capacity", "150", "--tol", "0"], "--tol"),
])
def test_bad_input_one_line_nothing_run(column_dir, tmp_path, capsys, extra, needle):
    from fem_twin.cli import main

    (tmp_path / "bad.csv").write_text("capacity_mAh_per_g,volts\n0,4\n1,3.9\n2,3.8\n")
    extra = [str(tmp_path / "bad.csv") if e == "BADCSV" else e for e in extra]
    code = main(["calibrate", str(column_dir), "-o", str(tmp_path / "cal")] + extra + COMMON)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "cal").exists()
    if "BADCSV" in extra or "bad.csv" in " ".join(extra):
        assert "bad.csv" in err[0]


def test_evaluations_match_to_1e9_relative():
    a = {"parameters": {"initial_lithiation": 0.4973, "li_contact": "ideal", "ocp": {"kind": "chen2020"}},
         "settings": {"protocol": "discharge 0.1C to 3.0 V", "solver": {"petsc": []}}}
    b = json.loads(json.dumps(a))
    b["parameters"]["initial_lithiation"] = 0.4973 * (1 + 1e-12)
    assert C._same_key(a, b)
    b["parameters"]["initial_lithiation"] = 0.4974
    assert not C._same_key(a, b)
    assert not C._same_key(a, {**a, "settings": {**a["settings"], "protocol": "discharge 1C to 3.0 V"}})
    assert not C._same_key({"x": True}, {"x": 1.0})


def test_one_calibration_per_folder(column_dir, tmp_path, capsys):
    """A folder locked by a live process (here the test's parent) is refused; nothing runs."""
    import os

    from fem_twin.cli import main

    out = tmp_path / "cal"
    out.mkdir()
    (out / "study.lock").write_text(f"{os.getppid()}\n")
    code = main(["calibrate", str(column_dir), "--target-capacity", "150", "-o", str(out)] + COMMON)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "-o/--output" in err[0] and str(os.getppid()) in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["study.lock"]


def test_a_calibrated_set_through_the_sweeps_params_toml(tmp_path):
    """The sweep writes each case's params.toml from the set: the notes survive as [calibration]."""
    from fem_twin.study.sweep_runner import parameters_toml

    for ocp in ("chen2020", {"x": [0.1, 1.0], "u_V": [4.3, 3.0]}):
        p = ParameterSet().with_overrides({"initial_lithiation": 0.503, "ocp": ocp,
                                           "calibration": {"initial_lithiation": 'fitted to "133.3"'}})
        f = tmp_path / "p.toml"
        f.write_text(parameters_toml(p))
        assert ParameterSet.from_toml(f) == p
