"""Test protocols a cell tester runs (issue 18 part 1): constant-voltage holds, CC-CV charge,
repeated blocks, per-step and per-cycle summaries; parsing of every step kind and its bad forms.

The finite-element runs use the 4 x 4 x 6 voxel column electrode of test_discharge.py (a few
seconds each). Tests marked ``mpi`` also run under ``mpirun -n 2 python -m pytest -m mpi``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fem_twin.errors import InputError
from fem_twin.protocol import Block, Protocol, Step

CCCV = "charge 0.5C to 4.3 V; hold at 4.3 V until C/20"
CYCLES = "(charge 0.5C to 4.3 V; hold at 4.3 V until C/20; rest 10 min; discharge 1C to 3.0 V) x 3"


# -- parsing (no finite elements) ------------------------------------------------------------------
def test_parse_every_step_kind():
    p = Protocol.parse("discharge 1C to 3.0 V; rest 10 min; charge 0.5C to 4.3 V for 1 h; "
                       "hold at 4.3 V until C/20; hold at 4300 mV for 30 min; hold 4.2 V until 0.1C for 2 h")
    assert [s.kind for s in p.steps] == ["discharge", "rest", "charge", "hold", "hold", "hold"]
    h1, h2, h3 = p.steps[3:]
    assert h1 == Step("hold", hold_V=4.3, until_c_rate=0.05)
    assert h2.hold_V == pytest.approx(4.3) and h2.duration_s == 1800 and h2.until_c_rate is None
    assert (h3.hold_V, h3.until_c_rate, h3.duration_s) == (4.2, 0.1, 7200)
    assert h1.potentiostatic and not p.steps[0].potentiostatic and h1.current_A(2.0) == 0.0
    assert h1.time_scale_s() == pytest.approx(72000.0) and h2.time_scale_s() == 1800
    assert p.cycle_of() == [1] * 6 and p.blocks == ()


def test_parse_cccv_and_repeated_blocks():
    p = Protocol.parse(CCCV)
    assert [s.kind for s in p.steps] == ["charge", "hold"]
    q = Protocol.parse(CYCLES)
    assert len(q.steps) == 12 and q.blocks == (Block(0, 4, 3),)
    assert [s.kind for s in q.steps[:4]] * 3 == [s.kind for s in q.steps]
    assert q.cycle_of() == [1] * 4 + [2] * 4 + [3] * 4
    # steps outside a block are in no cycle; a block may follow other steps; 'x3', '* 3' too
    r = Protocol.parse("discharge 1C to 3 V; (charge 1C to 4.2 V; discharge 1C to 3 V)x2\nrest 1 h")
    assert r.cycle_of() == [0, 1, 1, 2, 2, 0] and r.blocks == (Block(1, 2, 2),)
    assert Protocol.parse("(rest 1 s) * 3").cycle_of() == [1, 2, 3]


@pytest.mark.parametrize("text", ["discharge 1C to 3.0 V; rest 10 min; charge 0.5C to 4.3 V", CCCV, CYCLES,
                                  "hold at 4.3 V until C/20 for 30 min",
                                  "rest 1 min; (discharge C/10 for 10 min; rest 30 min) x 20; charge 1C to 4.2 V"])
def test_describe_reads_back(text):
    p = Protocol.parse(text)
    assert Protocol.parse(p.describe()) == p


BAD = [
    ("hold at 4.3 V", "until RATE"),  # no end
    ("hold at 4.3 until C/20", "hold at VOLTAGE V"),  # no unit
    ("hold at V until C/20", "hold at VOLTAGE V"),
    ("hold at 4.3 V until 20", "C-rate"),
    ("hold at 4.3 V until C/0", "C-rate"),
    ("hold at 4.3 V until 0C", "end C-rate > 0"),
    ("hold at 12 V for 1 min", "(0, 10) V"),
    ("hold at 0 V for 1 min", "(0, 10) V"),
    ("hold at 4.3 V for -5 min", "duration"),
    ("hold at 4.3 V for 0 min", "duration > 0"),
    ("hold at 4.3 V for 5 parsecs", "duration"),
    ("hold at 4.3 V until C/20 or 30 min", "hold at VOLTAGE V"),
    ("charge 0.5C", "to VOLTAGE"),
    ("charge 0C to 4.3 V", "C-rate > 0"),
    ("discharge 1C to 3 V for 0 s", "duration > 0"),
    ("rest", "duration"),
    ("rest 0 s", "duration > 0"),
    ("(charge 1C to 4 V) x 0", "repetitions"),
    ("(charge 1C to 4 V) x 2.5", "repetitions"),
    ("(charge 1C to 4 V) x 100000", "repetitions"),
    ("(charge 1C to 4 V) x", "repetitions"),
    ("(charge 1C to 4 V) 3", "repeated block"),
    ("(charge 1C to 4 V", "balanced"),
    ("charge 1C to 4 V) x 2", "balanced"),
    ("((rest 1 s) x 2) x 2", "do not nest"),
    ("(  ) x 2", "at least one step"),
    ("(jump 1C to 3 V) x 2", "steps"),
    ("hold", "hold at VOLTAGE V"),
]


@pytest.mark.parametrize("text,expected", BAD)
def test_parse_bad_forms(text, expected):
    with pytest.raises(InputError, match="protocol") as e:
        Protocol.parse(text)
    assert expected in str(e.value), str(e.value)


def test_control_objects():
    """The global row of the bordered system: current control g = interface + I; voltage control
    g = S (V - V_set), c = 0, d = S."""
    from fem_twin.fem.control import PA, CurrentControl, VoltageControl, as_control

    cc, cv = as_control(2e-3), VoltageControl(4.3)
    assert cc == CurrentControl(2e-3) and not cc.potentiostatic and cv.potentiostatic
    assert cc.g_pA(-2e-3 * PA, 4.0, 1e3) == 0.0
    assert cv.g_pA(123.0, 4.31, 1e3) == pytest.approx(10.0)
    c = np.array([1.0, 2.0])
    assert cc.row_derivatives(c, 7.0, 1e3) == 7.0 and list(c) == [1.0, 2.0]
    assert cv.row_derivatives(c, 7.0, 1e3) == 1e3 and list(c) == [0.0, 0.0]
    assert cv.key != cc.key and isinstance(cv.key, str)


def test_cycle_summaries_numbers():
    from fem_twin.fem.summaries import add_step_numbers, cycle_summaries

    steps = [{"step": 1, "charge_C": -3.6, "energy_J": -3.6 * 4.2, "duration_s": 10.0},
             {"step": 2, "charge_C": -0.36, "energy_J": -0.36 * 4.3, "duration_s": 5.0},
             {"step": 3, "charge_C": 0.0, "energy_J": 0.0, "duration_s": 5.0},
             {"step": 4, "charge_C": 3.6, "energy_J": 3.6 * 3.8, "duration_s": 10.0}]
    add_step_numbers(steps, [1, 1, 1, 1], mass_g=0.001, area_cm2=2.0)
    assert steps[0]["capacity_mAh_per_g"] == pytest.approx(1000.0)  # 1 mAh per mg
    assert steps[0]["capacity_mAh_per_cm2"] == pytest.approx(0.5)
    assert steps[3]["energy_Wh_per_kg"] == pytest.approx(3.8 * 1e-3 / 1e-6)
    (c,) = cycle_summaries(steps, 0.001, 2.0)
    assert c["charge_capacity_mAh_per_g"] == pytest.approx(1100.0)
    assert c["coulombic_efficiency"] == pytest.approx(3.6 / 3.96)
    assert c["energy_efficiency"] == pytest.approx(3.6 * 3.8 / (3.6 * 4.2 + 0.36 * 4.3))
    assert c["duration_s"] == 30.0 and c["steps"] == [1, 2, 3, 4]


# -- finite-element runs on the column electrode ---------------------------------------------------
#: charge-discharge-charge with CV holds on both sides (the column starts at 4.229 V)
CYCLE_FE = ("charge 1C to 4.3 V; hold at 4.3 V until C/20; discharge 2C to 3.7 V; hold at 3.7 V for 5 min; "
            "charge 1C to 4.2 V")
#: the CC steps end within this of their cut-off (so the switch voltage is the hold's voltage)
CUTOFF_TOL_V = 1e-5


def _column_run(comm, out, protocol, **kw):
    from test_discharge import column_electrode

    from fem_twin.fem.discharge_run import run_discharge
    from fem_twin.fem.stepping import SteppingOptions

    kw.setdefault("stepping", SteppingOptions(cutoff_tol_V=CUTOFF_TOL_V))
    return run_discharge(column_electrode(), 1.0, out, protocol=Protocol.parse(protocol), separator_um=2.0,
                         comm=comm, quiet=True, write_fields=False, **kw)


def lithium_balance_error(rows) -> float:
    """max |Li in NCM - Li at the start - (charge passed since the start) / F| / Li at the start."""
    from fem_twin.parameters.cell import FARADAY

    li0, total, base, step = rows[0]["li_in_ncm_mol"], 0.0, 0.0, None
    err = 0.0
    for r in rows:
        if r["step"] != step:
            base, step = total, r["step"]
        total = base + r["charge_C"]
        err = max(err, abs(r["li_in_ncm_mol"] - li0 - total / FARADAY) / li0)
    return err


def cc_cv_jump(rows, hold_step: int) -> tuple[float, float, float]:
    """(last CC current, the hold's current at the switch (potentials under the new control), its
    current after the first time step), A; ``hold_step`` 0-based."""
    cc = [r for r in rows if r["step"] == hold_step - 1][-1]
    cv = [r for r in rows if r["step"] == hold_step]
    return cc["current_A"], cv[0]["current_A"], cv[1]["current_A"]


@pytest.mark.mpi
def test_cc_cv_cycle_conserves_lithium_and_the_current_is_continuous(shared_dir):
    """Charge-hold-discharge-hold-charge: lithium in NCM = the passed charge / F to 1e-8 (relative;
    measured 3e-11), the holds keep V at their voltage, the current is continuous across each
    CC -> CV switch (the hold's current at the switch within 1e-3 of the CC current: the CC step
    ended within 10 uV of the hold's voltage; then it decays), the charge hold ends at C/20 (within ``cutoff_tol_I``), summaries and the
    cycle plot are written."""
    from fem_twin._dolfinx import MPI

    comm = MPI.COMM_WORLD
    res = _column_run(comm, shared_dir, CYCLE_FE)
    assert res.complete, res.message
    rows = res.rows
    err = lithium_balance_error(rows)
    print(f"\nLi balance error {err:.3g} (relative)")
    assert err <= 1e-8
    i_1c = res.summary["electrode"]["i_1c_A"]
    for hold in (1, 3):
        i_cc, i_switch, i_first = cc_cv_jump(rows, hold)
        print(f"hold step {hold + 1}: CC {i_cc:.6g} A, at the switch {i_switch:.6g} A "
              f"(jump {abs(i_switch - i_cc) / abs(i_cc):.3g} of it), after the first step {i_first:.6g} A")
        assert abs(i_switch - i_cc) <= 1e-3 * abs(i_cc)
        assert 0 < i_first / i_cc < 1  # then it decays, same sign
        v_hold = Protocol.parse(CYCLE_FE).steps[hold].hold_V
        assert all(abs(r["voltage_V"] - v_hold) <= 1e-12 for r in rows if r["step"] == hold)
        # the current is the model's: the Li metal's current equals it
        assert all(abs(r["li_current_A"] - r["current_A"]) <= 1e-8 * i_1c for r in rows if r["step"] == hold)
    steps = res.summary["steps"]
    assert [s["kind"] for s in steps] == ["charge", "hold", "discharge", "hold", "charge"]
    assert steps[1]["ended_by"].startswith("current below C/20")
    assert abs(steps[1]["end_current_A"]) == pytest.approx(0.05 * i_1c, rel=0.011)
    assert steps[3]["ended_by"] == "duration" and steps[3]["duration_s"] == pytest.approx(300.0)
    assert steps[1]["charge_C"] < 0 < steps[3]["charge_C"]
    (cyc,) = res.summary["cycles"]
    q_ch = sum(-s["charge_C"] for s in steps if s["charge_C"] < 0)
    q_dis = sum(s["charge_C"] for s in steps if s["charge_C"] > 0)
    assert cyc["coulombic_efficiency"] == pytest.approx(q_dis / q_ch, rel=1e-12)
    assert 0 < steps[2]["mean_voltage_V"] < 4.3 and steps[2]["energy_Wh_per_kg"] > 0
    if comm.rank == 0:
        s = json.loads((shared_dir / "discharge.json").read_text())
        assert s["cycles"][0]["cycle"] == 1 and len(s["steps"]) == 5
        assert (shared_dir / "discharge_cycles.png").stat().st_size > 1000
        hdr = (shared_dir / "discharge.csv").read_text().splitlines()
        col = hdr[0].split(",").index("current_A")
        cur = [float(line.split(",")[col]) for line in hdr[1:]]
        assert cur == pytest.approx([r["current_A"] for r in rows], rel=1e-9)


def test_repeated_cc_cv_cycles(tmp_path):
    """A discharge, then (CC-CV charge; rest; discharge) x 2: two cycles between 3.8 and 4.35 V
    with their capacities and a coulombic efficiency near 1 (the lithium comes back)."""
    from fem_twin._dolfinx import MPI

    res = _column_run(MPI.COMM_SELF, tmp_path, "discharge 2C to 3.8 V; (charge 1C to 4.35 V; hold at 4.35 V until "
                                               "C/5; rest 2 min; discharge 2C to 3.8 V) x 2")
    assert res.complete, res.message
    cyc = res.summary["cycles"]
    assert [c["cycle"] for c in cyc] == [1, 2] and [c["steps"] for c in cyc] == [[2, 3, 4, 5], [6, 7, 8, 9]]
    assert [s["cycle"] for s in res.summary["steps"]] == [0] + [1] * 4 + [2] * 4
    for c in cyc:
        print(f"\ncycle {c['cycle']}: charge {c['charge_capacity_mAh_per_g']:.3f}, discharge "
              f"{c['discharge_capacity_mAh_per_g']:.3f} mAh/g, CE {c['coulombic_efficiency']:.5f}")
        assert c["charge_capacity_mAh_per_g"] > 10 and c["discharge_capacity_mAh_per_g"] > 10
        assert c["coulombic_efficiency"] == pytest.approx(1.0, abs=0.05)
    assert lithium_balance_error(res.rows) <= 1e-8


@pytest.mark.mpi
def test_restart_in_the_middle_of_a_hold(shared_dir):
    """A run stopped (checkpoint) inside a CV hold and restarted gives the uninterrupted run's
    rows (voltages and currents to 1e-9 relative; the predictor's CV key goes through the file)."""
    from fem_twin._dolfinx import MPI
    from fem_twin.fem.checkpoint import SIGTERM_MESSAGE, CheckpointOptions

    comm = MPI.COMM_WORLD
    proto = "charge 1C to 4.35 V; hold at 4.35 V until C/20; rest 1 min"
    ref = _column_run(comm, shared_dir / "ref", proto, checkpoint=CheckpointOptions(every=0, on_sigterm=False))
    assert ref.complete, ref.message
    n_cc = sum(1 for r in ref.rows if r["step"] == 0 and r["dt_s"] > 0)
    n_cv = sum(1 for r in ref.rows if r["step"] == 1 and r["dt_s"] > 0)
    assert n_cv > 6
    out = shared_dir / "run"
    a = _column_run(comm, out, proto, checkpoint=CheckpointOptions(every=3, stop_after=n_cc + n_cv // 2))
    assert not a.complete and a.message == SIGTERM_MESSAGE
    assert a.rows[-1]["step"] == 1  # stopped inside the hold
    b = _column_run(comm, out, proto, checkpoint=CheckpointOptions(every=3, restart=True))
    assert b.complete, b.message
    assert b.summary["restarted_from"]["protocol_step"] == 2
    assert len(b.rows) == len(ref.rows)
    for key in ("time_s", "voltage_V", "current_A", "charge_C"):
        x, y = np.array([r[key] for r in b.rows]), np.array([r[key] for r in ref.rows])
        assert np.max(np.abs(x - y)) <= 1e-9 * np.max(np.abs(y)), key
    assert [s["ended_by"] for s in b.summary["steps"]] == [s["ended_by"] for s in ref.summary["steps"]]
    assert b.summary["steps"][1]["energy_J"] == pytest.approx(ref.summary["steps"][1]["energy_J"], rel=1e-9)


# -- current profiles and GITT ----------------------------------------------------------------------
def test_parse_profile_and_gitt(tmp_path):
    f = tmp_path / "drive.csv"
    f.write_text("time_s,c_rate\n0,1\n60,-0.5\n90,0\n120,2\n150,\n")
    p = Protocol.parse(f"rest 1 min; profile {f}; gitt discharge 0.1C for 10 min to 3.0 V, rest 30 min x 20")
    assert [s.kind for s in p.steps[:4]] == ["rest", "profile", "discharge", "rest"] and len(p.steps) == 42
    prof = p.steps[1]
    assert prof.duration_s == 150 and prof.profile_unit == "C"
    assert [prof.profile_current_A(t, 2.0) for t in (0, 59.9, 60, 89, 90, 120, 149.9)] == [2, 2, -1, -1, 0, 4, 4]
    assert [prof.profile_next_break_s(t) for t in (0, 60, 130)] == [60, 90, 150]
    pulse = p.steps[2]
    assert (pulse.c_rate, pulse.until_V, pulse.duration_s) == (0.1, 3.0, 600) and p.steps[3].duration_s == 1800
    assert p.blocks == (Block(2, 2, 20),) and p.block_end(2) == 42 and p.block_end(1) is None
    assert Protocol.parse(p.describe()) == p
    g = tmp_path / "amps.csv"
    g.write_text("time_s,current_A\n0,1e-3\n10,\n")
    assert Protocol.parse(f"profile {g}").steps[0].profile_current_A(5.0, 99.0) == 1e-3


@pytest.mark.parametrize("content,expected", [
    ("t,current_A\n0,1\n10,\n", "time_s and current_A or c_rate"),
    ("time_s,volts\n0,1\n10,\n", "time_s and current_A or c_rate"),
    ("time_s,c_rate\n0,1\n", "times from 0 s"),
    ("time_s,c_rate\n5,1\n10,\n", "times from 0 s"),
    ("time_s,c_rate\n0,1\n10,2\n10,\n", "times from 0 s"),
    ("time_s,c_rate\n0,abc\n10,\n", "numbers"),
    ("time_s,c_rate\n0,nan\n10,\n", "finite"),
    ("", "time_s and current_A or c_rate"),
])
def test_bad_profiles(tmp_path, content, expected):
    f = tmp_path / "p.csv"
    f.write_text(content)
    with pytest.raises(InputError, match="protocol profile") as e:
        Protocol.parse(f"profile {f}")
    assert expected in str(e.value)


@pytest.mark.parametrize("text", ["gitt discharge 0.1C, rest 30 min x 20", "gitt rest 1 min, rest 30 min x 2",
                                  "gitt discharge 0.1C for 10 min, rest 30 min x 0",
                                  "gitt discharge 0.1C for 10 min rest 30 min x 2",
                                  "gitt discharge 0.1C for 10 min, rest 30 min", "gitt", "profile",
                                  "profile /nonexistent/p.csv"])
def test_bad_gitt_and_profile_forms(text):
    with pytest.raises(InputError, match="protocol"):
        Protocol.parse(text)


def test_profile_and_gitt_runs(tmp_path):
    """A C-rate profile (1C, -0.5C, rest, 2C) gives its currents piecewise with no time step across
    a break; a GITT that reaches its cut-off ends its block there (the remaining pulses skipped)."""
    from fem_twin._dolfinx import MPI

    f = tmp_path / "drive.csv"
    f.write_text("time_s,c_rate\n0,1\n300,-0.5\n450,0\n600,2\n900,\n")
    res = _column_run(MPI.COMM_SELF, tmp_path / "p", f"profile {f}")
    assert res.complete, res.message
    i1c = res.summary["electrode"]["i_1c_A"]
    rows = res.rows
    t = np.array([r["time_s"] for r in rows])
    i = np.array([r["current_A"] for r in rows])
    assert set(np.round(t, 9)) >= {300.0, 450.0, 600.0, 900.0}  # every break is a step end
    for lo, hi, c in ((0, 300, 1.0), (300, 450, -0.5), (450, 600, 0.0), (600, 900, 2.0)):
        sel = (t > lo + 1e-9) & (t <= hi + 1e-9)
        assert np.allclose(i[sel], c * i1c, rtol=1e-12, atol=0), (lo, hi)
    q = res.summary["steps"][0]["charge_C"]
    assert q == pytest.approx(i1c * (300 - 0.5 * 150 + 2 * 300), rel=1e-9)
    assert lithium_balance_error(rows) <= 1e-8

    g = _column_run(MPI.COMM_SELF, tmp_path / "g", "gitt discharge 2C for 5 min to 3.9 V, rest 5 min x 50")
    assert g.complete, g.message
    steps = g.summary["steps"]
    assert steps[-1]["ended_by"].startswith("starts beyond the cut-off")
    assert 4 <= len(steps) < 100 and any(s["ended_by"] == "cut-off 3.9 V" for s in steps)


# -- temperature ------------------------------------------------------------------------------------
def test_arrhenius_factors_and_the_temperature_option():
    import math

    from fem_twin.commands.discharge import parse_temperature
    from fem_twin.fem.settings import DischargeSettings
    from fem_twin.parameters.cell import GAS_CONSTANT, ParameterSet

    p = ParameterSet()
    assert p.at_temperature() == p and p.at_temperature(323.15).k_ncm == p.k_ncm  # off by default
    assert p.at_temperature(323.15).temperature_K == 323.15
    ea = {"activation_energy_k_J_mol": 30e3, "activation_energy_d_ncm_J_mol": 40e3,
          "activation_energy_d_lpscl_J_mol": 25e3, "activation_energy_sigma_lpscl_J_mol": 20e3}
    q = p.with_overrides(ea)
    hot = q.at_temperature(323.15)
    f = lambda e: math.exp(-e / GAS_CONSTANT * (1 / 323.15 - 1 / 303.15))  # noqa: E731
    assert hot.k_ncm == pytest.approx(p.k_ncm * f(30e3), rel=1e-12)
    assert hot.d_ncm_m2_s == pytest.approx(p.d_ncm_m2_s * f(40e3), rel=1e-12)
    assert hot.d_lpscl_m2_s == pytest.approx(p.d_lpscl_m2_s * f(25e3), rel=1e-12)
    assert hot.sigma_lpscl(0.4) == pytest.approx(p.sigma_lpscl(0.4) * f(20e3), rel=1e-12)
    assert hot.at_temperature() == hot and hot.reference_temperature_K == 323.15  # applied once
    assert hot.at_temperature(303.15).k_ncm == pytest.approx(p.k_ncm, rel=1e-12)  # and back
    assert q.at_temperature(303.15) == q
    assert [parse_temperature(x) for x in ("303.15", "303.15K", "30C", " 25 c")] == \
        pytest.approx([303.15, 303.15, 303.15, 298.15])
    for bad in ("hot", "30F", "1000", "-300C"):
        with pytest.raises(InputError, match="--temperature"):
            parse_temperature(bad)
    st = DischargeSettings(temperature_K=313.15)
    assert DischargeSettings.from_json(st.to_json()) == st and st.parameters().temperature_K == 313.15
    assert "temperature_K" not in DischargeSettings().to_dict()
    with pytest.raises(InputError, match="temperature_K"):
        DischargeSettings(temperature_K=500.0)
    with pytest.raises(InputError, match="activation_energy_k_J_mol"):
        p.with_overrides({"activation_energy_k_J_mol": -1.0})


def test_temperature_option_and_run(tmp_path):
    """--temperature 60C reaches the run: with activation energies the hotter cell's kinetics and
    transport are faster, so its 2C discharge voltage is higher; the summary's parameters are the
    scaled ones."""
    from test_settings import _cli_args

    from fem_twin._dolfinx import MPI
    from fem_twin.commands.discharge import settings_from_args
    from fem_twin.parameters.cell import ParameterSet

    assert settings_from_args(_cli_args("--temperature", "60C")).temperature_K == pytest.approx(333.15)
    ea = ParameterSet().with_overrides({"activation_energy_k_J_mol": 30e3, "activation_energy_d_ncm_J_mol": 30e3,
                                        "activation_energy_sigma_lpscl_J_mol": 20e3})
    runs = {}
    for T in (303.15, 333.15):
        res = _column_run(MPI.COMM_SELF, tmp_path / f"T{T}", "discharge 2C for 120 s",
                          params=ea.with_overrides({"temperature_K": T}))
        assert res.complete, res.message
        runs[T] = res
    cold, hot = runs[303.15], runs[333.15]
    assert hot.summary["parameters"]["k_ncm"] == pytest.approx(ea.at_temperature(333.15).k_ncm, rel=1e-12)
    assert cold.summary["parameters"]["k_ncm"] == ea.k_ncm
    assert hot.rows[-1]["voltage_V"] > cold.rows[-1]["voltage_V"] + 1e-3


def test_p2d_experiment_strings_of_holds():
    from fem_twin.p2d import experiment_steps

    assert experiment_steps(Protocol.parse(CCCV + "; hold at 4.2 V for 10 min; hold at 4.1 V until C/50 for 1 h")) == [
        "Charge at 0.5C until 4.3 V", "Hold at 4.3 V until C/20", "Hold at 4.2 V for 600 seconds",
        "Hold at 4.1 V for 3600 seconds or until C/50"]
