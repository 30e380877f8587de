"""What fixes the global unknown V of the discharge problem: the applied current or the voltage.

The Newton system is the fields plus the collector potential V, bordered by one global row g
(:mod:`fem_twin.fem.discharge_solvers`)::

    [ A    b ] [dx]     [r_f]        b = dF/dV, c = dg/dx, d = dg/dV
    [ c^T  d ] [dV] = - [r_V]

- :class:`CurrentControl` (galvanostatic, CC steps and rests): g = (interface current) + I (pA),
  c and d are the derivatives of the interface current (assembled by the problem);
- :class:`VoltageControl` (potentiostatic, CV holds): g = S (V - V_set) with S = the problem's
  current scale in pA per volt (so the Newton tolerances mean the same), c = 0, d = S. The
  current is then an output: the interface current at the solution.

Both are small frozen dataclasses; ``key`` names the control for the predictor's history (an
extrapolation across a change of control is not used).
"""

from __future__ import annotations

from dataclasses import dataclass

PA = 1e12  #: picoamperes per ampere (the problem's residual unit)


@dataclass(frozen=True)
class CurrentControl:
    """Galvanostatic: the applied current ``current_A`` (A, > 0 on discharge)."""

    current_A: float

    potentiostatic = False

    @property
    def key(self) -> float:
        return float(self.current_A)

    def g_pA(self, interface_pA: float, V: float, scale_pA_per_V: float) -> float:
        """The global residual (pA) from the interface current integral (pA, > 0 anodic) and V."""
        return interface_pA + self.current_A * PA

    def row_derivatives(self, c, d: float, scale_pA_per_V: float) -> float:
        """The row's derivatives from the interface's: ``c`` (dg/du, an array written in place)
        and the returned d = dg/dV stay the interface current's."""
        return d


@dataclass(frozen=True)
class VoltageControl:
    """Potentiostatic: the collector potential is held at ``voltage_V`` (V vs Li)."""

    voltage_V: float

    potentiostatic = True

    @property
    def key(self) -> str:
        return f"V={float(self.voltage_V)!r}"

    def g_pA(self, interface_pA: float, V: float, scale_pA_per_V: float) -> float:
        return scale_pA_per_V * (V - self.voltage_V)

    def row_derivatives(self, c, d: float, scale_pA_per_V: float) -> float:
        """c = dg/dx = 0 (in place), d = dg/dV = S (b = dF/dV stays: the fields still see V)."""
        c[:] = 0.0
        return scale_pA_per_V


def as_control(control) -> CurrentControl | VoltageControl:
    """A control object from a control object or a number (an applied current in A)."""
    if isinstance(control, (CurrentControl, VoltageControl)):
        return control
    return CurrentControl(float(control))


__all__ = ["CurrentControl", "VoltageControl", "as_control", "PA"]
