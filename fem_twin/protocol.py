"""The experiment as a list of steps (PyBaMM's Experiment: apart from the model and the solver).

Text form (steps separated by ``;`` or new lines, case-insensitive)::

    discharge 1C to 3.0 V; rest 10 min; charge 0.5C to 4.3 V; hold at 4.3 V until C/20
    (charge 0.5C to 4.3 V; hold at 4.3 V until C/20; rest 10 min; discharge 1C to 3.0 V) x 3

Steps:

- ``discharge RATE to VOLTAGE`` / ``charge RATE to VOLTAGE``: constant current (CC) of RATE times
  the 1C current (``1C``, ``0.5C``, ``C/10``) until the cell voltage reaches VOLTAGE (``V``, or
  ``mV``); ``for DURATION`` may replace or follow ``to VOLTAGE`` (whichever comes first ends it).
- ``rest DURATION``: zero current for DURATION (``s``, ``min``, ``h``).
- ``hold at VOLTAGE until RATE`` / ``hold at VOLTAGE for DURATION`` / both (``hold at 4.3 V until
  C/20 for 2 h``, whichever comes first): constant voltage (CV, potentiostatic). The cell voltage is
  held at VOLTAGE and the current is the model's output; the step ends when |current| falls to
  RATE times the 1C current, or after DURATION. ``at`` may be left out.
- ``(STEP; STEP; ...) x N``: a block repeated N times (N >= 1; blocks do not nest). Each
  repetition is one *cycle* of the summaries (charge and discharge capacity, coulombic
  efficiency); a protocol without blocks is one cycle. A step of a block that starts beyond its
  cut-off voltage ends the whole block (the remaining repetitions are skipped); outside a block
  that is an input error.
- ``gitt discharge RATE for DURATION [to VOLTAGE], rest DURATION x N`` (or ``gitt charge ...``):
  galvanostatic intermittent titration, the block ``(discharge RATE to VOLTAGE for DURATION;
  rest DURATION) x N``; with ``to VOLTAGE`` the pulses stop at the cut-off.
- ``profile FILE.csv``: a piecewise-constant current from a CSV file with the header columns
  ``time_s`` and ``current_A`` (A) or ``c_rate`` (times the 1C current), > 0 on discharge. Each
  row's value holds from its ``time_s`` until the next row's; times start at 0 and increase; the
  last row's time ends the step (its value is not used). No time step crosses a break.

A CC charge followed by a hold at its cut-off voltage is a CC-CV charge:
``charge 0.5C to 4.3 V; hold at 4.3 V until C/20``.

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
KINDS = ("discharge", "charge", "rest", "hold", "profile")
#: largest repetition count of a block (a typo like ``x 30000`` is refused, not run for days)
MAX_REPEATS = 10000


@dataclass(frozen=True)
class Step:
    """One protocol step. ``kind`` is 'discharge', 'charge', 'rest' or 'hold'.

    CC steps: ``c_rate`` (> 0, times the 1C current), ``until_V`` (V) and/or ``duration_s`` (s).
    Rest: ``duration_s``. Hold (CV): ``hold_V`` (V), ``until_c_rate`` (the step ends when
    |current| <= until_c_rate x 1C) and/or ``duration_s``.
    """

    kind: str
    c_rate: float = 0.0
    until_V: float | None = None
    duration_s: float | None = None
    hold_V: float | None = None
    until_c_rate: float | None = None
    #: a current profile: the file it came from, the break times (s, from 0, increasing; the last
    #: one ends the step), the value holding from each break to the next (one fewer), its unit
    #: ('A': amperes, 'C': C-rate; > 0 discharge)
    profile_file: str | None = None
    profile_times_s: tuple = ()
    profile_values: tuple = ()
    profile_unit: str = "A"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InputError("protocol", "steps 'discharge', 'charge', 'rest', 'hold' or 'profile'", self.kind)
        if self.kind == "profile":
            t, v = self.profile_times_s, self.profile_values
            if len(t) < 2 or len(v) != len(t) - 1 or t[0] != 0 or any(b <= a for a, b in zip(t, t[1:])) \
                    or not all(math.isfinite(x) for x in (*t, *v)) or self.profile_unit not in ("A", "C"):
                raise InputError(f"protocol profile {self.profile_file}", "times from 0 s, increasing, and one "
                                 "finite value less than times, in A or C", (t[:3], v[:3]))
            object.__setattr__(self, "duration_s", float(t[-1]))
            return
        if self.duration_s is not None and not (self.duration_s > 0 and math.isfinite(self.duration_s)):
            raise InputError(f"protocol {self.kind}", "a duration > 0, e.g. '10 min'", self.duration_s)
        if self.kind == "rest":
            if self.duration_s is None:
                raise InputError("protocol rest", "a duration > 0, e.g. 'rest 10 min'", self.duration_s)
        elif self.kind == "hold":
            if self.hold_V is None or not (math.isfinite(self.hold_V) and 0 < self.hold_V < 10):
                raise InputError("protocol hold", "a hold voltage in (0, 10) V, e.g. 'hold at 4.3 V'", self.hold_V)
            if self.until_c_rate is None and self.duration_s is None:
                raise InputError("protocol hold", "'until RATE' or 'for DURATION' (e.g. 'hold at 4.3 V until C/20')",
                                 None)
            if self.until_c_rate is not None and not (math.isfinite(self.until_c_rate) and self.until_c_rate > 0):
                raise InputError("protocol hold", "an end C-rate > 0, e.g. 'until C/20'", self.until_c_rate)
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
        """+1 discharge, -1 charge, 0 rest and hold (multiplies the 1C current)."""
        return {"discharge": 1.0, "charge": -1.0, "rest": 0.0, "hold": 0.0}[self.kind]

    @property
    def potentiostatic(self) -> bool:
        """True for a constant-voltage hold (the voltage is imposed, the current is the output)."""
        return self.kind == "hold"

    def current_A(self, i_1c_A: float) -> float:
        """The applied current (A, > 0 discharge) of a CC step or a rest (0 for a hold: its
        current is the model's output)."""
        return self.sign * self.c_rate * i_1c_A

    def profile_current_A(self, t_step_s: float, i_1c_A: float) -> float:
        """A profile's current (A, > 0 discharge) at ``t_step_s`` into the step (piecewise constant:
        the value of the last break at or before it)."""
        import bisect

        i = min(max(bisect.bisect_right(self.profile_times_s, t_step_s * (1 + 1e-12) + 1e-12) - 1, 0),
                len(self.profile_values) - 1)
        v = self.profile_values[i]
        return v * i_1c_A if self.profile_unit == "C" else v

    def profile_next_break_s(self, t_step_s: float) -> float:
        """The first break of a profile after ``t_step_s`` (s into the step)."""
        return next((b for b in self.profile_times_s if b > t_step_s * (1 + 1e-12) + 1e-12), self.profile_times_s[-1])

    def time_scale_s(self) -> float:
        """The step's 'hour' (s): an hour at its C-rate; a rest: its duration; a hold: an hour at
        its end C-rate (C/20: 20 h), else its duration. Time steps are fractions of it."""
        if self.kind in ("discharge", "charge"):
            return 3600.0 / self.c_rate
        if self.kind == "hold" and self.until_c_rate is not None:
            return 3600.0 / self.until_c_rate
        return self.duration_s or 3600.0

    def describe(self) -> str:
        """The step as text that :meth:`Protocol.parse` reads back (times in s; a profile: its file,
        with the number of rows and a hash of the table, which the parser ignores)."""
        if self.kind == "profile":
            import hashlib

            h = hashlib.sha1(repr((self.profile_times_s, self.profile_values, self.profile_unit)).encode())
            return f"profile {self.profile_file} ({len(self.profile_values)} rows, sha1 {h.hexdigest()[:12]})"
        if self.kind == "rest":
            return f"rest {self.duration_s:g} s"
        if self.kind == "hold":
            s = f"hold at {self.hold_V:g} V"
            if self.until_c_rate is not None:
                s += f" until {self.until_c_rate:g}C"
            if self.duration_s is not None:
                s += f" for {self.duration_s:g} s"
            return s
        s = f"{self.kind} {self.c_rate:g}C"
        if self.until_V is not None:
            s += f" to {self.until_V:g} V"
        if self.duration_s is not None:
            s += f" for {self.duration_s:g} s"
        return s

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("kind", "c_rate", "until_V", "duration_s", "hold_V", "until_c_rate",
                                              "profile_file")}


@dataclass(frozen=True)
class Block:
    """Steps ``start .. start + size - 1`` of the (expanded) protocol are the first of ``repeats``
    repetitions of a block; the repetitions follow one another in the expanded step list."""

    start: int
    size: int
    repeats: int


@dataclass(frozen=True)
class Protocol:
    """The expanded step list and the repeated blocks it came from (:class:`Block`)."""

    steps: tuple[Step, ...]
    blocks: tuple[Block, ...] = ()

    def __post_init__(self):
        if not self.steps:
            raise InputError("protocol", "at least one step", "")

    @classmethod
    def discharge(cls, c_rate: float, cutoff_V: float = 3.0) -> "Protocol":
        return cls((Step("discharge", float(c_rate), until_V=float(cutoff_V)),))

    @classmethod
    def parse(cls, text: str) -> "Protocol":
        steps, blocks = [], []
        for part in _split(str(text), top=True):
            m = re.fullmatch(r"\((.*)\)\s*(?:x|\*|×)\s*(\S*)", part, flags=re.S | re.I)
            if part.startswith("("):
                if not m:
                    raise InputError("protocol", "a repeated block like '(charge 0.5C to 4.3 V; "
                                     "discharge 1C to 3.0 V) x 3'", part)
                if not re.fullmatch(r"[0-9]+", m.group(2)) or not 1 <= int(m.group(2)) <= MAX_REPEATS:
                    raise InputError("protocol", f"a whole number of repetitions 1..{MAX_REPEATS} after 'x' in "
                                     f"'{part}'", m.group(2))
                inner = [_parse_step(p) for p in _split(m.group(1), top=False)]
                if not inner:
                    raise InputError("protocol", "at least one step inside '( ... )'", part)
                blocks.append(Block(len(steps), len(inner), int(m.group(2))))
                steps += inner * int(m.group(2))
            elif part.lower().startswith("gitt"):
                pair, n = _parse_gitt(part)
                blocks.append(Block(len(steps), 2, n))
                steps += pair * n
            else:
                steps.append(_parse_step(part))
        return cls(tuple(steps), tuple(blocks))

    def block_end(self, k: int) -> int | None:
        """The index after the last step of the repeated block that holds step ``k`` (None outside)."""
        for b in self.blocks:
            if b.start <= k < b.start + b.size * b.repeats:
                return b.start + b.size * b.repeats
        return None

    def cycle_of(self) -> list[int]:
        """The 1-based cycle of every step: each repetition of a block is one cycle; steps outside
        blocks are in no cycle (0). A protocol without blocks is one cycle (all 1)."""
        if not self.blocks:
            return [1] * len(self.steps)
        out, n = [0] * len(self.steps), 0
        for b in self.blocks:
            for r in range(b.repeats):
                n += 1
                for i in range(b.size):
                    out[b.start + r * b.size + i] = n
        return out

    def describe(self) -> str:
        """The protocol as text :meth:`parse` reads back (blocks kept as ``( ... ) x N``)."""
        parts, k = [], 0
        for b in self.blocks:
            parts += [s.describe() for s in self.steps[k:b.start]]
            parts.append("(" + "; ".join(s.describe() for s in self.steps[b.start:b.start + b.size])
                         + f") x {b.repeats}")
            k = b.start + b.size * b.repeats
        parts += [s.describe() for s in self.steps[k:]]
        return "; ".join(parts)


def read_profile(path: str) -> Step:
    """A ``profile`` step from a CSV file: a header with ``time_s`` and ``current_A`` (A) or
    ``c_rate`` (> 0 discharge); each row's value holds from its time to the next row's; the last
    row's time ends the profile (its value is not used). Times start at 0 and increase."""
    import csv

    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(f"protocol profile {path}", "a readable CSV file", exc.strerror) from None
    cols = set(rows[0]) if rows else set()
    unit = "A" if "current_A" in cols else "C" if "c_rate" in cols else None
    if "time_s" not in cols or unit is None:
        raise InputError(f"protocol profile {path}", "a CSV header with time_s and current_A or c_rate",
                         sorted(cols))
    key = "current_A" if unit == "A" else "c_rate"
    try:
        t = tuple(float(r["time_s"]) for r in rows)
        v = tuple(float(r[key]) for r in rows[:-1])
    except (TypeError, ValueError) as exc:
        raise InputError(f"protocol profile {path}", "numbers in time_s and " + key, str(exc)) from None
    return Step("profile", profile_file=str(path), profile_times_s=t, profile_values=v, profile_unit=unit)


_GITT_FORM = ("'gitt discharge RATE for DURATION, rest DURATION x N' (e.g. 'gitt discharge 0.1C for 10 min, "
              "rest 30 min x 20'; 'to VOLTAGE V' after the pulse's duration ends it early)")


def _parse_gitt(text: str) -> tuple[list[Step], int]:
    """``gitt discharge 0.1C for 10 min [to 3.0 V], rest 30 min x 20`` -> (pulse, rest) and N."""
    m = re.fullmatch(r"gitt\s+(.+?)\s*,\s*(rest\s+.+?)\s*(?:x|\*|×)\s*(\S+)", " ".join(text.lower().split()))
    if not m:
        raise InputError("protocol", _GITT_FORM, text)
    pulse_text = m.group(1)
    mv = re.fullmatch(rf"(.+?)\s+to\s+({_NUM}\s*m?v)", pulse_text)
    if mv:  # 'for 10 min to 3.0 V' -> the step parser's order 'to 3.0 V for 10 min'
        head, volt = mv.group(1), mv.group(2)
        mf = re.fullmatch(r"(\S+\s+\S+)\s+(for\s+.+)", head)
        pulse_text = f"{mf.group(1)} to {volt} {mf.group(2)}" if mf else pulse_text
    pulse = _parse_step(pulse_text)
    if pulse.kind not in ("discharge", "charge") or pulse.duration_s is None:
        raise InputError("protocol", _GITT_FORM, text)
    if not re.fullmatch(r"[0-9]+", m.group(3)) or not 1 <= int(m.group(3)) <= MAX_REPEATS:
        raise InputError("protocol", f"a whole number of pulses 1..{MAX_REPEATS} after 'x' in '{text}'", m.group(3))
    return [pulse, _parse_step(m.group(2))], int(m.group(3))


def _split(text: str, top: bool) -> list[str]:
    """Split at ``;`` and new lines outside parentheses; check the parentheses balance (blocks
    only at the top level)."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            if depth or not top:
                raise InputError("protocol", "blocks '( ... ) x N' that do not nest", text.strip())
            depth += 1
        elif ch == ")":
            if depth == 0:
                raise InputError("protocol", "balanced parentheses", text.strip())
            depth -= 1
        if ch in ";\n" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise InputError("protocol", "balanced parentheses (a '(' is not closed)", text.strip())
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _duration(text: str, step: str) -> float:
    m = re.fullmatch(rf"({_NUM})\s*([a-z]+)", text.strip())
    if not m or m.group(2) not in _UNITS_S:
        raise InputError("protocol", f"a duration like '10 min', '30 s' or '1 h' in '{step}'", text)
    return float(m.group(1)) * _UNITS_S[m.group(2)]


def _rate(text: str, step: str) -> float:
    t = text.strip().lower().replace(" ", "")
    m = re.fullmatch(rf"c/({_NUM})", t)
    if m and float(m.group(1)) > 0:
        return 1.0 / float(m.group(1))
    m = re.fullmatch(rf"({_NUM})c", t)
    if m:
        return float(m.group(1))
    raise InputError("protocol", f"a C-rate like '1C', '0.5C' or 'C/10' in '{step}'", text)


def _voltage(num: str, unit: str) -> float:
    return float(num) * (1e-3 if unit == "mv" else 1.0)


_HOLD_FORM = "'hold at VOLTAGE V until RATE' or 'hold at VOLTAGE V for DURATION' (e.g. 'hold at 4.3 V until C/20')"


def _parse_hold(rest: str, step: str) -> Step:
    m = re.fullmatch(rf"(?:at\s+)?({_NUM})\s*(m?v)\s*(?:until\s+(\S+))?\s*(?:for\s+(.+))?", rest)
    if not m or (m.group(3) is None and m.group(4) is None):
        raise InputError("protocol", _HOLD_FORM, step)
    until = _rate(m.group(3), step) if m.group(3) else None
    dur = _duration(m.group(4), step) if m.group(4) else None
    return Step("hold", hold_V=_voltage(m.group(1), m.group(2)), until_c_rate=until, duration_s=dur)


def _parse_step(step: str) -> Step:
    s = " ".join(step.lower().split())
    words = s.split(None, 1)
    kind = words[0]
    rest = words[1] if len(words) > 1 else ""
    if kind == "rest":
        rest = re.sub(r"^for\s+", "", rest)
        return Step("rest", duration_s=_duration(rest, step))
    if kind == "hold":
        return _parse_hold(rest, step)
    if kind == "profile":
        m = re.fullmatch(r"(\S+)(?:\s+\(.*\))?", " ".join(step.split()[1:]), flags=re.S)
        if not m:
            raise InputError("protocol", "'profile FILE.csv'", step)
        return read_profile(m.group(1))
    if kind not in ("discharge", "charge"):
        raise InputError("protocol", "steps 'discharge RATE to V', 'charge RATE to V', 'rest TIME', "
                         "'hold at V until RATE' or '( ... ) x N'", step)
    m = re.fullmatch(rf"(?:at\s+)?(\S+(?:\s*c)?)\s*(?:(?:to|until)\s+({_NUM})\s*(m?v))?"
                     rf"\s*(?:for\s+(.+))?", rest)
    if not m or (m.group(2) is None and m.group(4) is None):
        raise InputError("protocol", f"'{kind} RATE to VOLTAGE V' (e.g. '{kind} 1C to 3.0 V')", step)
    until = _voltage(m.group(2), m.group(3)) if m.group(2) is not None else None
    dur = _duration(m.group(4), step) if m.group(4) else None
    return Step(kind, _rate(m.group(1), step), until_V=until, duration_s=dur)
