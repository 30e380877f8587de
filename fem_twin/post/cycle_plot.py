"""The cycle plot of a protocol run (``discharge_cycles.png``): voltage against capacity, one colour
per cycle, charge dashed and discharge solid (matplotlib, Agg).

Within a cycle, the capacity of the charge branch runs over all its charging steps (net charge
< 0: a CC charge and its CV hold continue one curve), the discharge branch likewise; rests are
left out. Rows are the CSV rows of the run (``step`` 0-based, ``voltage_V``,
``capacity_mAh_per_g`` of the charge passed in that step), steps the step summaries with
``cycle`` and ``charge_C``.
"""

from __future__ import annotations

from pathlib import Path

CYCLES_PNG = "discharge_cycles.png"


def cycle_branches(rows: list[dict], steps: list[dict]) -> dict:
    """{(cycle, 'charge' | 'discharge'): (capacities mAh/g, voltages)} of the finished steps."""
    out: dict = {}
    offset: dict = {}
    for s in steps:
        if s.get("cycle", 0) <= 0 or s["charge_C"] == 0:
            continue
        key = (s["cycle"], "charge" if s["charge_C"] < 0 else "discharge")
        rr = [r for r in rows if r["step"] == s["step"] - 1]
        q0 = offset.get(key, 0.0)
        q, v = out.setdefault(key, ([], []))
        q += [q0 + r["capacity_mAh_per_g"] for r in rr]
        v += [r["voltage_V"] for r in rr]
        offset[key] = q0 + (rr[-1]["capacity_mAh_per_g"] if rr else 0.0)
    return out


def plot_cycles(rows: list[dict], steps: list[dict], path: str | Path) -> bool:
    """Draw the cycle plot into ``path``; False (nothing drawn) without a cycle that charges."""
    br = cycle_branches(rows, steps)
    if not any(kind == "charge" for _, kind in br):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cycles = sorted({c for c, _ in br})
    cmap = plt.get_cmap("viridis")
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for i, c in enumerate(cycles):
        col = cmap(i / max(len(cycles) - 1, 1))
        for kind, ls in (("charge", "--"), ("discharge", "-")):
            if (c, kind) in br:
                q, v = br[(c, kind)]
                ax.plot(q, v, ls, color=col, label=f"cycle {c} {kind}")
    ax.set_xlabel("specific capacity (mAh/g NCM)")
    ax.set_ylabel("cell voltage vs Li (V)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
