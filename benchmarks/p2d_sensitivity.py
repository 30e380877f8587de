"""How much each homogenised input moves the P2D curve against a 3D run (docs/p2d.md).

Run ``fem-twin p2d DIR --discharge RUN`` first (it writes DIR/analysis.json and the P1
conductivities), then::

    python benchmarks/p2d_sensitivity.py DIR --discharge RUN [--c-rate 1] [--separator 5]

Rows: the default mapping (:func:`fem_twin.p2d.inputs_from_directory`), then one change at a time:
the isotropic-corrected area (x 2/3), the marching-cubes area, the Sauter radius D[3,2]/2, the
transport efficiencies of the voxel finite-volume conductivities (6-connected, computed here into
DIR/p2d_fv/ when missing), a frozen electrolyte (t+ = 1), a 100x NCM conductivity, and the
design's PSD inside the P2D (PyBaMM's particle-size distribution option). ``--early RUN``: V_P2D - V_3D in
the first minutes against a finely stepped 3D run, for the default radius and for R = 3 eps / a. Prints a Markdown table: P2D
capacity, its difference from the 3D capacity and max |dV| to 90 % of the smaller capacity.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from fem_twin import p2d
from fem_twin.design import ElectrodeDesign
from fem_twin.parameters.cell import ParameterSet
from fem_twin.post.discharge_plots import read_curve
from fem_twin.protocol import Protocol


def fv_efficiency(d: Path, phase: str) -> float | None:
    """sigma_eff / sigma of ``phase`` along z by voxel finite volumes (None: no 6-connected path)."""
    from fem_twin._dolfinx import MPI
    from fem_twin.fem.conductivity import effective_conductivity
    from fem_twin.microstructure.image import VoxelImage

    path = d / "p2d_fv" / f"conductivity_{phase}.json"
    if not path.exists():
        img = VoxelImage.load(d)
        r = effective_conductivity(img.labels, img.voxel_size_um, phase, "z", method="fv", comm=MPI.COMM_SELF)
        path.parent.mkdir(exist_ok=True)
        r.save_json(path)
    c = json.loads(path.read_text())
    return c["relative_conductivity"] if c["percolates"] and c["relative_conductivity"] > 0 else None


def psd_curve(inputs: p2d.P2DInputs, params: ParameterSet, psd, c_rate: float, cutoff: float):
    """(capacity mAh/g, voltage V) of PyBaMM's DFN with a distribution of particle sizes at every x
    (option "particle size": "distribution", the many-particle model): the design's NCM PSD as an
    area-weighted density of radii (volume density / R, normalised). PyBaMM's area is then
    3 eps / R32 (the Sauter radius), so the exchange-current factor is taken against that."""
    import numpy as np
    import pybamm

    from fem_twin.parameters.pybamm_values import kinetics_option

    r = np.asarray(psd.diameters_um) * 0.5e-6
    mid = np.sqrt(r[1:] * r[:-1])
    f_area = np.diff(np.asarray(psd.cumulative)) / np.diff(r) / mid
    f_area = f_area / np.sum(f_area * np.diff(r))
    inp = dataclasses.replace(inputs, radius_um=inputs.sauter_radius_um)
    i1c = p2d.one_c_current_A(inp, params)
    pv = p2d.parameter_values(inp, params, c_rate * i1c, cutoff)
    pv.update({"Positive minimum particle radius [m]": r[0], "Positive maximum particle radius [m]": r[-1],
               "Positive area-weighted particle-size distribution [m-1]":
                   lambda R: pybamm.maximum(pybamm.Interpolant(mid, f_area, R, interpolator="linear"), 0.0)},
              check_already_exists=False)
    model = pybamm.lithium_ion.DFN({"working electrode": "positive", "intercalation kinetics": kinetics_option(params),
                                    "transport efficiency": "tortuosity factor", "particle size": "distribution"})
    t_end = 1.3 * 3600.0 / c_rate
    sim = pybamm.Simulation(model, parameter_values=pv, solver=pybamm.IDAKLUSolver(rtol=1e-7, atol=1e-9),
                            var_pts={**model.default_var_pts, "x_p": 20, "r_p": 20, "R_p": 20})
    sol = sim.solve([0.0, t_end], t_interp=np.linspace(0.0, t_end, 1601))
    t, v = sol["Time [s]"].entries, sol["Voltage [V]"].entries
    return t * c_rate * i1c / 3.6 / (inp.ncm_volume_m3() * params.density_ncm_g_cm3 * 1e6), v


def early_table(base: p2d.P2DInputs, params: ParameterSet, run_dir: str, c_rate: float, cutoff: float):
    """V_P2D - V_3D (mV) at the first minutes of a finely stepped 3D run (``run_dir``), for the
    default mapping and for spheres whose area 3 eps / R is the structure's contact area (area
    factor 1, R = 3 eps / a): the early transient sees the area lithium enters through."""
    import numpy as np

    fine = read_curve(run_dir)
    t_fine = fine["time_s"]
    times = [t for t in (9.0, 36.0, 90.0, 180.0, 330.0, 510.0, 600.0) if t <= t_fine[-1]]
    print(f"\nearly V_P2D - V_3D (mV) against {run_dir} ({t_fine.size} rows to {t_fine[-1]:.0f} s)")
    print("| P2D case | R (um) | area factor | " + " | ".join(f"{t:.0f} s" for t in times) + " | P2D mAh/g |")
    print("|---|---|---|" + "---|" * len(times) + "---|")
    r_area = 3.0 * base.eps_ncm_active / base.area_per_volume_per_m * 1e6
    for name, inp in (("default", base), ("R = 3 eps / a", dataclasses.replace(base, radius_um=r_area))):
        c = p2d.run(inp, params, Protocol.discharge(c_rate, cutoff), period_s=3.0)
        dv = [1e3 * (np.interp(t, c.time_s, c.voltage_V) - np.interp(t, t_fine, fine["voltage_V"])) for t in times]
        print(f"| {name} | {inp.radius_um:.2f} | {inp.area_factor:.3f} | " + " | ".join(f"{x:+.1f}" for x in dv)
              + f" | {c.step_capacity_mAh_per_g[0]:.2f} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--discharge", required=True, help="the 3D run's folder (discharge.csv)")
    ap.add_argument("--c-rate", type=float, default=1.0)
    ap.add_argument("--cutoff", type=float, default=3.0)
    ap.add_argument("--separator", type=float, default=5.0)
    ap.add_argument("--early", default=None, metavar="RUN",
                    help="a 3D run of the first minutes with short steps: print the early V_P2D - V_3D table")
    args = ap.parse_args(argv)
    d = Path(args.dir)
    curve3 = read_curve(args.discharge)
    if curve3 is None:
        print(f"no discharge in {args.discharge}", file=sys.stderr)
        return 2
    params = ParameterSet()
    base = p2d.inputs_from_directory(d, args.separator, params)
    a = json.loads((d / "analysis.json").read_text())
    mc = a["contact_area_density_marching_cubes_per_m"].get("ncm|lpscl")
    live = 1.0 - a["dead_fraction_nonperiodic"]["ncm"]
    cases = [("default (raw area, P1 B, D[4,3]/2)", base, params),
             ("corrected area (raw x 2/3)", dataclasses.replace(base, area_per_volume_per_m=base.area_per_volume_per_m * 2 / 3), params)]
    if mc:
        cases.append(("marching-cubes area (all NCM, LPSCl)", dataclasses.replace(base, area_per_volume_per_m=mc * live), params))
    cases.append(("Sauter radius D[3,2]/2", dataclasses.replace(base, radius_um=base.sauter_radius_um), params))
    b_n, b_l = fv_efficiency(d, "ncm"), fv_efficiency(d, "lpscl")
    if b_l:
        cases.append(("B_LPSCl from fv (6-connected)", dataclasses.replace(base, b_lpscl=b_l), params))
    if b_n:
        cases.append(("B_NCM from fv (6-connected)", dataclasses.replace(base, b_ncm=b_n), params))
    else:
        print("(NCM does not percolate 6-connected along z: no fv row for B_NCM)")
    cases.append(("frozen electrolyte (t+ = 1)", base, params.with_overrides({"t_plus": 1.0})))
    cases.append(("NCM conductivity x 100", base, params.with_overrides({"sigma_ncm_S_m": params.sigma_ncm_S_m * 100})))
    protocol = Protocol.discharge(args.c_rate, args.cutoff)
    print(f"3D: {curve3['capacity_mAh_per_g'][-1]:.2f} mAh/g ({args.discharge})")
    print("| P2D case | a (1/m) | R (um) | B_NCM | B_LPSCl | P2D mAh/g | P2D / 3D - 1 | max abs dV to 90 % (mV) |")
    print("|---|---|---|---|---|---|---|---|")
    psd = ElectrodeDesign.from_dict(json.loads((d / "design.json").read_text())["design"]).ncm_psd
    cases.append(("PSD in the P2D (PyBaMM size distribution, R32 area)", base, "psd"))
    for name, inp, p in cases:
        if p == "psd":
            q, v = psd_curve(inp, params, psd, args.c_rate, args.cutoff)
            inp = dataclasses.replace(inp, radius_um=inp.sauter_radius_um)
        else:
            c = p2d.run(inp, p, protocol)
            m = c.step == 0
            q, v = c.capacity_mAh_per_g[m], c.voltage_V[m]
        cmp = p2d.compare_curves(curve3["capacity_mAh_per_g"], curve3["voltage_V"], q, v)
        print(f"| {name} | {inp.area_per_volume_per_m:.4g} | {inp.radius_um:.2f} | {inp.b_ncm:.4f} | "
              f"{inp.b_lpscl:.4f} | {cmp['capacity_p2d_mAh_g']:.2f} | {100 * cmp['capacity_difference_rel']:+.2f} % | "
              f"{1e3 * cmp['max_dV_V']:.1f} |")
    if args.early:
        early_table(base, params, args.early, args.c_rate, args.cutoff)
    return 0


if __name__ == "__main__":
    sys.exit(main())
