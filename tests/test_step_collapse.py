"""Runs that never end (issue 16): the step-collapse guard of the time loop and OCP-table validation.

- a fake problem whose time step collapses: the loop ends (surface saturation -> step ended,
  protocol goes on; otherwise a failed run with "time step collapse"), never loops for ever;
- the issue's case: one NCM particle in an ideal electrolyte with the plain ``ocp = "chen2020"``
  (no end-of-discharge drop), 1C to 2.5 V, ends by surface saturation near the 1D
  single-particle model's end time (also on 2 ranks);
- OCP tables: NaN, different lengths, a rising U, a range not covering the initial lithiation or
  max_lithiation are refused with the list, index and value in the message; ``extend = true``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from fem_twin.errors import InputError
from fem_twin.fem.stepping import LoopState, SteppingOptions, run_protocol
from fem_twin.parameters.cell import ParameterSet
from fem_twin.parameters.ocp import OpenCircuitPotential
from fem_twin.protocol import Protocol


class CollapsingProblem:
    """A stand-in for DischargeProblem whose Newton fails on discharge for dt > ``dt_ok`` once t > ``t_bad``.

    Without a guard the time loop accepts ~1 ms steps for ever (the voltage is far from the
    cut-off); ``max_solves`` turns that into an error so the test fails instead of hanging.
    """

    def __init__(self, surface_max=0.999, t_bad=100.0, dt_ok=1e-3, max_solves=20000, surface_min=0.27,
                 fails=lambda current: current > 0):
        self.params = ParameterSet()
        self.V = SimpleNamespace(value=4.2)
        self.theta_s = "theta_s"
        self.t = 0.0
        self.surface_max, self.t_bad, self.dt_ok, self.max_solves = surface_max, t_bad, dt_ok, max_solves
        self.surface_min, self.fails = surface_min, fails
        self.solves = 0
        self.accepted = []  #: the accepted time steps (s)

    def solve(self, current, dt, transport=True, max_its=None, lithiation_overshoot=0.0):
        self.solves += 1
        if self.solves > self.max_solves:
            raise RuntimeError("the time loop did not end")
        if not transport:
            return True, 1, 1, "2"
        self._dt = dt
        if self.fails(current) and self.t > self.t_bad and dt > self.dt_ok:
            return False, 50, 50, "-3"
        self.V.value = 4.2 - 1e-4 * (self.t + dt)
        return True, 1, 1, "2"

    def snapshot(self):
        return self.V.value

    def restore(self, snap):
        self.V.value = snap

    def accept(self, dt, current):
        self.t += dt
        self.accepted.append(dt)

    def mean_lithiation(self):
        return 0.27 + 1e-4 * self.t

    def interface_current_A(self):
        return -1.0

    def li_current_A(self):
        return 1.0

    def lithium_in_ncm_mol(self):
        return 0.0

    def lithiation_excess(self):
        return 0.0

    def field_range(self, u):
        return self.surface_min, self.surface_max


def test_collapsing_time_step_ends_the_step_as_surface_saturation():
    # (Newton fails only above saturation_dt = 0.72 s at 1C, so the failures do not end the step
    # themselves: the accepted steps below the floor do, after collapse_steps of them)
    pb = CollapsingProblem(surface_max=0.9995, dt_ok=SteppingOptions().saturation_dt * 3600.0 * 1.01)
    out = run_protocol(pb, Protocol.parse("discharge 1C to 3.0 V; rest 1 min"), 1.0, SteppingOptions())
    assert out.complete, out.message
    first = out.steps[0]["ended_by"]
    assert first.startswith("surface saturation at x_mean = ") and "accepted steps" in first, first
    assert out.steps[1]["ended_by"] == "duration"  # the protocol went on
    assert pb.solves < 2000


def test_a_short_failed_step_at_a_saturated_surface_ends_the_step():
    """Any failure (here a linear solve, -3) of a step shorter than saturation_dt ends the step as
    surface saturation once the time step creeps (the last accepted step below collapse_dt) and the
    NCM surface is saturated: no collapse_steps tiny steps first (each ~2 min on the seed's full
    cell). The first failures below the floor, before any short step was accepted, are cut back."""
    opts = SteppingOptions()
    floor = opts.saturation_dt * 3600.0
    pb = CollapsingProblem(surface_max=0.9995)
    out = run_protocol(pb, Protocol.parse("discharge 1C to 3.0 V; rest 1 min"), 1.0, opts)
    assert out.complete, out.message
    first = out.steps[0]
    assert first["ended_by"].startswith("surface saturation at x_mean = ") and "failed: -3" in first["ended_by"]
    dt_failed = float(first["ended_by"].split("a step of ")[1].split(" s failed")[0])
    assert dt_failed < floor
    short = [dt for dt in pb.accepted if dt < floor]
    assert 1 <= len(short) < opts.collapse_steps  # creeping, but ended long before the collapse guard
    assert out.steps[1]["ended_by"] == "duration"  # the protocol went on
    # an unsaturated surface: the same failures are cut back (and the collapse guard ends the run)
    pb = CollapsingProblem(surface_max=0.98)
    out = run_protocol(pb, Protocol.parse("discharge 1C to 3.0 V"), 1.0, opts)
    assert not out.complete and "time step collapse" in out.message and "not saturated" in out.message


def test_with_an_accepted_overshoot_a_short_failure_must_repeat_before_it_ends_the_step():
    """With lithiation_overshoot > 0 the surface stays above 0.99 while the cell still carries the
    current (the smoothed kinetics): a failure of a short step (here a linear solve, -3) is cut
    back; the step ends as surface saturation only after SATURATION_FAILURES_WITH_OVERSHOOT
    failures in a row (each at a quarter of the dt before). Failures that recover after a cut-back
    leave the end to the collapse guard (collapse_steps short accepted steps)."""
    from fem_twin.fem.terminations import SATURATION_FAILURES_WITH_OVERSHOOT as n

    floor = SteppingOptions().saturation_dt * 3600.0

    class Stuck(CollapsingProblem):  # once a short step was accepted past t_bad, every solve fails
        def solve(self, current, dt, transport=True, max_its=None, lithiation_overshoot=0.0):
            if transport and self.t > self.t_bad and self.accepted and self.accepted[-1] < floor:
                self.solves += 1
                return False, 50, 50, "-3"
            return super().solve(current, dt, transport, max_its, lithiation_overshoot)

    def end(tol, pb):
        out = run_protocol(pb, Protocol.parse("discharge 1C to 3.0 V"), 1.0, SteppingOptions(lithiation_overshoot=tol))
        assert out.complete, out.message
        why = out.steps[0]["ended_by"]
        return why, float(why.split("a step of ")[1].split(" s failed")[0]) if "a step of" in why else None

    why0, dt0 = end(0.0, Stuck(surface_max=1.01, dt_ok=floor / 8))
    why, dt = end(0.05, Stuck(surface_max=1.01, dt_ok=floor / 8))
    assert why0.startswith("surface saturation") and why.startswith("surface saturation") and "failed: -3" in why
    assert dt == pytest.approx(dt0 * SteppingOptions().cut ** (n - 1), rel=1e-9), (why0, why)
    # failures that recover after one cut-back: no end by this rule, the collapse guard's instead
    why, dt = end(0.05, CollapsingProblem(surface_max=1.01, dt_ok=floor / 8))
    assert dt is None and "accepted steps" in why, why
    why0, dt0 = end(0.0, CollapsingProblem(surface_max=1.01, dt_ok=floor / 8))
    assert dt0 is not None and floor / 8 < dt0 < floor, why0


def test_a_step_ended_after_a_failed_attempt_writes_its_fields_once():
    """The last accepted state is written when a step ends (and every output_every steps); a step
    ended by a failed attempt at a saturated surface named that state again: XDMF then failed with
    an HDF5 error at the end of the README's demo. Each time is written once, in order."""
    opts = SteppingOptions(output_every=1)
    pb = CollapsingProblem(surface_max=0.9995)
    times = []
    out = run_protocol(pb, Protocol.parse("discharge 1C to 3.0 V; rest 1 min"), 1.0, opts, on_fields=times.append)
    assert out.complete, out.message
    assert "failed: -3" in out.steps[0]["ended_by"]
    assert len(times) == len(pb.accepted) + 1  # the start and every accepted state
    assert all(b > a for a, b in zip(times, times[1:])), times


def test_a_short_failure_without_a_creeping_time_step_is_cut_back():
    """A protocol step that starts on a saturated surface (a C/10 top-up right after a 1C discharge)
    and fails a few times: its failures below saturation_dt are cut back until a short step is
    accepted, not taken as the end at once."""
    opts = SteppingOptions(collapse_steps=0)
    pb = CollapsingProblem(surface_max=0.9995, t_bad=-1.0, dt_ok=0.5)  # fails above 0.5 s from the start
    out = run_protocol(pb, Protocol.parse("discharge 1C to 3.0 V"), 1.0, opts)
    assert out.complete, out.message
    # dt 36 s -> 9 -> 2.25 -> 0.5625 s (below the 0.72 s floor, but nothing accepted yet: cut back)
    # -> 0.14 s accepted, growing to 0.576 s, which fails and ends the step
    assert pb.accepted[0] == pytest.approx(36.0 * opts.cut ** 4)
    assert out.steps[0]["ended_by"].endswith("(a step of 0.576 s failed: -3)"), out.steps[0]["ended_by"]


def test_charge_ends_by_surface_delithiation_and_rests_are_never_ended():
    """Charge: the emptied surface (<= 0.01) ends a creeping, failing charge step; a rest whose solves
    fail below the floor is cut back and fails the run (a rest has no surface to saturate)."""
    pb = CollapsingProblem(surface_min=0.005, surface_max=0.5, fails=lambda current: current < 0)
    out = run_protocol(pb, Protocol.parse("charge 1C to 4.3 V"), 1.0, SteppingOptions())
    assert out.complete, out.message
    assert out.steps[0]["ended_by"].startswith("surface delithiation at x_mean = ")
    pb = CollapsingProblem(surface_max=0.9995, fails=lambda current: current == 0, t_bad=-1.0, dt_ok=0.0)
    out = run_protocol(pb, Protocol.parse("rest 10 min"), 1.0, SteppingOptions())
    assert not out.complete and "time step failed" in out.message


def test_collapse_without_a_saturated_surface_is_a_failed_run():
    pb = CollapsingProblem(surface_max=0.6)
    out = run_protocol(pb, Protocol.parse("discharge 1C to 3.0 V"), 1.0, SteppingOptions())
    assert not out.complete
    assert out.message.startswith("time step collapse at t = ") and "not saturated" in out.message


def test_stalled_mean_lithiation_ends_the_run():
    """dt 0.8 s, just above the floor (2e-4 h = 0.72 s at 1C), for ever: the window criterion (200
    accepted steps covering less than 0.05 h) ends it."""
    pb = CollapsingProblem(dt_ok=0.85)
    opts = SteppingOptions(dt_initial_s=3.2, grow=1.0)
    out = run_protocol(pb, Protocol.parse("discharge 1C to 3.0 V"), 1.0, opts)
    assert out.complete, out.message
    assert "the last 200 accepted steps advanced only" in out.steps[0]["ended_by"]


def test_protocol_outcome_is_frozen_and_keeps_the_summary_keys():
    """run_protocol returns a frozen ProtocolOutcome; to_dict has the keys discharge.json's summary
    is made of (and, for an unfinished run, where and why it stopped)."""
    import dataclasses

    from fem_twin.fem.stepping import ProtocolOutcome

    out = run_protocol(CollapsingProblem(surface_max=0.6), Protocol.parse("discharge 1C to 3.0 V"), 1.0,
                       SteppingOptions())
    assert isinstance(out, ProtocolOutcome) and not out.complete and out.failed_step == 1
    assert out.time_s > 0 and not out.interrupted and not out.input_error and out.rejected_steps == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.complete = True
    assert out.to_dict() == {"complete": False, "message": out.message, "steps": [], "rejected_steps": 0,
                             "failed_step": 1, "time_s": out.time_s, "interrupted": False, "input_error": False}
    ok = run_protocol(CollapsingProblem(surface_max=0.9995), Protocol.parse("discharge 1C to 3.0 V"), 1.0,
                      SteppingOptions())
    assert ok.complete and ok.message == "ok"
    assert set(ok.to_dict()) == {"complete", "message", "steps", "rejected_steps"}
    assert ok.to_dict()["steps"][0]["step"] == 1


def test_guard_counters_survive_a_restart():
    st = LoopState(short_steps=7, recent_t=[1.0, 2.0])
    back = LoopState.from_dict(st.to_dict())
    assert back.short_steps == 7 and back.recent_t == [1.0, 2.0]
    assert LoopState.from_dict({"t_s": 3.0}).short_steps == 0  # checkpoints written before the guard


@pytest.mark.mpi
def test_chen2020_single_particle_ends_like_the_1d_model(shared_dir):
    """The issue's run that never ended: one particle, ideal electrolyte, ``ocp = "chen2020"``, 1C to
    2.5 V (the cut-off is never reached: the plain Chen 2020 fit stays above 3.49 V). The surface
    saturates; the 3D run ends by surface saturation within 1 % of the time at which the 1D
    single-particle model (same volume, area and diffusion radius) saturates (4106 s, 3D 4117 s
    for a 4-voxel hemisphere)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_discharge_verification import SPM_OVERRIDES, hemisphere_on_collector

    from fem_twin._dolfinx import MPI
    from fem_twin.fem import reference_spm as spm
    from fem_twin.fem.discharge_run import run_discharge

    p = ParameterSet().with_overrides({**SPM_OVERRIDES, "ocp": "chen2020"})
    h = 1.0 / 3.0
    res = run_discharge(hemisphere_on_collector(4), h, shared_dir, params=p,
                        protocol=Protocol.parse("discharge 1C to 2.5 V"), separator_um=h,
                        comm=MPI.COMM_WORLD, write_fields=False, quiet=True)
    assert res.complete, res.message
    step = res.summary["steps"][0]
    assert step["ended_by"].startswith("surface saturation at x_mean = "), step
    vol, area = res.summary["mesh"]["ncm_volume_um3"] * 1e-18, res.summary["mesh"]["interface_area_um2"] * 1e-12
    radius = spm.SphereGeometry.from_volume_area(2 * vol, 2 * area, "volume").radius_m
    ref = spm.discharge(p, spm.SphereGeometry(vol, area, radius), res.rows[-1]["current_A"], 2.5, dt_s=1.0)
    assert ref.ended_by == "surface saturated"
    assert step["end_time_s"] == pytest.approx(ref.time_s[-1], rel=0.01)
    assert res.rows[-1]["mean_lithiation"] == pytest.approx(ref.x_mean[-1], abs=0.01)
    assert len(res.rows) < 200
    if MPI.COMM_WORLD.rank == 0:
        import json

        summary = json.loads((shared_dir / "discharge.json").read_text())
        assert summary["complete"] and summary["steps"][0]["ended_by"] == step["ended_by"]


# ------------------------------------------------------------------------------------------------
# OCP tables
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("table,field,words", [
    ({"x": [0.2, 0.6, 1.0], "u_V": [4.4, 3.8]}, "ocp.x/ocp.u_V", "3 x values and 2 u_V values"),
    ({"x": [0.2, float("nan"), 1.0], "u_V": [4.4, 3.8, 3.4]}, "ocp.x[1]", "finite"),
    ({"x": [0.2, 0.6, 1.0], "u_V": [4.4, float("inf"), 3.4]}, "ocp.u_V[1]", "finite"),
    ({"x": [0.2, 0.6, 1.0], "u_V": [3.4, 3.8, 4.4]}, "ocp.u_V[1]", "not monotone"),
    ({"x": [0.2, 0.6, 0.6, 1.0], "u_V": [4.4, 3.8, 3.7, 3.4]}, "ocp.x[2]", "strictly increasing"),
    ({"x": [0.5, 0.8, 1.0], "u_V": [4.0, 3.8, 3.4]}, "ocp.x", "initial lithiation 0.27"),
    ({"x": [0.2, 0.6, 0.95], "u_V": [4.4, 3.8, 3.4]}, "ocp.x", "max_lithiation 0.999"),
    ({"x": [0.2, 0.6, 1.0], "u_V": [4.4, "a", 3.4]}, "ocp.u_V[1]", "a number"),
    ({"x": [0.2, 1.0]}, "ocp.u_V", "missing"),
    ({"x": [0.2, 1.0], "u_V": [4, 3], "slope": 1}, "ocp.slope", "unknown key"),
])
def test_bad_ocp_tables_name_what_is_wrong(table, field, words):
    with pytest.raises(InputError) as exc:
        ParameterSet().with_overrides({"ocp": table})
    msg = str(exc.value)
    assert msg.startswith(field + ":") and words in msg, msg


def test_ocp_table_extend_and_good_tables():
    p = ParameterSet().with_overrides({"ocp": {"x": [0.5, 0.8, 0.95], "u_V": [4.0, 3.8, 3.4], "extend": True}})
    assert p.ocp.extend and p.ocp.to_dict()["extend"] is True
    assert float(p.ocp.numpy(0.27)) > 4.0  # first slope extended
    flat = ParameterSet().with_overrides({"ocp": {"x": [0.2, 0.6, 1.0], "u_V": [4.0, 3.8, 3.8]}})
    assert "extend" not in flat.ocp.to_dict()  # unchanged fingerprint of tables without it
    with pytest.raises(InputError, match="ocp.extend"):
        OpenCircuitPotential("table", (0.2, 1.0), (4.0, 3.0), extend="yes")
    with pytest.raises(InputError, match="initial lithiation 0.1"):
        ParameterSet().with_overrides({"initial_lithiation": 0.1, "ocp": {"x": [0.2, 1.0], "u_V": [4.0, 3.0]}})
