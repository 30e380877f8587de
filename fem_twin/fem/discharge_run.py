"""A whole discharge run: voxel image -> pruned image -> tagged mesh -> problem -> time loop -> files.

1C is the electrode's NCM mass (all NCM voxels of the image, dead clusters included, times the
true density) times ``practical_capacity_mAh_g``; capacities are per that mass and per the
electrode's face area (x-y extent of the image).

Checkpoints (:mod:`fem_twin.fem.checkpoint`): ``OUTDIR/checkpoint.npz`` every
``checkpoint.every`` accepted steps and at the next accepted step after a SIGTERM (then the run
stops, incomplete, with the message "interrupted (SIGTERM), checkpoint written");
``checkpoint.restart`` continues from that file: the curve is the uninterrupted run's.
"""

from __future__ import annotations

import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__, phases
from .._dolfinx import MPI
from ..errors import InputError
from ..log import logger
from ..parameters.cell import ParameterSet
from ..protocol import Protocol
from .checkpoint import (CheckpointOptions, Checkpointer, check_fingerprint, fingerprint, input_fingerprint,
                         open_checkpoint, read_checkpoint)
from .discharge import DischargeProblem
from .discharge_io import FieldWriter, RunFiles
from .discharge_solvers import LinearSolverSpec
from .domains import build_domains, prune_dead_clusters
from .interface_weights import attach_smoothed_normals
from .settings import SEPARATOR_GROWTH, SEPARATOR_UM, DischargeSettings
from .stepping import SteppingOptions, capacities, run_protocol
from .transport_matching import check_transport, match_conductances
from .summaries import add_step_numbers, cycle_summaries


@dataclass
class DischargeResult:
    complete: bool
    message: str
    summary: dict
    rows: list


def _peak_rss_mb() -> float:
    import resource
    import sys

    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024.0 / (1024.0 if sys.platform == "darwin" else 1.0)


def _krylov_roles(roles) -> dict | None:
    """Outer Krylov solves and iterations of this attempt, Newton directions against the line
    search's corrections, with their relative tolerances (None for the direct solver)."""
    if roles is None:
        return None
    return {"direction_rtol": roles.direction_rtol, "correction_rtol": roles.correction_rtol,
            "direction_solves": roles.solves["direction"], "direction_iterations": roles.iterations["direction"],
            "correction_solves": roles.solves["correction"],
            "correction_iterations": roles.iterations["correction"]}


def electrode_numbers(labels: np.ndarray, voxel_um: float, params: ParameterSet) -> dict:
    """NCM volume/mass, eps_NCM, face area and the 1C current of a composite image."""
    n_ncm = int(np.count_nonzero(labels == phases.NCM))
    v_ncm_m3 = n_ncm * (voxel_um * 1e-6) ** 3
    mass_g = v_ncm_m3 * params.density_ncm_g_cm3 * 1e6
    area_cm2 = labels.shape[0] * labels.shape[1] * (voxel_um * 1e-4) ** 2
    return {"ncm_volume_m3": v_ncm_m3, "ncm_mass_g": mass_g, "face_area_cm2": area_cm2,
            "eps_ncm": n_ncm / labels.size, "i_1c_A": params.one_c_current_A(v_ncm_m3),
            "thickness_um": labels.shape[2] * voxel_um}


def check_protocol(protocol: Protocol, params: ParameterSet):
    """Reject a first-step cut-off on the wrong side of the open-circuit voltage."""
    ocv = float(params.ocp.numpy(params.initial_lithiation))
    s = protocol.steps[0]
    if s.until_V is None:
        return
    if s.kind == "discharge" and s.until_V >= ocv:
        raise InputError("--cutoff", f"a voltage below the open-circuit voltage {ocv:.3f} V "
                         f"(initial lithiation {params.initial_lithiation:g})", s.until_V)
    if s.kind == "charge" and s.until_V <= ocv:
        raise InputError("protocol", f"a charge cut-off above the open-circuit voltage {ocv:.3f} V", s.until_V)


def run_discharge(labels: np.ndarray, voxel_um: float, outdir: str | Path,
                  params: ParameterSet | None = None, protocol: Protocol | None = None,
                  separator_um: float = SEPARATOR_UM, solver: LinearSolverSpec | None = None,
                  stepping: SteppingOptions | None = None, comm=MPI.COMM_WORLD,
                  write_fields: bool = True, quiet: bool = False, mesher=None,
                  checkpoint: CheckpointOptions | None = None,
                  separator_growth: float | None = None, transport: str = "p1",
                  cache_dir: str | Path | None = None) -> DischargeResult:
    """Simulate ``protocol`` (default: 1C discharge to 3.0 V) on a composite label image.

    The pieces one by one; :func:`discharge` takes them as one :class:`DischargeSettings`.

    ``separator_growth`` > 1: the separator's layers grow by this factor away from the composite
    (:func:`fem_twin.meshing.voxel_mesh.separator_z_um`); None: the settings' default
    (:data:`fem_twin.fem.settings.SEPARATOR_GROWTH`) for a named mesher, 1 for a custom callable
    (it gets ``separator_growth=`` only when > 1).

    ``mesher``: ``"voxel"`` or ``"smooth"`` (:mod:`fem_twin.meshing.meshers`), a callable with the
    voxel mesher's arguments, or None (the voxel mesher).

    ``checkpoint``: periodic/SIGTERM checkpoints and restart (default: every 10 accepted steps
    and on SIGTERM, no restart); see :mod:`fem_twin.fem.checkpoint`.

    ``transport``: ``"p1"`` (plain P1 conductivities, the default here) or ``"fv-matched"`` (each
    phase's conductivity a diagonal tensor such that the mesh's conductances along x, y and z equal
    the voxel finite-volume ones extrapolated from 1x and 2x; :mod:`fem_twin.fem.transport_matching`,
    the default of the settings).

    ``cache_dir``: the smooth mesh and the conductance factors are reused from this folder when a
    run of the same image, settings and code stored them there, else made and stored
    (:mod:`fem_twin.setup_cache`); the results are the same as without it.
    """
    t0 = time.perf_counter()
    # k, D_s, D_e and kappa at the run's temperature (Arrhenius; a no-op without activation energies)
    params = (params or ParameterSet()).at_temperature()
    protocol = protocol or Protocol.discharge(1.0, 3.0)
    stepping = stepping or SteppingOptions()
    solver = solver or LinearSolverSpec()
    checkpoint = checkpoint or CheckpointOptions()
    if separator_growth is None:
        separator_growth = 1.0 if callable(mesher) else SEPARATOR_GROWTH
    outdir = Path(outdir)
    check_transport(transport)
    check_protocol(protocol, params)
    if separator_um < 0:
        raise InputError("--separator", "a thickness >= 0 um", separator_um)
    if not (np.isfinite(separator_growth) and separator_growth >= 1.0):
        raise InputError("--separator-growth", "a factor >= 1", separator_growth)
    rank0 = comm.rank == 0
    say = logger.info if (rank0 and not quiet) else (lambda m: None)  # (commands show it: fem_twin.log)
    labels = np.asarray(labels)
    if not np.any(labels == phases.NCM):
        raise InputError("structure", "a structure containing NCM", "no NCM voxels")
    num = electrode_numbers(labels, voxel_um, params)
    mesher_name = mesher if isinstance(mesher, str) else "voxel"
    fp_inputs = input_fingerprint(labels, voxel_um, separator_um, params, protocol, stepping, separator_growth,
                                  mesher=mesher_name, transport=transport)
    ckpt_path = outdir / checkpoint.name
    ckpt_data = None
    if checkpoint.restart:  # refuse a missing or foreign checkpoint before meshing
        ckpt_data = open_checkpoint(ckpt_path, comm)
        check_fingerprint(ckpt_path, ckpt_data["meta"]["fingerprint"], fp_inputs)
    from ..meshing.meshers import PERIODIC_MESHERS

    pruned, report = prune_dead_clusters(labels, voxel_um, periodic_xy=mesher_name in PERIODIC_MESHERS)
    extra = {}
    if mesher is None or isinstance(mesher, str):
        from ..meshing.meshers import get_mesher

        mesher = get_mesher(mesher_name)
        if cache_dir is not None and mesher_name != "voxel":  # (the voxel mesher takes seconds)
            extra["cache_dir"] = cache_dir
    if separator_growth != 1.0:
        extra["separator_growth"] = separator_growth
    t_mesh = time.perf_counter()
    tm = mesher(pruned.astype(np.uint8), voxel_um, separator_um, comm, **extra)
    domains = build_domains(tm)
    if params.interface_area == "smoothed-normal":  # kinetics on the smooth surface's area
        attach_smoothed_normals(domains, pruned, voxel_um, params.interface_normal_sigma_vox)
    t_mesh = time.perf_counter() - t_mesh
    # per phase and axis: finite volumes on the image (1x, 2x) and a few P1 solves on this mesh
    # (transport_matching.py; nothing with transport = "p1")
    match = match_conductances(pruned, voxel_um, tm, comm, transport, cache_dir=cache_dir)
    with ExitStack() as own:  # PETSc objects and options, the CSV and XDMF files: released on any exit
        problem = DischargeProblem(domains, params, num["eps_ncm"], num["i_1c_A"], solver,
                                   conductance_factors=match.factors(), sliver_angle_deg=match.sliver_angle_deg)
        own.callback(problem.destroy)
        say(f"fem-twin discharge: {labels.shape} voxels of {voxel_um:g} um + {separator_um:g} um separator, "
            f"{domains.num_cells_global} cells, {problem.num_dofs} unknowns on {comm.size} rank(s); "
            f"1C = {num['i_1c_A']:.4e} A; dead NCM {report.as_dict()['dead_ncm_fraction']:.2%}, "
            f"dead LPSCl {report.as_dict()['dead_lpscl_fraction']:.2%}; solver {problem.solver_spec.name}"
            + (" (LU of all of A on each rank)" if problem.sys.lu_layout == "redundant" else ""))
        say(f"fem-twin discharge: {match.describe()}")
        if report.edge_contact_warning() is not None:
            say(f"fem-twin discharge: warning: {report.edge_contact_warning()}")
        fp = fingerprint(problem, fp_inputs)
        resume, restarted = None, None
        if checkpoint.restart:
            rs = read_checkpoint(ckpt_path, problem, fp, ckpt_data)
            ckpt_data = None  # (the arrays are in the fields now)
            resume = rs.state
            restarted = {"time_s": resume.t_s, "accepted_steps": resume.accepted, "protocol_step": resume.step_index + 1,
                         "checkpoint": str(ckpt_path), "checkpoint_ranks": rs.meta["ranks"],
                         "restarts": rs.meta.get("restarts", 0) + 1,
                         "time_loop_before_s": rs.meta.get("time_loop_s", 0.0)}
            say(f"fem-twin discharge: restart from {ckpt_path} at t = {resume.t_s:.6g} s "
                f"({resume.accepted} accepted steps, written on {rs.meta['ranks']} rank(s))")
        files = RunFiles(outdir, comm, num["ncm_mass_g"], num["face_area_cm2"],
                         rows=rs.rows if restarted else None, restart=bool(restarted))
        own.callback(files.close)
        fields = (FieldWriter(problem, outdir, suffix=f"_restart{restarted['restarts']}" if restarted else "", tagged=tm)
                  if write_fields else None)
        if fields:
            own.callback(fields.close)

        def on_row(row):
            q_g, q_cm2 = capacities(row["charge_C"], num["ncm_mass_g"], num["face_area_cm2"])
            row["capacity_mAh_per_g"], row["capacity_mAh_per_cm2"] = q_g, q_cm2
            files.add(row)
            say(f"  t = {row['time_s']:9.2f} s  V = {row['voltage_V']:.4f} V  Q = {q_g:7.2f} mAh/g  "
                f"x = {row['mean_lithiation']:.4f}  Newton {row['newton_its']:2d}  linear {row['linear_its']:3d}  "
                f"dt = {row['dt_s']:.3g} s" + (f"  x_max = {row['max_lithiation']:.4f}"
                                                if row.get("max_lithiation", 0.0) >= 1.0 else ""))

        t_run = time.perf_counter()
        loop_before = restarted["time_loop_before_s"] if restarted else 0.0
        ckpt = None
        if checkpoint.every or checkpoint.on_sigterm or checkpoint.stop_after is not None \
                or checkpoint.max_wall_s is not None:
            ckpt = Checkpointer(checkpoint, ckpt_path, problem, fp, lambda: files.rows,
                                extra=lambda: {"restarts": restarted["restarts"] if restarted else 0,
                                               "time_loop_s": loop_before + time.perf_counter() - t_run})
        with ckpt.sigterm() if ckpt else nullcontext():
            out = run_protocol(problem, protocol, num["i_1c_A"], stepping, on_row=on_row,
                               on_fields=fields.write if fields else None, log=say, resume=resume, on_accepted=ckpt)
        t_run = time.perf_counter() - t_run
        rows = files.rows
        cons = [abs(r["interface_current_A"] - r["current_A"]) / num["i_1c_A"] for r in rows]
        cons_li = [abs(r["li_current_A"] - r["current_A"]) / num["i_1c_A"] for r in rows]
        add_step_numbers(out.steps, protocol.cycle_of(), num["ncm_mass_g"], num["face_area_cm2"])
        cycles = cycle_summaries(out.steps, num["ncm_mass_g"], num["face_area_cm2"])
        summary = {
            "fem_twin_version": __version__,
            "complete": out.complete, "message": out.message,
            "protocol": protocol.describe(), "steps": out.steps, "cycles": cycles,
            "capacity_mAh_per_g": out.steps[0]["capacity_mAh_per_g"] if out.steps else None,
            "capacity_mAh_per_cm2": out.steps[0]["capacity_mAh_per_cm2"] if out.steps else None,
            "parameters": params.to_dict(), "electrode": num, "dead_clusters": report.as_dict(),
            "mesh": {"voxels": list(labels.shape), "voxel_um": voxel_um, "separator_um": separator_um,
                     "separator_growth": separator_growth, "mesher": mesher_name,
                     "mesher_stats": getattr(tm, "stats", None),
                     "cells": domains.num_cells_global, "unknowns": problem.num_dofs,
                     "interface_area_um2": domains.interface_area_um2,
                     "interface_weighted_area_um2": domains.interface_weighted_area_um2,
                     "ncm_volume_um3": domains.ncm_volume_um3,
                     "electrolyte_volume_um3": domains.electrolyte_volume_um3,
                     "kappa_lpscl_S_m": problem.kappa},
            "solver": {"name": problem.solver_spec.name, "requested": solver.name, "options": solver.options,
                       "lu_layout": problem.sys.lu_layout,
                       "newton_iterations": sum(r["newton_its"] for r in rows),
                       "linear_iterations": sum(r["linear_its"] for r in rows),
                       "preconditioner_rebuilds_within_newton": problem.sys.rebuilds,
                       "krylov_by_role": _krylov_roles(problem.sys.roles),
                       "timings": {**problem.timings, **{f"linear_{k}": v for k, v in problem.sys.timings.items()}}},
            "transport": match.as_dict(),
            "stepping": stepping.as_dict(),
            "conservation": {"max_interface_vs_applied_rel_1C": max(cons) if cons else None,
                             "max_li_vs_applied_rel_1C": max(cons_li) if cons_li else None},
            "lithiation_bounds": lithiation_bounds(rows, stepping.lithiation_overshoot),
            "rejected_steps": out.rejected_steps,
            "ranks": comm.size, "wall_time_s": time.perf_counter() - t0,
            "mesh_time_s": t_mesh, "time_loop_s": t_run, "accepted_rows": len(rows),
        }
        if out.interrupted:
            summary["interrupted_at_time_s"] = out.time_s
        if restarted:
            summary["restarted_from"] = restarted
        if ckpt is not None:
            summary["checkpoint"] = ckpt.summary()
        summary["peak_rss_MB_max_rank"] = comm.allreduce(_peak_rss_mb(), op=MPI.MAX)
        files.finish(summary)
    if out.complete:
        say(f"fem-twin discharge: done in {summary['wall_time_s']:.1f} s; capacity "
            f"{summary['capacity_mAh_per_g']:.2f} mAh/g ({summary['capacity_mAh_per_cm2']:.4f} mAh/cm2); "
            f"files in {outdir}")
    if out.input_error:
        raise InputError("--cutoff", "a cut-off the cell does not start beyond", out.message)
    return DischargeResult(out.complete, out.message, summary, rows)


def lithiation_bounds(rows: list, overshoot: float) -> dict:
    """What the accepted states' NCM lithiation did against c_max (discharge.json
    ``lithiation_bounds``): the accepted overshoot (``stepping.lithiation_overshoot``), the largest
    node value, the largest volume-mean excess above 1 and how many accepted rows had a node above 1
    (rows from before these columns existed are not counted)."""
    xs = [r["max_lithiation"] for r in rows if "max_lithiation" in r]
    ex = [r["lithiation_excess"] for r in rows if "lithiation_excess" in r]
    return {"overshoot_allowed": float(overshoot), "max_lithiation": max(xs) if xs else None,
            "max_lithiation_excess": max(ex) if ex else None,
            "rows_with_a_node_above_1": sum(x > 1.0 for x in xs), "rows_counted": len(xs)}


def discharge(labels: np.ndarray, voxel_um: float, outdir: str | Path,
              settings: DischargeSettings | None = None, comm=MPI.COMM_WORLD, restart: bool = False,
              params: ParameterSet | None = None, cache_dir: str | Path | None = None) -> DischargeResult:
    """Discharge a composite label image (``voxel_um`` voxels) as ``settings`` say (default
    :class:`DischargeSettings`: 1C to 3.0 V, 30 um separator), files into ``outdir``;
    ``restart``: continue from ``outdir/checkpoint.npz``. ``params`` overrides ``settings.params``
    (a ParameterSet built in code). ``cache_dir``: reuse the mesh and the conductance factors
    (:func:`run_discharge`)."""
    st = settings or DischargeSettings()
    return run_discharge(labels, voxel_um, outdir, params=params or st.parameters(), protocol=st.protocol_object(),
                         separator_um=st.separator.thickness_um, separator_growth=st.separator.growth,
                         solver=st.solver.spec(), stepping=st.stepping_options(), comm=comm,
                         write_fields=st.outputs.fields, quiet=st.outputs.quiet, mesher=st.mesher,
                         checkpoint=st.checkpoints.options(restart), transport=st.transport, cache_dir=cache_dir)
