"""Files of a discharge run: CSV time series, JSON summary, PNG curve, XDMF fields for ParaView.

- ``discharge.csv`` (rank 0, one row per accepted step, flushed at once so a failed run keeps
  everything up to its last good step): time_s, step, voltage_V, current_A (> 0 discharge; in a CV
  hold the current the model gives),
  capacity_mAh_per_g (charge passed in the current protocol step per gram of NCM in the
  electrode, dead clusters included), capacity_mAh_per_cm2 (per electrode face area),
  mean_lithiation, dt_s, newton_its, linear_its, interface_current_A, li_current_A.
- ``discharge.json``: parameters, mesh and cell sizes, capacities per step, ranks, wall time,
  ``complete`` and ``message``.
- ``discharge.png``: voltage vs specific capacity, one line per protocol step.
- ``discharge_cycles.png`` (a protocol that charges): voltage vs capacity per cycle
  (:mod:`fem_twin.post.cycle_plot`); ``discharge.json`` has ``steps`` and ``cycles`` summaries
  (:mod:`fem_twin.fem.summaries`).
- ``fields_ncm.xdmf`` (lithiation, c_s, phi_s), ``fields_electrolyte.xdmf`` (phi_e, c_e, the ionic
  current density i_e as a cell vector in A/m2 and the Li+ flux i_e/F), ``fields_interface.xdmf``
  (eta, j on the NCM | LPSCl facets, P1 on a facet mesh). A restarted run (``--restart``) writes
  its fields from the restart time on into ``fields_*_restart<N>.xdmf`` (N-th restart; the
  mesh partition may differ from the first run's); the earlier files keep theirs.
- ``checkpoint.npz``: see :mod:`fem_twin.fem.checkpoint`; on restart the CSV is rewritten from
  the rows stored in the checkpoint, then continued.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import ufl

from .._dolfinx import MPI, dolfinx
from ..log import logger
from ..parameters.cell import FARADAY
from .kinetics import butler_volmer

CSV_COLUMNS = ["time_s", "step", "voltage_V", "current_A", "capacity_mAh_per_g", "capacity_mAh_per_cm2",
               "mean_lithiation", "dt_s", "newton_its", "linear_its", "interface_current_A", "li_current_A",
               "max_lithiation", "lithiation_excess"]


def _vertex_to_dof(space) -> np.ndarray:
    """P1 space: local vertex index -> local dof index."""
    msh = space.mesh
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim, 0)
    c2v = msh.topology.connectivity(tdim, 0)
    nv = msh.topology.index_map(0).size_local + msh.topology.index_map(0).num_ghosts
    out = np.full(nv, -1, np.int64)
    dm = space.dofmap.list
    nc = dm.shape[0]
    if nc == 0:  # a rank without cells of this (sub)mesh
        return out
    verts = c2v.array.reshape(nc, -1)
    out[verts.ravel()] = dm.ravel()
    return out


class InterfaceFields:
    """eta and j as P1 functions on a mesh of the NCM | LPSCl facets (values at the vertices)."""

    def __init__(self, problem):
        d = problem.domains
        msh = d.parent
        tdim = msh.topology.dim
        msh.topology.create_connectivity(tdim, tdim - 1)
        c2f = msh.topology.connectivity(tdim, tdim - 1).array.reshape(-1, tdim + 1)
        facets = c2f[d.interface[:, 0], d.interface[:, 1]].astype(np.int32)
        fmesh, _, fvmap, _ = dolfinx.mesh.create_submesh(msh, tdim - 1, np.unique(facets))
        self._bind(problem, fmesh, fvmap)

    def _bind(self, problem, fmesh, fvmap, to_parent: np.ndarray | None = None):
        """eta, j on the facet mesh ``fmesh`` (vertex map ``fvmap`` to its parent) and, per facet-mesh
        dof, the NCM and electrolyte dofs at the same vertex: facet-mesh vertex -> parent vertex
        (-> ``to_parent[v]``, the problem's parent vertex, when the facet mesh's parent is another
        mesh) -> phase-submesh vertex -> phase dof."""
        d = problem.domains
        self.mesh = fmesh
        W = dolfinx.fem.functionspace(fmesh, ("Lagrange", 1))
        self.eta = dolfinx.fem.Function(W, name="eta")
        self.j = dolfinx.fem.Function(W, name="j")
        fdofs = _vertex_to_dof(W)
        pverts = np.asarray(fvmap.sub_topology_to_topology(np.arange(fdofs.size, dtype=np.int32), False), np.int64)
        if to_parent is not None:
            pverts = to_parent[pverts]
            if np.any((fdofs >= 0) & (pverts < 0)):
                raise RuntimeError("interface fields: a facet-mesh vertex without a vertex of the problem's mesh")

        def phase_dofs(phase, space):
            sverts = phase.vertex_map.sub_topology_to_topology(np.maximum(pverts, 0).astype(np.int32), True)
            v2d = _vertex_to_dof(space)
            return np.where((sverts >= 0) & (pverts >= 0), v2d[np.maximum(sverts, 0)], -1)

        self.fdofs = fdofs
        self.ncm_dofs = phase_dofs(d.ncm, problem.Vs)
        self.ely_dofs = phase_dofs(d.electrolyte, problem.Ve)
        self.ok = (self.ncm_dofs >= 0) & (self.ely_dofs >= 0) & (fdofs >= 0)
        self.problem = problem

    def update(self):
        pb, p = self.problem, self.problem.params
        i, s, e = self.fdofs[self.ok], self.ncm_dofs[self.ok], self.ely_dofs[self.ok]
        kin = butler_volmer(p, pb.theta_s.x.array[s], pb.psi_s.x.array[s], pb.phi_e.x.array[e],
                            None if pb.frozen_ce else pb.theta_e.x.array[e], float(pb.V.value))
        self.eta.x.array[i] = kin.eta
        self.j.x.array[i] = kin.j


def _factor_on_submesh(factor, phase):
    """The parent mesh's DG0 vector Function ``factor`` copied onto the phase submesh's cells."""
    sub = phase.mesh
    Q = dolfinx.fem.functionspace(sub, ("DG", 0, (3,)))
    out = dolfinx.fem.Function(Q)
    n = sub.topology.index_map(3).size_local + sub.topology.index_map(3).num_ghosts
    parent = np.asarray(phase.entity_map.sub_topology_to_topology(np.arange(n, dtype=np.int32), False))
    src = factor.x.array.reshape(-1, 3)[factor.function_space.dofmap.list[parent, 0]]
    out.x.array.reshape(-1, 3)[Q.dofmap.list[:n, 0]] = src
    return out


class FieldWriter:
    """XDMF time series of the phase fields and the interface (see the module docstring)."""

    def __init__(self, problem, outdir: Path, suffix: str = "", tagged=None):
        """``tagged``: the run's TaggedMesh; when it is periodic (``tagged.unjoined``), the fields
        are written on the cut mesh (:mod:`fem_twin.fem.periodic_output`)."""
        pb, p = problem, problem.params
        comm = pb.comm
        self.pb = pb
        ncm_mesh, ely_mesh = pb.domains.ncm.mesh, pb.domains.electrolyte.mesh
        self.cut = None
        if tagged is not None and tagged.unjoined is not None:
            from .periodic_output import CutPhase, vertex_map_cut_to_periodic

            v = vertex_map_cut_to_periodic(tagged.unjoined.mesh, pb.domains.parent)
            self.cut = {"ncm": CutPhase(tagged.unjoined.mesh, pb.domains.ncm, v),
                        "electrolyte": CutPhase(tagged.unjoined.mesh, pb.domains.electrolyte, v)}
            ncm_mesh, ely_mesh = self.cut["ncm"].mesh, self.cut["electrolyte"].mesh
        self.cs = dolfinx.fem.Function(pb.Vcs, name="c_s")
        self.phis = dolfinx.fem.Function(pb.Vs, name="phi_s")
        self.ce = dolfinx.fem.Function(pb.Ve, name="c_e")
        Q = dolfinx.fem.functionspace(ely_mesh, ("DG", 0, (3,)))
        self.ie = dolfinx.fem.Function(Q, name="i_e")
        self.flux = dolfinx.fem.Function(Q, name="li_flux")
        grad_mu = ufl.grad(pb.phi_e)
        if not pb.frozen_ce:
            grad_mu = grad_mu - 2 * p.thermal_voltage * (1 - p.t_plus) * ufl.grad(pb.theta_e) / pb.theta_e
        if pb.conductance_factor is not None:  # the matched conductivity tensor (transport_matching.py)
            grad_mu = ufl.diag(_factor_on_submesh(pb.conductance_factor, pb.domains.electrolyte)) * grad_mu
        self.ie_expr = dolfinx.fem.Expression(-pb.kappa * 1e6 * grad_mu, Q.element.interpolation_points)
        if self.cut is None:
            self.iface = InterfaceFields(pb)
        else:
            from .periodic_output import CutInterface

            self.iface = CutInterface(pb, tagged, v)
        self.files = {
            part: dolfinx.io.XDMFFile(comm, str(outdir / f"fields_{part}{suffix}.xdmf"), "w")
            for part in ("ncm", "electrolyte", "interface")
        }
        self.files["ncm"].write_mesh(ncm_mesh)
        self.files["electrolyte"].write_mesh(ely_mesh)
        self.files["interface"].write_mesh(self.iface.mesh)

    def write(self, t: float):
        pb, p = self.pb, self.pb.params
        self.cs.x.array[:] = pb.theta_s.x.array * p.c_ncm_max_mol_m3
        self.phis.x.array[:] = pb.psi_s.x.array + float(pb.V.value)
        if pb.frozen_ce:
            self.ce.x.array[:] = p.c_lpscl_mol_m3
        else:
            self.ce.x.array[:] = pb.theta_e.x.array * p.c_lpscl_mol_m3
        self.ie.interpolate(self.ie_expr)
        self.flux.x.array[:] = self.ie.x.array / FARADAY
        self.iface.update()
        for u in (pb.theta_s, self.cs, self.phis):
            self.files["ncm"].write_function(u if self.cut is None else self.cut["ncm"].p1(u), t)
        for u in (pb.phi_e, self.ce):
            self.files["electrolyte"].write_function(u if self.cut is None else self.cut["electrolyte"].p1(u), t)
        for u in (self.ie, self.flux):
            self.files["electrolyte"].write_function(u if self.cut is None else self.cut["electrolyte"].cellwise(u), t)
        for u in (self.iface.eta, self.iface.j):
            self.files["interface"].write_function(u, t)

    def close(self):
        for f in self.files.values():
            f.close()


#: what a run leaves in its output directory (a fresh run removes the earlier run's)
RESULT_FILES = ("discharge.csv", "discharge.json", "discharge.png", "discharge_cycles.png")
#: discharge.json while a run is going on (or after it was killed): never mistaken for a result
RUNNING_MESSAGE = "run in progress, or it ended without writing its results (killed)"


def read_summary(outdir: Path) -> dict | None:
    """``outdir/discharge.json`` as a dict, None when missing or unreadable."""
    try:
        s = json.loads((Path(outdir) / "discharge.json").read_text())
    except (OSError, ValueError):
        return None
    return s if isinstance(s, dict) else None


def has_complete_result(outdir: Path) -> bool:
    """True when ``outdir/discharge.json`` is the summary of a complete run."""
    s = read_summary(outdir)
    return bool(s and s.get("complete") is True)


def write_json_atomic(path: Path, data: dict):
    """Write ``path`` through ``path.tmp`` and a rename: a kill never leaves half a file."""
    import os

    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_jsonable))
    os.replace(tmp, path)


def start_output(outdir: Path, restart: bool, checkpoint_name: str = "checkpoint.npz"):
    """Rank 0, before the first row: a fresh run removes the earlier run's results, fields and
    checkpoint (stale files must not sit beside the new ones); every run then marks
    discharge.json as incomplete ("running") until it writes its summary."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    if not restart:
        stale = [outdir / n for n in RESULT_FILES] + [outdir / checkpoint_name, outdir / (checkpoint_name + ".tmp")]
        stale += sorted(outdir.glob("fields_*.xdmf")) + sorted(outdir.glob("fields_*.h5"))
        for f in stale:
            if f.is_file():
                f.unlink()
    write_json_atomic(outdir / "discharge.json", {"complete": False, "running": True, "message": RUNNING_MESSAGE})


class RunFiles:
    """CSV rows as they come, JSON summary and PNG at the end (rank 0 writes).

    ``rows``: rows of an earlier part of the run (a restart): the CSV starts with them.
    ``restart``: keep the earlier fields and checkpoint (else :func:`start_output` removes them).
    """

    def __init__(self, outdir: Path, comm, ncm_mass_g: float, face_area_cm2: float, rows: list | None = None,
                 restart: bool = False):
        self.outdir = Path(outdir)
        self.comm = comm
        self.mass_g = ncm_mass_g
        self.area_cm2 = face_area_cm2
        self.rows: list[dict] = []
        self._fh = None
        if comm.rank == 0:
            start_output(self.outdir, restart)
            self._fh = open(self.outdir / "discharge.csv", "w", newline="")
            self._csv = csv.DictWriter(self._fh, fieldnames=CSV_COLUMNS)
            self._csv.writeheader()
            self._fh.flush()
        comm.Barrier()  # the stale fields are gone before any rank opens the new ones
        for row in rows or []:
            self.add(row)

    def add(self, row: dict):
        self.rows.append(row)
        if self._fh is not None:
            # (rows restored from a checkpoint written before a column existed leave it empty)
            self._csv.writerow({k: (f"{row[k]:.10g}" if isinstance(row[k], float) else row[k])
                                for k in CSV_COLUMNS if k in row})
            self._fh.flush()

    def close(self):
        """Close the CSV (idempotent; the rows written so far stay)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def finish(self, summary: dict):
        if self.comm.rank != 0:
            return
        self.close()
        write_json_atomic(self.outdir / "discharge.json", summary)
        try:
            self.plot()
        except Exception as exc:  # a plot must not lose the run
            logger.warning(f"fem-twin discharge: could not draw discharge.png ({exc})")
        try:
            from ..post.cycle_plot import CYCLES_PNG, plot_cycles

            plot_cycles(self.rows, summary.get("steps") or [], self.outdir / CYCLES_PNG)
        except Exception as exc:
            logger.warning(f"fem-twin discharge: could not draw the cycle plot ({exc})")

    def plot(self):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4.2))
        steps = sorted({r["step"] for r in self.rows})
        for s in steps:
            rr = [r for r in self.rows if r["step"] == s]
            if all(r["current_A"] == 0 for r in rr):
                continue
            kind = "discharge" if rr[0]["current_A"] > 0 else "charge"
            ax.plot([r["capacity_mAh_per_g"] for r in rr], [r["voltage_V"] for r in rr],
                    label=f"step {s + 1}: {kind}")
        ax.set_xlabel("specific capacity (mAh/g NCM)")
        ax.set_ylabel("cell voltage vs Li (V)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # (a run of rests only has no curve to label)
            ax.legend()
        fig.tight_layout()
        fig.savefig(self.outdir / "discharge.png", dpi=120)
        plt.close(fig)


def _jsonable(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def mpi_max(comm, x: float) -> float:
    return comm.allreduce(float(x), op=MPI.MAX)
