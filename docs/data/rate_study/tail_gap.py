"""For each 50 um case that ended above 3.0 V: its end voltage, the slope of its last mAh/g, the straight-line
capacity from there to 3.0 V (an upper estimate: the curves steepen), and PyBaMM's P2D capacity between the
same two voltages (p2d/p2d_vs_3d.json). Run from the repository root: python3 docs/data/rate_study/tail_gap.py"""
import csv, json
from pathlib import Path
rows = json.load(open("docs/data/rate_study/p2d/p2d_vs_3d.json"))["cases"]
print("| case | end V | mAh/g | dV/dQ over the last mAh/g, mV per mAh/g | straight line to 3.0 V, mAh/g | P2D from the end V to 3.0 V, mAh/g |")
print("|---|---|---|---|---|---|")
for r in rows:
    if r["end_voltage_3d_V"] < 3.001: continue
    d = list(csv.DictReader(open(Path(r["case"]) / "discharge.csv")))
    q = [float(x["capacity_mAh_per_g"]) for x in d]; v = [float(x["voltage_V"]) for x in d]
    j = max(i for i in range(len(q)) if q[i] <= q[-1] - 1.0)
    s = (v[-1] - v[j]) / (q[-1] - q[j])
    gain = (v[-1] - 3.0) / -s
    print(f"| {r['ncm_wt']} s{r['seed']} {r['c_rate']:g}C | {v[-1]:.3f} | {q[-1]:.2f} | {1e3*s:.1f} | {gain:.2f} ({100*gain/q[-1]:.1f} %) | {r['capacity_p2d_mAh_g']-r['capacity_p2d_to_3d_end_voltage_mAh_g']:.2f} |")
