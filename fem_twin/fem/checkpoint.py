"""Checkpoint and restart of a discharge run (``DIR/checkpoint.npz``).

A checkpoint is written after every ``every``-th accepted time step and, after a SIGTERM, at the
next accepted step (the signal handler only sets a flag; all ranks agree on it through an
allreduce at each accepted step, write the checkpoint and stop the run as incomplete). Rank 0
writes ``checkpoint.npz.tmp`` and renames it over ``checkpoint.npz`` (``os.replace``), so a kill
during the write leaves the previous checkpoint intact.

Content (one ``.npz``, no pickles):

- every field of the :class:`~fem_twin.fem.discharge.DischargeProblem` (lithiation, psi_s,
  phi_e, theta_e when c_e is not frozen; the old-step copies only where they differ from the
  fields, which they do not after an accepted step), the collector potential V, and the
  predictor history (last accepted state and its increment, step length and current);
- the time-loop state of :func:`~fem_twin.fem.stepping.run_protocol` (:class:`LoopState`) and
  the rows written so far (the CSV is rewritten from them on restart, so it ends up identical
  to the uninterrupted run's);
- a fingerprint: the global number of dofs per field and hashes of the mesh input (pruned voxel
  labels, voxel size, separator), the parameters, the protocol and the stepping options.

Rank-independent storage: every P1 dof is keyed by the input global index of its vertex in the
parent mesh (``geometry.input_global_indices``; for the voxel mesher the compact id of the voxel
grid corner, the same for any partition; for a periodic mesh the id of the vertex's lower-face
partner, ``vertex_input_ids``), reached through the phase submesh's vertex map. Rank 0
gathers (id, values) of the owned dofs and writes them sorted by id; on restart every rank reads
the file and fills its owned and ghost dofs by ``searchsorted`` on the ids. A run checkpointed on
n ranks restarts on any number of ranks.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._dolfinx import MPI
from ..errors import InputError
from ..log import logger
from .stepping import LoopState
from .terminations import WallTime

CHECKPOINT_NAME = "checkpoint.npz"
FORMAT = "fem_twin discharge checkpoint 1"
SIGTERM_MESSAGE = "interrupted (SIGTERM), checkpoint written"


class CheckpointError(RuntimeError):
    """A checkpoint could not be written (the run goes on, or stops after a SIGTERM, without it)."""


# -- rank-independent dof keys -----------------------------------------------------------------
def vertex_global_ids(msh) -> np.ndarray:
    """Local vertex (owned + ghost) -> input global index of its geometry node (int64; P1 geometry:
    the rows of the geometry dofmap follow the cells' vertices)."""
    ids = getattr(msh, "vertex_input_ids", None)  # a periodic mesh (periodic_topology.make_periodic)
    if ids is not None:
        return np.asarray(ids, np.int64).copy()
    top = msh.topology
    tdim = top.dim
    top.create_connectivity(tdim, 0)
    imap = top.index_map(0)
    out = np.full(imap.size_local + imap.num_ghosts, -1, np.int64)
    gdm = np.asarray(msh.geometry.dofmaps[0])
    if gdm.size == 0:
        return out
    c2v = top.connectivity(tdim, 0).array.reshape(gdm.shape[0], -1)
    if c2v.shape != gdm.shape:
        raise RuntimeError("checkpoint keys need a P1 (affine) mesh geometry")
    out[c2v.ravel()] = np.asarray(msh.geometry.input_global_indices, np.int64)[gdm.ravel()]
    return out


def dof_global_ids(space, vertex_map, parent_ids: np.ndarray) -> np.ndarray:
    """P1 space on a phase submesh: local dof (owned + ghost) -> global id of its parent vertex."""
    from .discharge_io import _vertex_to_dof

    imap = space.dofmap.index_map
    assert space.dofmap.index_map_bs == 1
    nd = imap.size_local + imap.num_ghosts
    ids = np.full(nd, -1, np.int64)
    v2d = _vertex_to_dof(space)
    if v2d.size:
        sub_verts = np.arange(v2d.size, dtype=np.int32)
        pverts = np.asarray(vertex_map.sub_topology_to_topology(sub_verts, False), np.int64)
        ok = v2d >= 0
        ids[v2d[ok]] = parent_ids[pverts[ok]]
    if space.mesh.comm.allreduce(int(np.any(ids < 0)), op=MPI.MAX):
        raise RuntimeError("a P1 dof without a vertex (checkpoint keys)")
    return ids


@dataclass
class _FieldSpec:
    name: str
    ids: np.ndarray  #: local dofs (owned + ghost) -> global id
    n_owned: int


def _field_specs(problem) -> list[_FieldSpec]:
    """One entry per field of ``problem.fields`` (same order), with the dof keys."""
    d = problem.domains
    parent_ids = vertex_global_ids(d.parent)
    phase_of = {"theta_s": d.ncm, "psi_s": d.ncm, "phi_e": d.electrolyte, "theta_e": d.electrolyte}
    names = problem.field_names
    out = []
    for name, u in zip(names, problem.fields):
        V = u.function_space
        ids = dof_global_ids(V, phase_of[name].vertex_map, parent_ids)
        out.append(_FieldSpec(name, ids, V.dofmap.index_map.size_local))
    return out


def _old_of(problem, name):
    return problem.old_field(name)


# -- fingerprint -------------------------------------------------------------------------------
def _hash(obj) -> str:
    if isinstance(obj, (bytes, bytearray)):
        data = bytes(obj)
    else:
        data = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(data).hexdigest()[:16]


#: the discharge discretisation; a checkpoint of another one is refused (session 3: vertex-rule
#: lumped mass and kinetics; checkpoints without this key used the facet midpoint rule)
SCHEME = "p1-lumped-vertex-1"


#: parameters of the interface-area weights (added after checkpoints existed): hashed only when
#: the weights are on, so checkpoints of earlier runs (the same results) still match
_WEIGHT_PARAMETERS = ("interface_area", "interface_normal_sigma_vox")


def _parameter_dict(params) -> dict:
    from ..parameters.cell import TEMPERATURE_DEFAULTS

    d = params.to_dict()
    for key, v in TEMPERATURE_DEFAULTS.items():  # (added in issue 18: hashed only when set)
        if d.get(key) == v:
            d.pop(key)
    if d.get("interface_area", "mesh") == "mesh":  # (sigma matters only with the weights)
        for key in _WEIGHT_PARAMETERS:
            d.pop(key, None)
    # (nor the kinetics' smoothing at c_max: it changes them only within ~10 delta of x = 1, so a run
    # that ended there with the clipped kinetics is continued from its checkpoint with the smoothed ones)
    d.pop("saturation_smoothing", None)
    return d


def input_fingerprint(labels: np.ndarray, voxel_um: float, separator_um: float, params, protocol,
                      stepping, separator_growth: float = 1.0, mesher: str = "voxel",
                      transport: str = "p1") -> dict:
    """Hashes of a run's inputs (known before meshing: a restart is refused early)."""
    lab = np.ascontiguousarray(np.asarray(labels, dtype=np.uint8))
    # (not the fields cadence; not the fractions of an hour when seconds override them: a run with
    # dt_initial_s and dt_max_s hashes as before those fields existed, so its checkpoints still match)
    skip = {"output_every"} | ({"dt_initial_h"} if stepping.dt_initial_s else set()) \
        | ({"dt_max_h"} if stepping.dt_max_s else set())
    # (nor the CV-hold options at their defaults: they came after checkpoints existed)
    from .settings import CUTOFF_TOL_I, MAX_DI, SNES_MAX_ITS

    skip |= {k for k, v in (("max_dI", MAX_DI), ("cutoff_tol_I", CUTOFF_TOL_I)) if getattr(stepping, k) == v}
    # (nor the time steps' Newton limit at 25, SNES's limit that every time step had before the option:
    # a checkpoint from then is continued by a run with ``newton_max_its = 25``)
    if stepping.newton_max_its == SNES_MAX_ITS:
        skip.add("newton_max_its")
    # (nor the accepted lithiation overshoot: every state accepted under one tolerance is a state the
    # time loop may continue under another -- a stricter one rejects the next step that leaves its
    # bounds -- so the runs that ended at the first node past c_max are continued from their final
    # checkpoints with a tolerance; its CSV rows say how far x went)
    skip.add("lithiation_overshoot")
    step_opts = {k: v for k, v in stepping.as_dict().items() if k not in skip}
    mesh = [list(lab.shape), float(voxel_um), float(separator_um)]
    if separator_growth != 1.0:
        mesh.append(float(separator_growth))
    if mesher != "voxel":
        mesh.append(mesher)
    if transport != "p1":  # (a p1 run hashes as before the option existed)
        from .transport_matching import SLIVER_ANGLE_DEG

        mesh.append(transport)
        mesh.append(f"slivers<{SLIVER_ANGLE_DEG:g}deg")  # (fv-matched checkpoints from before: refused)
    return {"mesh": _hash(lab.tobytes() + json.dumps(mesh).encode()),
            "scheme": SCHEME,
            "parameters": _hash(_parameter_dict(params)),
            "protocol": _hash(protocol.describe()),
            "stepping": _hash(step_opts)}


def fingerprint(problem, inputs: dict) -> dict:
    """What a checkpoint must match to be continued by this run: ``inputs`` (from
    :func:`input_fingerprint`) and the global number of dofs per field (collective)."""
    dofs = [int(problem.comm.allreduce(u.function_space.dofmap.index_map.size_local, op=MPI.SUM))
            for u in problem.fields]
    return {"dofs": dofs, **inputs}


_WHAT = {"dofs": "number of dofs per field",
         "mesh": "structure/mesh (voxels, voxel size, separator, separator growth, mesher, transport: "
                 "runs from before --transport were p1, fv-matched runs from before 2026-12-05 conducted "
                 "through slivers)",
         "scheme": "discretisation (fem_twin version of the discharge forms)",
         "parameters": "parameters", "protocol": "protocol", "stepping": "time-stepping options"}


def check_fingerprint(path, stored: dict, current: dict):
    """InputError naming ``path`` at the first item of ``current`` that ``stored`` does not match."""
    for key in ("scheme", "mesh", "dofs", "parameters", "protocol", "stepping"):
        if key in current and stored.get(key) != current[key]:
            raise InputError(str(path), f"a checkpoint of this run (same {_WHAT[key]})",
                             f"different {_WHAT[key]}: {stored.get(key)} in the file, {current[key]} now")


# -- write -----------------------------------------------------------------------------------
def _gather_rows(comm, ids: np.ndarray, cols: np.ndarray):
    """(ids, (n, m) values) of owned dofs -> rank 0, sorted by id (None elsewhere)."""
    m = cols.shape[1]
    counts = comm.gather(int(ids.size), root=0)
    if comm.rank == 0:
        counts = np.asarray(counts, np.int64)
        all_ids = np.empty(int(counts.sum()), np.int64)
        all_vals = np.empty((int(counts.sum()), m), np.float64)
        comm.Gatherv(np.ascontiguousarray(ids, np.int64), (all_ids, counts), root=0)
        comm.Gatherv(np.ascontiguousarray(cols, np.float64).reshape(-1), (all_vals.reshape(-1), counts * m),
                     root=0)
        order = np.argsort(all_ids, kind="stable")
        return all_ids[order], all_vals[order]
    comm.Gatherv(np.ascontiguousarray(ids, np.int64), None, root=0)
    comm.Gatherv(np.ascontiguousarray(cols, np.float64).reshape(-1), None, root=0)
    return None, None


def write_checkpoint(path, problem, state: LoopState, rows: list, fp: dict, extra: dict | None = None):
    """Write ``path`` atomically (rank 0) with the problem's state (collective)."""
    comm = problem.comm
    path = Path(path)
    specs = _field_specs(problem)
    hist = problem.predictor_history
    arrays = {}
    columns = {}
    err = None
    for k, (spec, u) in enumerate(zip(specs, problem.fields)):
        n = spec.n_owned
        cols, names = [u.x.array[:n]], ["value"]
        old = _old_of(problem, spec.name)
        if old is not None:
            differs = comm.allreduce(int(not np.array_equal(old.x.array[:n], u.x.array[:n])), op=MPI.MAX)
            if differs:
                cols.append(old.x.array[:n])
                names.append("old")
        if hist is not None:
            cols.append(np.asarray(hist["state"][k])[:n])
            names.append("history_state")
            if hist["delta"] is not None:
                cols.append(np.asarray(hist["delta"][k])[:n])
                names.append("history_delta")
        ids, vals = _gather_rows(comm, spec.ids[:n], np.column_stack(cols))
        if comm.rank == 0:
            if ids.size > 1 and np.any(ids[1:] == ids[:-1]):
                err = err or f"duplicate dof keys in field {spec.name} (a vertex owned twice)"
            arrays[f"ids_{spec.name}"] = ids
            arrays[f"values_{spec.name}"] = vals
        columns[spec.name] = names
    history = None
    if hist is not None:
        key = hist["current"]  # (the predictor's control key: a current in A, or "V=..." of a CV hold)
        history = {"dt": float(hist["dt"]), "current": key if key is None or isinstance(key, str) else float(key),
                   "V": float(hist["state"][-1]),
                   "dV": float(hist["delta"][-1]) if hist["delta"] is not None else None}
    meta = {"format": FORMAT, "fingerprint": fp, "fields": [s.name for s in specs], "columns": columns,
            "V": float(problem.V.value), "history": history, "loop": state.to_dict(), "rows": rows,
            "ranks": comm.size, "written_unix": time.time(), **(extra or {})}
    if comm.rank == 0 and err is None:
        tmp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                np.savez(fh, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            err = f"{exc}"
    err = comm.bcast(err, root=0)
    if err:
        raise CheckpointError(f"could not write the checkpoint {path}: {err}")


# -- read ------------------------------------------------------------------------------------
@dataclass
class Restart:
    """What :func:`read_checkpoint` restored besides the problem's fields."""

    state: LoopState
    rows: list
    meta: dict


def open_checkpoint(path, comm) -> dict:
    """The arrays of a checkpoint file and its ``meta`` dict, read on every rank (collective).

    Raises :class:`InputError` naming the file when it is missing or not a checkpoint.
    """
    path = Path(path)
    err, data = None, None
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        data["meta"] = json.loads(data["meta"].tobytes().decode())
        if data["meta"].get("format") != FORMAT:
            err = ("a fem_twin discharge checkpoint", f"format {data['meta'].get('format')!r}")
    except FileNotFoundError:
        err = ("a checkpoint written by an earlier run (--checkpoint-every, SIGTERM)", "no such file")
    except (OSError, ValueError, KeyError, EOFError, AttributeError, zipfile.BadZipFile) as exc:
        err = ("a fem_twin discharge checkpoint (.npz)", f"unreadable: {exc}")
    errs = comm.allgather(err)
    err = next((e for e in errs if e is not None), None)
    if err is not None:
        raise InputError(str(path), *err)
    return data


def read_checkpoint(path, problem, fp: dict, data: dict | None = None) -> Restart:
    """Restore ``problem`` (fields, V, predictor history) from ``path`` (collective; ``data``:
    the file already read by :func:`open_checkpoint`).

    Raises :class:`InputError` naming the file when it is missing, unreadable or of another
    run (fingerprint or dof keys differ).
    """
    comm = problem.comm
    path = Path(path)
    data = data if data is not None else open_checkpoint(path, comm)
    meta = data["meta"]
    check_fingerprint(path, meta["fingerprint"], fp)
    specs = _field_specs(problem)
    if meta["fields"] != [s.name for s in specs]:
        raise InputError(str(path), f"fields {[s.name for s in specs]}", meta["fields"])
    hist = meta["history"]
    state, delta = [], []
    bad = 0
    for spec, u in zip(specs, problem.fields):
        ids, vals = data[f"ids_{spec.name}"], data[f"values_{spec.name}"]
        cols = meta["columns"][spec.name]
        pos = np.searchsorted(ids, spec.ids)
        pos_c = np.minimum(pos, max(ids.size - 1, 0))
        if ids.size == 0 or np.any(ids[pos_c] != spec.ids):
            bad = 1
            state.append(None)
            delta.append(None)
            continue
        local = vals[pos_c]
        u.x.array[:] = local[:, cols.index("value")]
        old = _old_of(problem, spec.name)
        if old is not None:
            old.x.array[:] = local[:, cols.index("old" if "old" in cols else "value")]
        state.append(local[:, cols.index("history_state")].copy() if "history_state" in cols else None)
        delta.append(local[:, cols.index("history_delta")].copy() if "history_delta" in cols else None)
    if comm.allreduce(bad, op=MPI.MAX):
        raise InputError(str(path), "a checkpoint of this mesh", "dof keys that do not match the mesh's vertices")
    problem.V.value = meta["V"]
    if hist is None:
        problem.predictor_history = None
    else:
        problem.predictor_history = {"state": tuple(state) + (hist["V"],), "dt": hist["dt"], "current": hist["current"],
                            "delta": (tuple(delta) + (hist["dV"],)) if hist["dV"] is not None else None}
    return Restart(LoopState.from_dict(meta["loop"]), list(meta["rows"]), meta)


# -- during a run ------------------------------------------------------------------------------
@dataclass
class CheckpointOptions:
    """``every``: a checkpoint after every N accepted steps (0: none); ``on_sigterm``: write one
    and stop at the next accepted step after SIGTERM; ``restart``: continue from the output
    directory's checkpoint; ``stop_after``: behave as if SIGTERM came after this many accepted
    steps of this run (tests); ``max_wall_s``: the same once this run has taken that many seconds
    (a batch job's budget; :class:`fem_twin.fem.terminations.WallTime`)."""

    every: int = 10
    on_sigterm: bool = True
    restart: bool = False
    stop_after: int | None = None
    name: str = CHECKPOINT_NAME
    max_wall_s: float | None = None

    def __post_init__(self):
        if not isinstance(self.every, int) or self.every < 0:
            raise InputError("--checkpoint-every", "an integer >= 0 (0: no periodic checkpoints)", self.every)
        if self.max_wall_s is not None and not (isinstance(self.max_wall_s, (int, float)) and self.max_wall_s > 0):
            raise InputError("--max-wall-time", "a time > 0 s", self.max_wall_s)


class Checkpointer:
    """Decides at each accepted step whether to write a checkpoint and whether to stop."""

    def __init__(self, options: CheckpointOptions, path, problem, fp: dict, rows_source, extra=None):
        self.options = options
        self.path = Path(path)
        self.problem = problem
        self.comm = problem.comm
        self.fp = fp
        self.rows_source = rows_source  #: callable -> list of rows so far
        self.extra = extra or (lambda: {})
        self.flag = False
        self.accepted_here = 0
        self.written = 0
        self.failed = 0
        self.last_error = None
        self.last_time_s = None
        self.write_s = 0.0
        self.wall = WallTime(options.max_wall_s)

    def request_stop(self, *_):
        """The SIGTERM handler: only sets a flag (acted upon at the next accepted step)."""
        self.flag = True

    @contextmanager
    def sigterm(self):
        """Install :meth:`request_stop` as the SIGTERM handler (main thread only) for the block."""
        if not self.options.on_sigterm or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGTERM, self.request_stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)

    def __call__(self, state: LoopState):
        """``on_accepted`` of :func:`run_protocol`: returns a stop message or None."""
        self.accepted_here += 1
        if self.options.stop_after is not None and self.accepted_here >= self.options.stop_after:
            self.flag = True
        # (a bit per reason; every rank acts on what any rank saw)
        why = self.comm.allreduce(int(self.flag) | (2 * int(self.wall.reached())), op=MPI.BOR)
        stop = bool(why)
        every = self.options.every
        err = None
        if stop or (every and state.accepted % every == 0):
            err = self.write(state)
        if not stop:
            return None
        cause = "SIGTERM" if why & 1 else f"wall-time limit {self.options.max_wall_s:g} s"
        return f"interrupted ({cause}), checkpoint written" if err is None else f"interrupted ({cause}); {err}"

    def write(self, state: LoopState) -> str | None:
        """Write a checkpoint of ``state``; returns None, or the reason it could not be written
        (a full disk must not end a long run: it goes on and tries again at the next one)."""
        t0 = time.perf_counter()
        try:
            write_checkpoint(self.path, self.problem, state, self.rows_source(), self.fp, self.extra())
        except CheckpointError as exc:
            self.failed += 1
            self.last_error = str(exc)
            if self.comm.rank == 0:
                logger.warning(f"fem-twin discharge: warning: {exc}")
            return str(exc)
        finally:
            self.write_s += time.perf_counter() - t0
        self.written += 1
        self.last_time_s = state.t_s
        return None

    def summary(self) -> dict:
        return {"file": str(self.path), "every": self.options.every, "written": self.written,
                "last_time_s": self.last_time_s, "write_time_s": self.write_s, "failed": self.failed,
                "last_error": self.last_error}
