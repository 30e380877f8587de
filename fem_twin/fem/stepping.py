"""Adaptive backward-Euler time loop over a protocol, and the whole run from a tagged mesh.

Per protocol step (constant current, rest or constant-voltage hold): the potentials are first
solved alone under the new control (concentrations frozen; the instantaneous IR/kinetic jump),
then time steps follow. A CC step or a rest fixes the current (:class:`~fem_twin.fem.control.
CurrentControl`), a hold the voltage (:class:`~fem_twin.fem.control.VoltageControl`): the same
Newton system, only its global row changes, and the hold's current (the CSV's ``current_A``) is
the interface current of each accepted state. A hold starts with the first time step of an hour
at 1C (and its collapse and saturation guards count in that hour); its steps grow by ``grow`` while the current changes by less than ``max_dI`` of itself per
step, up to ``dt_max`` of an hour at its end C-rate; a step whose current falls past the end
current by more than ``cutoff_tol_I`` is shortened (interpolated in ln|I|).
After each attempt:

- Newton failed (SNES diverged, not converged within ``newton_max_its`` iterations -- a step
  longer than ``saturation_dt`` of an hour; shorter ones keep SNES's limit --, a PETSc error, or
  a concentration left (0, c_max)):
  restore the last accepted state, cut dt by ``cut`` and retry, at most ``max_cutbacks`` times
  in a row and never below ``dt_min_s``; otherwise the run stops (incomplete);
- the voltage crossed the step's cut-off by more than ``cutoff_tol_V``: retry with the step
  shortened by linear interpolation, so the run ends within the tolerance of the cut-off;
- accepted: grow dt by ``grow`` after an easy step (<= ``easy_newton_its`` iterations) unless
  the voltage changed by more than ``max_dV`` (then shrink proportionally), capped by ``dt_max_s``.

A discharge ends at the cut-off voltage, when the mean lithiation reaches ``max_lithiation``, or
when the NCM surface saturates (c_s -> c_max: the step fails for concentration bounds even after
every cut-back, or for concentration bounds below ``saturation_dt``, or for any reason below
``saturation_dt`` once the time step creeps with a saturated surface:
:class:`~fem_twin.fem.terminations.SurfaceSaturation`; the kinetic factor sqrt(c_max - c_s)
vanishes and the current cannot be carried).

Step-collapse guard: no run goes on for ever with a vanishing time step. When ``collapse_steps``
accepted steps in a row are shorter than ``collapse_dt`` hours, or the last ``stall_steps``
accepted steps together cover less than ``stall_dt`` hours (the mean lithiation has stopped
advancing), the step ends: with ``ended_by`` "surface saturation at x_mean = ..., voltage ... V
(...)" when the NCM lithiation has reached 0.99 somewhere (discharge; "surface delithiation"
below 0.01 on charge) and the protocol goes on, otherwise the run fails ("time step collapse
at t = ...", complete False, exit code 1). Each of these rules is a small object in
:mod:`fem_twin.fem.terminations`.

Restarts: the loop's position after an accepted step is a :class:`LoopState` (a plain dict via
``to_dict``); ``on_accepted`` sees it after every accepted step (checkpoints, SIGTERM: see
:mod:`fem_twin.fem.checkpoint`) and ``resume`` continues from one, with the problem restored.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from ..protocol import Protocol, Step
from .control import CurrentControl, VoltageControl
from .discharge import CONCENTRATION_FAILURE
from .settings import SteppingOptions
from .terminations import (Accepted, CurrentBelow, Ended, Failed, SurfaceSaturation, accepted_terminations,
                           beyond)


def _hour(step: Step) -> float:
    return step.time_scale_s()


def control_of(step: Step, i_1c_A: float, t_step_s: float = 0.0):
    """The :mod:`fem_twin.fem.control` object of a step: the applied current of a CC step or a rest,
    the held voltage of a CV hold, a profile's current from ``t_step_s`` (s into the step) on."""
    if step.potentiostatic:
        return VoltageControl(step.hold_V)
    if step.kind == "profile":
        return CurrentControl(step.profile_current_A(t_step_s, i_1c_A))
    return CurrentControl(step.current_A(i_1c_A))


@dataclass
class LoopState:
    """Where :func:`run_protocol` stands after an accepted time step (what a restart needs).

    ``step_index`` is the protocol step in progress (0-based), ``t_step_s`` and ``charge_C``
    count within that step, ``dt_s`` is the next step length to try, ``v_prev`` the voltage of
    the last accepted state; ``ended``/``reason``: the step ended with this accepted state (the
    next protocol step has not started yet); ``steps`` the summaries of the finished steps.
    """

    step_index: int = 0
    t_s: float = 0.0
    t_step_s: float = 0.0
    charge_C: float = 0.0
    dt_s: float = 0.0
    v_prev: float = 0.0
    accepted: int = 0
    rejected: int = 0
    ended: bool = False
    reason: str = ""
    steps: list = field(default_factory=list)
    #: energy delivered in the step (J, > 0 on discharge) and the last accepted current (A)
    energy_J: float = 0.0
    i_prev: float = 0.0
    #: step-collapse guard: accepted steps in a row below the floor, times of the last accepted steps
    short_steps: int = 0
    recent_t: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LoopState":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class ProtocolOutcome:
    """How :func:`run_protocol` ended.

    ``complete``: every protocol step ended (``message`` "ok"); otherwise ``message`` says why not
    and ``failed_step`` (1-based) and ``time_s`` where. ``steps``: a summary dict per finished step
    (``step``, ``description``, ``end_time_s``, ``end_voltage_V``, ``charge_C``, ``ended_by``; the
    caller may add capacities). ``rejected_steps``: rejected time steps (reported by a complete or
    interrupted run; 0 when a step failed). ``interrupted``: stopped by ``on_accepted`` (a
    checkpoint can continue it); ``input_error``: the cell starts beyond a step's cut-off.
    """

    complete: bool
    message: str
    steps: list = field(default_factory=list)
    rejected_steps: int = 0
    failed_step: int | None = None
    time_s: float | None = None
    interrupted: bool = False
    input_error: bool = False

    def to_dict(self) -> dict:
        """A plain dict for JSON: ``complete``, ``message``, ``steps``, ``rejected_steps`` and, when
        the run did not complete, ``failed_step``, ``time_s``, ``interrupted``, ``input_error``."""
        d = {"complete": self.complete, "message": self.message, "steps": self.steps,
             "rejected_steps": self.rejected_steps}
        if not self.complete:
            d.update(failed_step=self.failed_step, time_s=self.time_s, interrupted=self.interrupted,
                     input_error=self.input_error)
        return d


def _each_time_once(on_fields):
    """``on_fields`` that skips a second call for the time of the last one: a step that ends after
    a failed attempt (surface saturation) restored the last accepted state, which the accepted step
    may have written already; XDMF cannot hold one time twice (HDF5 refuses to grow the
    dataset: "H5Dset_extent ... dataset has contiguous storage")."""
    if on_fields is None:
        return None
    last = []

    def write(t):
        if last and t == last[0]:
            return
        last[:] = [t]
        on_fields(t)

    return write


def run_protocol(problem, protocol: Protocol, i_1c_A: float, options: SteppingOptions,
                 on_row=None, on_fields=None, log=None, resume: LoopState | None = None,
                 on_accepted=None) -> ProtocolOutcome:
    """Run every step; calls ``on_row(row)`` per accepted state and ``on_fields(t)`` for output.

    Returns a :class:`ProtocolOutcome`. A step failure is reported in it (``complete`` False),
    not raised, so the caller can write its files.

    ``on_accepted(state)`` (a :class:`LoopState`, collective) is called after every accepted
    time step except the one that ends the protocol; a string returned stops the run there as
    incomplete with that message (``interrupted`` True in the outcome). ``resume``: continue
    from such a state, with the problem's fields, V and predictor history restored to it.
    """
    on_fields = _each_time_once(on_fields)
    st = LoopState() if resume is None else LoopState.from_dict(resume.to_dict())
    rules = accepted_terminations(options, st, i_1c_A)  # (the collapse guard keeps its counters in st)
    saturation = SurfaceSaturation(options, CONCENTRATION_FAILURE, st)
    end_current = CurrentBelow(i_1c_A)
    last = len(protocol.steps) - 1
    k = st.step_index - 1
    while k + 1 < len(protocol.steps):
        k += 1
        step = protocol.steps[k]
        control = control_of(step, i_1c_A, st.t_step_s if resume is not None and k == st.step_index else 0.0)
        cv = control.potentiostatic
        dt_max = options.max_dt_s(_hour(step))
        # the guards' (and the first step's) hour: a hold's current starts near the 1C scale
        hour = 3600.0 if cv else _hour(step)
        i_lim = end_current.limit_A(step)  # a hold's end current (A), else None
        t = st.t_s
        if resume is not None and k == st.step_index:  # continue inside this step
            dt, charge_C, t_step, v_prev = st.dt_s, st.charge_C, st.t_step_s, st.v_prev
            energy_J, i_prev = st.energy_J, st.i_prev
            ended, reason = st.ended, st.reason
        else:
            # a hold starts with the steps of an hour at 1C: its current may start large
            dt = options.first_dt_s(hour)
            charge_C = energy_J = 0.0
            t_step = 0.0
            # potentials under the new control, concentrations frozen
            ok, its, lits, why = problem.solve(_solve_arg(control), 1.0, transport=False)
            if not ok:
                return _fail(st.steps, k, step, t, f"the potentials at the start of step {k + 1} "
                             f"({step.describe()}) did not converge (SNES reason {why})")
            v_prev = float(problem.V.value)
            row = _row(problem, t, k, None if cv else control.current_A, charge_C, 0.0, its, lits)
            i_prev = row["current_A"]
            on_row and on_row(row)
            if k == 0:
                on_fields and on_fields(t)
            if step.until_V is not None and beyond(step, v_prev, step.until_V) and protocol.block_end(k) is not None \
                    and k > 0:
                # a step of a repeated block (a GITT pulse) that starts beyond its cut-off ends the block
                end = protocol.block_end(k)
                log and log(f"  step {k + 1} starts beyond its cut-off: the block ends (steps {k + 1}-{end} skipped)")
                st.steps.append(step_summary(k, step, t, 0.0, v_prev, i_prev, 0.0, 0.0,
                                             f"starts beyond the cut-off: steps {k + 1}-{end} of its block skipped"))
                k = end - 1
                continue
            if step.until_V is not None and beyond(step, v_prev, step.until_V):
                return _fail(st.steps, k, step, t,
                             f"the cell starts beyond the cut-off of step {k + 1} ({step.describe()}): "
                             f"V = {v_prev:.4f} V at {step.c_rate:g}C", input_error=True)
            ended, reason = False, ""
            if i_lim is not None and abs(i_prev) <= i_lim:
                ended, reason = True, f"current below C/{1.0 / step.until_c_rate:g} at the start ({i_prev:.4g} A)"
            st.short_steps, st.recent_t = 0, []
        cutbacks = 0
        while not ended:
            if step.duration_s is not None:
                dt = min(dt, step.duration_s - t_step)
            if step.kind == "profile":  # piecewise constant: no step across a break
                dt = min(dt, step.profile_next_break_s(t_step) - t_step)
                control = control_of(step, i_1c_A, t_step)
            snap = problem.snapshot()
            # (steps shorter than the saturation threshold keep SNES's own limit: near a saturated
            # surface Newton needs its iterations to show the concentration bound that ends the step)
            limit = options.newton_max_its if dt > options.saturation_dt * hour else None
            ok, its, lits, why = problem.solve(_solve_arg(control), dt, max_its=limit,
                                               lithiation_overshoot=options.lithiation_overshoot)
            v = float(problem.V.value)
            if not ok:
                problem.restore(snap)
                cutbacks += 1
                verdict = saturation.check(why, step, dt, hour, cutbacks, t, k + 1, problem)
                if isinstance(verdict, Ended):
                    ended, reason = True, verdict.reason
                    on_fields and on_fields(t)
                    break
                if isinstance(verdict, Failed):
                    return _fail(st.steps, k, step, t, verdict.message)
                st.rejected += 1
                log and log(f"  step rejected ({why}), dt {dt:.3g} -> {dt * options.cut:.3g} s")
                dt *= options.cut
                continue
            if step.until_V is not None and beyond(step, v, step.until_V) \
                    and abs(v - step.until_V) > options.cutoff_tol_V and dt > options.dt_min_s:
                problem.restore(snap)
                frac = (v_prev - step.until_V) / (v_prev - v) if v != v_prev else 0.5
                dt = max(dt * min(max(frac, 0.05), 0.9), options.dt_min_s)
                continue
            current = -problem.interface_current_A() if cv else control.current_A
            if i_lim is not None and abs(current) < i_lim * (1.0 - options.cutoff_tol_I) \
                    and abs(i_prev) > i_lim and dt > options.dt_min_s:
                # the hold's current fell past its end value: shorten the step (ln|I| linear in t)
                problem.restore(snap)
                a0, a1 = math.log(abs(i_prev)), math.log(max(abs(current), 1e-300))
                frac = (a0 - math.log(i_lim)) / (a0 - a1) if a0 != a1 else 0.5
                dt = max(dt * min(max(frac, 0.05), 0.9), options.dt_min_s)
                continue
            # accepted
            cutbacks = 0
            problem.accept(dt, control.key)
            t += dt
            t_step += dt
            charge_C += current * dt  # (backward Euler: the end-of-step current, as the Li balance)
            energy_J += v * current * dt
            st.accepted += 1
            row = _row(problem, t, k, current, charge_C, dt, its, lits)
            on_row and on_row(row)
            acc = Accepted(problem, step, v, row["mean_lithiation"], t, t_step, dt, hour, k + 1, current)
            verdict = next((x for x in (rule.check(acc) for rule in rules) if x is not None), None)
            if isinstance(verdict, Failed):
                on_fields and on_fields(t)
                return _fail(st.steps, k, step, t, verdict.message)
            if isinstance(verdict, Ended):
                ended, reason = True, verdict.reason
            if ended or (on_fields and st.accepted % options.output_every == 0):
                on_fields and on_fields(t)
            # next dt
            grow = options.grow if its <= options.easy_newton_its else 1.0
            if cv:  # the current is the output: limit its relative change per step
                di = abs(current - i_prev) / max(abs(i_prev), i_lim or 0.0, 1e-300)
                if di > options.max_dI:
                    grow = min(grow, max(0.3, options.max_dI / di))
            else:
                dv = abs(v - v_prev)
                if dv > options.max_dV:
                    grow = min(grow, max(0.3, options.max_dV / dv))
            dt = min(dt * grow, dt_max)
            v_prev, i_prev = v, current
            if on_accepted is not None and not (ended and k == last):
                st.step_index, st.t_s, st.t_step_s, st.charge_C = k, t, t_step, charge_C
                st.dt_s, st.v_prev, st.ended, st.reason = dt, v_prev, ended, reason
                st.energy_J, st.i_prev = energy_J, i_prev
                stop = on_accepted(st)
                if stop:
                    return ProtocolOutcome(False, str(stop), st.steps, st.rejected, failed_step=k + 1, time_s=t,
                                           interrupted=True)
        st.steps.append(step_summary(k, step, t, t_step, v_prev, i_prev, charge_C, energy_J, reason))
        st.t_s = t
    return ProtocolOutcome(True, "ok", st.steps, st.rejected)


def step_summary(k: int, step: Step, t: float, duration_s: float, v_end: float, i_end: float, charge_C: float,
                 energy_J: float, reason: str) -> dict:
    """The summary of a finished protocol step: ``step`` (1-based), ``kind``, ``description``,
    ``end_time_s``, ``duration_s`` (s), ``end_voltage_V``, ``end_current_A``, ``charge_C`` (C, > 0
    discharge), ``energy_J`` (J, delivered: > 0 discharge), ``mean_voltage_V`` (energy / charge; None
    without charge), ``ended_by``."""
    return {"step": k + 1, "kind": step.kind, "description": step.describe(), "end_time_s": t,
            "duration_s": duration_s, "end_voltage_V": v_end, "end_current_A": i_end, "charge_C": charge_C,
            "energy_J": energy_J, "mean_voltage_V": energy_J / charge_C if charge_C != 0.0 else None,
            "ended_by": reason}


def _solve_arg(control):
    """What ``problem.solve`` gets: the current in A of a galvanostatic step (the problem's plain
    interface), the :class:`VoltageControl` of a hold."""
    return control if control.potentiostatic else control.current_A


def _fail(steps_summary, k, step, t, message, input_error=False) -> ProtocolOutcome:
    return ProtocolOutcome(False, message, steps_summary, failed_step=k + 1, time_s=t, input_error=input_error)


def _row(problem, t, k, current, charge_C, dt, its, lits) -> dict:
    """A CSV row (collective); ``current`` None: the interface current (a hold's output)."""
    i_if = -problem.interface_current_A()
    return {"time_s": float(t), "step": int(k), "voltage_V": float(problem.V.value),
            "current_A": float(i_if if current is None else current),
            "charge_C": float(charge_C), "mean_lithiation": problem.mean_lithiation(), "dt_s": float(dt),
            "newton_its": int(its), "linear_its": int(lits),
            "interface_current_A": i_if, "li_current_A": problem.li_current_A(),
            "li_in_ncm_mol": problem.lithium_in_ncm_mol(),
            "max_lithiation": problem.field_range(problem.theta_s)[1],
            "lithiation_excess": problem.lithiation_excess()}


def capacities(charge_C: float, mass_g: float, area_cm2: float) -> tuple[float, float]:
    """(mAh/g, mAh/cm2) of a passed charge (absolute value)."""
    mah = abs(charge_C) / 3.6
    return mah / mass_g, mah / area_cm2


__all__ = ["SteppingOptions", "LoopState", "ProtocolOutcome", "run_protocol", "capacities"]
