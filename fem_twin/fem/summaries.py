"""Per-step and per-cycle summaries of a protocol run (``discharge.json``: ``steps``, ``cycles``).

No DOLFINx: plain numbers from the step summaries of :func:`fem_twin.fem.stepping.run_protocol`.

Per step (added to each step summary): ``cycle`` (1-based, 0 outside a repeated block),
``capacity_mAh_per_g`` and ``capacity_mAh_per_cm2`` (|charge| per gram of NCM in the electrode /
per cm2 of its face), ``energy_Wh_per_kg`` (|energy| per kg of NCM), besides the loop's
``duration_s``, ``mean_voltage_V`` (energy / charge), ``end_current_A``.

Per cycle (each repetition of a block; a protocol without blocks is one cycle): the charge and the
discharge capacity (steps whose net charge is < 0 / > 0: CC steps and holds alike), their energies,
``coulombic_efficiency`` = discharge / charge capacity and ``energy_efficiency`` = discharge /
charge energy (None without a charge), ``duration_s``.
"""

from __future__ import annotations


def _per_mass(charge_C: float, energy_J: float, mass_g: float, area_cm2: float) -> tuple[float, float, float]:
    """(mAh/g, mAh/cm2, Wh/kg) of |charge| (C) and |energy| (J)."""
    mah = abs(charge_C) / 3.6
    return mah / mass_g, mah / area_cm2, abs(energy_J) / 3600.0 / (mass_g * 1e-3)


def add_step_numbers(steps: list[dict], cycle_of: list[int], mass_g: float, area_cm2: float) -> None:
    """Add ``cycle``, capacities and specific energy to each step summary (in place)."""
    for s in steps:
        s["cycle"] = cycle_of[s["step"] - 1]
        q_g, q_cm2, e_kg = _per_mass(s["charge_C"], s.get("energy_J", 0.0), mass_g, area_cm2)
        s["capacity_mAh_per_g"], s["capacity_mAh_per_cm2"], s["energy_Wh_per_kg"] = q_g, q_cm2, e_kg


def cycle_summaries(steps: list[dict], mass_g: float, area_cm2: float) -> list[dict]:
    """One dict per cycle of the finished steps (after :func:`add_step_numbers`)."""
    out = []
    for n in sorted({s["cycle"] for s in steps if s["cycle"] > 0}):
        mine = [s for s in steps if s["cycle"] == n]
        q_ch = sum(-s["charge_C"] for s in mine if s["charge_C"] < 0)
        q_dis = sum(s["charge_C"] for s in mine if s["charge_C"] > 0)
        e_ch = sum(-s.get("energy_J", 0.0) for s in mine if s["charge_C"] < 0)
        e_dis = sum(s.get("energy_J", 0.0) for s in mine if s["charge_C"] > 0)
        ch, dis = _per_mass(q_ch, e_ch, mass_g, area_cm2), _per_mass(q_dis, e_dis, mass_g, area_cm2)
        out.append({"cycle": n, "steps": [s["step"] for s in mine],
                    "charge_capacity_mAh_per_g": ch[0], "charge_capacity_mAh_per_cm2": ch[1],
                    "discharge_capacity_mAh_per_g": dis[0], "discharge_capacity_mAh_per_cm2": dis[1],
                    "charge_energy_Wh_per_kg": ch[2], "discharge_energy_Wh_per_kg": dis[2],
                    "coulombic_efficiency": q_dis / q_ch if q_ch > 0 else None,
                    "energy_efficiency": e_dis / e_ch if e_ch > 0 else None,
                    "duration_s": sum(s["duration_s"] for s in mine)})
    return out
