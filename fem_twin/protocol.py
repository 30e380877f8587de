"""The experiment as a list of steps: constant-current discharge/charge to a voltage, rest.

Text form (steps separated by ``;`` or new lines, case-insensitive)::

    discharge 1C to 3.0 V; rest 10 min; charge 0.5C to 4.3 V

- ``discharge RATE to VOLTAGE`` / ``charge RATE to VOLTAGE``: constant current of RATE times the
  1C current (``1C``, ``0.5C``, ``C/10``) until the cell voltage reaches VOLTAGE (``V``, or ``mV``);
  ``for DURATION`` may replace or follow ``to VOLTAGE``.
- ``rest DURATION``: zero current for DURATION (``s``, ``min``, ``h``).

Sign convention: the applied current is positive on discharge (lithium goes into NCM).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import InputError

_UNITS_S = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "min": 60.0, "mins": 60.0,
            "minute": 60.0, "minutes": 60.0, "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0}
_NUM = r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"


@dataclass(frozen=True)
class Step:
    """One protocol step. ``kind`` is 'discharge', 'charge' or 'rest'."""

    kind: str
    c_rate: float = 0.0
    until_V: float | None = None
    duration_s: float | None = None

    def __post_init__(self):
        if self.kind not in ("discharge", "charge", "rest"):
            raise InputError("protocol", "steps 'discharge', 'charge' or 'rest'", self.kind)
        if self.kind == "rest":
            if self.duration_s is None or not (self.duration_s > 0 and math.isfinite(self.duration_s)):
                raise InputError("protocol rest", "a duration > 0, e.g. 'rest 10 min'", self.duration_s)
        else:
            if not (isinstance(self.c_rate, (int, float)) and math.isfinite(self.c_rate) and self.c_rate > 0):
                raise InputError("--c-rate" if self.kind == "discharge" else "protocol charge",
                                 "a C-rate > 0", self.c_rate)
            if self.until_V is None and self.duration_s is None:
                raise InputError(f"protocol {self.kind}", "'to VOLTAGE' or 'for DURATION'", None)
            if self.until_V is not None and not (0 < self.until_V < 10):
                raise InputError(f"protocol {self.kind}", "a cut-off voltage in (0, 10) V", self.until_V)

    @property
    def sign(self) -> float:
        """+1 discharge, -1 charge, 0 rest (multiplies the 1C current)."""
        return {"discharge": 1.0, "charge": -1.0, "rest": 0.0}[self.kind]

    def current_A(self, i_1c_A: float) -> float:
        return self.sign * self.c_rate * i_1c_A

    def describe(self) -> str:
        if self.kind == "rest":
            return f"rest {self.duration_s:g} s"
        s = f"{self.kind} {self.c_rate:g}C"
        if self.until_V is not None:
            s += f" to {self.until_V:g} V"
        if self.duration_s is not None:
            s += f" for {self.duration_s:g} s"
        return s


@dataclass(frozen=True)
class Protocol:
    steps: tuple[Step, ...]

    def __post_init__(self):
        if not self.steps:
            raise InputError("protocol", "at least one step", "")

    @classmethod
    def discharge(cls, c_rate: float, cutoff_V: float = 3.0) -> "Protocol":
        return cls((Step("discharge", float(c_rate), until_V=float(cutoff_V)),))

    @classmethod
    def parse(cls, text: str) -> "Protocol":
        parts = [p.strip() for p in re.split(r"[;\n]", str(text)) if p.strip()]
        return cls(tuple(_parse_step(p) for p in parts))

    def describe(self) -> str:
        return "; ".join(s.describe() for s in self.steps)


def _duration(text: str, step: str) -> float:
    m = re.fullmatch(rf"({_NUM})\s*([a-z]+)", text.strip())
    if not m or m.group(2) not in _UNITS_S:
        raise InputError("protocol", f"a duration like '10 min', '30 s' or '1 h' in '{step}'", text)
    return float(m.group(1)) * _UNITS_S[m.group(2)]


def _rate(text: str, step: str) -> float:
    t = text.strip().lower().replace(" ", "")
    m = re.fullmatch(rf"c/({_NUM})", t)
    if m:
        return 1.0 / float(m.group(1))
    m = re.fullmatch(rf"({_NUM})c", t)
    if m:
        return float(m.group(1))
    raise InputError("protocol", f"a C-rate like '1C', '0.5C' or 'C/10' in '{step}'", text)


def _parse_step(step: str) -> Step:
    s = step.lower().strip()
    words = s.split(None, 1)
    kind = words[0]
    rest = words[1] if len(words) > 1 else ""
    if kind == "rest":
        rest = re.sub(r"^for\s+", "", rest)
        return Step("rest", duration_s=_duration(rest, step))
    if kind not in ("discharge", "charge"):
        raise InputError("protocol", "steps 'discharge RATE to V', 'charge RATE to V' or 'rest TIME'", step)
    m = re.fullmatch(rf"(?:at\s+)?(\S+(?:\s*c)?)\s*(?:(?:to|until)\s+({_NUM})\s*(m?v))?"
                     rf"\s*(?:for\s+(.+))?", rest)
    if not m or (m.group(2) is None and m.group(4) is None):
        raise InputError("protocol", f"'{kind} RATE to VOLTAGE V' (e.g. '{kind} 1C to 3.0 V')", step)
    until = None
    if m.group(2) is not None:
        until = float(m.group(2)) * (1e-3 if m.group(3) == "mv" else 1.0)
    dur = _duration(m.group(4), step) if m.group(4) else None
    return Step(kind, _rate(m.group(1), step), until_V=until, duration_s=dur)
