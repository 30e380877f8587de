"""What ends a protocol step (or the run): one small object per rule, asked in order by the time loop.

After an accepted time step (:func:`accepted_terminations`, in this order; the first that speaks wins):

- :class:`CutOff`: the voltage reached the step's cut-off -> step ended ``cut-off X V``;
- :class:`MaxLithiation`: the mean lithiation reached ``max_lithiation`` (discharge) or
  ``1 - max_lithiation`` (charge) -> step ended;
- :class:`Duration`: the step's duration has passed -> step ended;
- :class:`CurrentBelow`: a CV hold's |current| fell to its end C-rate -> step ended ``current below C/20``;
- :class:`StepCollapse`: the time step collapsed (``collapse_steps`` accepted steps in a row
  shorter than ``collapse_dt`` h, or the last ``stall_steps`` covering less than ``stall_dt`` h):
  step ended by surface saturation when the NCM surface is saturated (discharge) / emptied
  (charge), otherwise the run fails.

During the run (:class:`WallTime`): the run's wall-time budget is spent -> acted upon like SIGTERM
by :class:`fem_twin.fem.checkpoint.Checkpointer` (a checkpoint, then the run stops, incomplete; continue
it with ``--restart``).

After a failed time step (:class:`SurfaceSaturation`): a concentration-bound failure of a current
step with dt below ``saturation_dt`` h, or after every cut-back, ends the step (the surfaces are
saturated: the kinetics sqrt(c_max - c_s) cannot carry the current). So does any other failure
(Newton diverging, a linear solve failing) of a step shorter than ``saturation_dt`` once the time
step is creeping -- the last accepted step of this protocol step was shorter than ``collapse_dt``
as well -- and the NCM surface of the last accepted state is saturated (discharge) / emptied
(charge): the end the collapse guard would reach after ``collapse_steps`` more tiny steps (on the
seed's full cell, ~2 min each). A single failure without a creeping time step (e.g. the first
steps after a protocol step starts on a saturated surface) is cut back as before. With an accepted
lithiation overshoot (``lithiation_overshoot`` > 0, used with the kinetics smoothed at c_max) the
surface stays above 0.99 while the cell still carries the current, so there the failure has to
repeat :data:`SATURATION_FAILURES_WITH_OVERSHOOT` times in a row (dt cut back in between) first.

Each returns None (go on), :class:`Ended` (the protocol step ends, the protocol goes on) or
:class:`Failed` (the run stops incomplete).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

from ..protocol import Step

#: NCM surface lithiation counted as saturated (discharge; 1 - this: emptied on charge)
SATURATED_SURFACE = 0.99
#: with lithiation_overshoot > 0: consecutive failures of a short step before it counts as saturation
SATURATION_FAILURES_WITH_OVERSHOOT = 3


class Verdict(Enum):
    ENDED = "ended"  #: the protocol step ended normally; the protocol goes on
    FAILED = "failed"  #: the run stops, incomplete


@dataclass(frozen=True)
class Ended:
    reason: str  #: ``ended_by`` of the step summary
    kind = Verdict.ENDED


@dataclass(frozen=True)
class Failed:
    message: str  #: the run's message
    kind = Verdict.FAILED


@dataclass
class Accepted:
    """An accepted time step as the terminations see it."""

    problem: object
    step: Step
    voltage: float
    mean_lithiation: float
    t_s: float  #: time since the start of the protocol
    t_step_s: float  #: time since the start of the protocol step
    dt_s: float
    hour_s: float  #: an hour at the step's C-rate (a rest: its duration; a hold: an hour at 1C)
    step_number: int  #: 1-based
    current_A: float = 0.0  #: the current of the accepted state (A, > 0 discharge; a hold's output)


def beyond(step: Step, v: float, limit: float) -> bool:
    """``v`` past ``limit`` in the step's direction (below on discharge, above on charge)."""
    return v < limit if step.kind == "discharge" else v > limit


class CutOff:
    def check(self, a: Accepted):
        lim = a.step.until_V
        if lim is not None and (beyond(a.step, a.voltage, lim) or abs(a.voltage - lim) < 1e-12):
            return Ended(f"cut-off {lim:g} V")
        return None


class MaxLithiation:
    def check(self, a: Accepted):
        x_max = a.problem.params.max_lithiation
        if a.step.kind == "discharge" and a.mean_lithiation >= x_max:
            return Ended(f"mean lithiation {a.mean_lithiation:.4f}")
        if a.step.kind == "charge" and a.mean_lithiation <= 1.0 - x_max:
            return Ended("fully delithiated")
        return None


class Duration:
    def check(self, a: Accepted):
        if a.step.duration_s is not None and a.t_step_s >= a.step.duration_s * (1 - 1e-12):
            return Ended("duration")
        return None


class CurrentBelow:
    """A CV hold ends when |current| <= ``until_c_rate`` x the 1C current ``i_1c_A`` (A)."""

    def __init__(self, i_1c_A: float | None):
        self.i_1c_A = i_1c_A

    def limit_A(self, step: Step) -> float | None:
        """The end current (A, > 0) of a hold step, None for other steps (or without a 1C current)."""
        if step.kind != "hold" or step.until_c_rate is None or self.i_1c_A is None:
            return None
        return step.until_c_rate * self.i_1c_A

    def check(self, a: Accepted):
        lim = self.limit_A(a.step)
        if lim is not None and abs(a.current_A) <= lim * (1 + 1e-12):
            return Ended(f"current below C/{1.0 / a.step.until_c_rate:g} ({a.current_A:.4g} A)")
        return None


def surface_saturated(problem, step: Step) -> str:
    """'surface saturation' / 'surface delithiation' when the NCM lithiation field has reached its
    bound somewhere (collective), else ''."""
    lo, hi = problem.field_range(problem.theta_s)
    if step.kind == "discharge" and hi >= SATURATED_SURFACE:
        return "surface saturation"
    if step.kind == "charge" and lo <= 1.0 - SATURATED_SURFACE:
        return "surface delithiation"
    return ""


class StepCollapse:
    """The step-collapse guard; its counters live in the loop state (``short_steps``,
    ``recent_t``: they go into checkpoints)."""

    def __init__(self, options, state):
        self.options, self.state = options, state

    def collapsed(self, dt: float, t: float, hour: float) -> str:
        """Update the guard after an accepted step of length ``dt`` ending at ``t``; a description
        when the time step has collapsed, else ''."""
        o, st = self.options, self.state
        floor = o.collapse_dt * hour
        st.short_steps = st.short_steps + 1 if dt < floor else 0
        st.recent_t = (st.recent_t + [float(t)])[-(o.stall_steps + 1):]
        if o.collapse_steps > 0 and st.short_steps >= o.collapse_steps:
            return f"time step below {floor:.3g} s for {st.short_steps} accepted steps"
        if o.stall_steps > 0 and len(st.recent_t) > o.stall_steps \
                and st.recent_t[-1] - st.recent_t[0] < o.stall_dt * hour:
            return (f"the last {o.stall_steps} accepted steps advanced only "
                    f"{st.recent_t[-1] - st.recent_t[0]:.3g} s")
        return ""

    def check(self, a: Accepted):
        why = self.collapsed(a.dt_s, a.t_s, a.hour_s)
        if not why:
            return None
        saturated = surface_saturated(a.problem, a.step)
        if not saturated:
            return Failed(f"time step collapse at t = {a.t_s:.6g} s in step {a.step_number} ({a.step.describe()}): "
                          f"{why}, V = {a.voltage:.4f} V, mean lithiation {a.mean_lithiation:.4f}, "
                          f"NCM surface not saturated")
        return Ended(f"{saturated} at x_mean = {a.mean_lithiation:.4f}, voltage {a.voltage:.4f} V ({why})")


def accepted_terminations(options, state, i_1c_A: float | None = None) -> list:
    """The rules asked after each accepted time step, in order (``i_1c_A``: the 1C current, for
    the end current of CV holds)."""
    return [CutOff(), MaxLithiation(), Duration(), CurrentBelow(i_1c_A), StepCollapse(options, state)]


class SurfaceSaturation:
    """After a failed time step: does the failure end the step (saturated surfaces), fail the run
    (no more cut-backs), or is the step cut back (None)?"""

    def __init__(self, options, concentration_failure: str, state=None):
        # (state: the loop state, whose ``short_steps`` says whether the time step is creeping)
        self.options, self.concentration_failure, self.state = options, concentration_failure, state

    def check(self, why: str, step: Step, dt: float, hour: float, cutbacks: int, t: float, step_number: int,
              problem=None):
        """``problem``: restored to the last accepted state (its NCM surface is looked at, collectively,
        when a non-concentration failure happens below ``saturation_dt``; None: never)."""
        o = self.options
        short = dt < o.saturation_dt * hour
        bounds = why == self.concentration_failure and step.kind != "rest"
        creeping = self.state is not None and self.state.short_steps > 0
        if getattr(o, "lithiation_overshoot", 0.0) > 0:
            creeping = creeping and cutbacks >= SATURATION_FAILURES_WITH_OVERSHOOT
        if short and creeping and not bounds and problem is not None and step.kind in ("discharge", "charge"):
            saturated = surface_saturated(problem, step)
            if saturated:
                return Ended(f"{saturated} at x_mean = {problem.mean_lithiation():.4f}, voltage "
                             f"{float(problem.V.value):.4f} V (a step of {dt:.3g} s failed: {why})")
        if not (bounds and short) and cutbacks <= o.max_cutbacks \
                and dt * o.cut >= o.dt_min_s:
            return None
        if bounds:
            # the particle surfaces are saturated (discharge) or emptied (charge): the cell cannot
            # carry the current any longer: the step ends here
            return Ended("NCM surface lithiation reached c_max" if step.kind == "discharge"
                         else "NCM surface delithiated")
        return Failed(f"time step failed at t = {t:.6g} s in step {step_number} ({step.describe()}) "
                      f"after {cutbacks - 1} cut-backs down to dt = {dt:.3g} s (last: {why})")


class WallTime:
    """The run's wall-time budget: :meth:`reached` once ``limit_s`` seconds have passed since it was
    made (None: never). Local to a rank: the checkpointer agrees on it across ranks."""

    def __init__(self, limit_s: float | None):
        self.limit_s = limit_s
        self.t0 = time.perf_counter()

    def reached(self) -> bool:
        return self.limit_s is not None and time.perf_counter() - self.t0 >= self.limit_s
