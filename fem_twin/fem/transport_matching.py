"""Conductance matching: the discharge's P1 transport made to carry the converged effective conductivity.

Why (docs/fidelity.md sections 3, 8 and 9): continuous P1 on a conforming mesh overestimates the
conductance of a tortuous phase (it is an upper bound for the mesh's geometry), and on these
structures, whose necks are one or two voxels wide, the error falls slowly with refinement (observed
order 0.83-0.85): the LPSCl sigma_eff/sigma of the 16 um seed-1 piece along z is 0.03309 on the
default smooth mesh, 0.03057 and 0.02918 after one and two uniform refinements (1.04M unknowns), and
extrapolates to 0.0263 with pinch contacts cut. The default mesh is +26 % above that, and no
affordable refinement reaches the issue's 5 %. Voxel finite volumes (the method of record of the
voxel tools: within 0.3-0.6 % of PoreSpy's ``tortuosity_fd`` and of TauFactor) err the other way:
0.02196 on the image, 0.02429 on the image upsampled 2x (-16 % / -7 %).

What (``transport = "fv-matched"``): the target is the finite-volume conductance extrapolated to
h -> 0 from the image and the image upsampled 2x (:func:`extrapolated`, order :data:`FV_ORDER`; on
the seed-1 piece 0.02582, 1.8 % below P1's three-level limit 0.0263 from above; orders 1..2 move it
by +3/-3 %). For each conducting phase of the composite, Ohm solves per axis on the discharge's own mesh
(:func:`fem_twin.fem.conductivity.solve_ohm` on the phase's cells) give P1's sigma_eff/sigma along x,
y and z, and the phase's conductivity in the discharge becomes the tensor sigma diag(fx, fy, fz) in the
composite's cells of that phase, with f found by Newton steps so that P1 with the tensor has the
target conductance along each axis (the axes couple: current detours where a direction is cheaper).
One isotropic factor from z alone left x and y 4-8 % off on the demo electrode.

Which coefficients: LPSCl's kappa, its ln c_e diffusion-migration term and D_e (one geometric factor
for the phase's transport) in the composite's LPSCl cells, not in the separator (a slab, where P1 is
exact); NCM's electronic sigma_s. Not NCM's D_s: lithium diffusion inside a particle is resolved
(the single-particle comparison with PyBaMM holds to 5 mV on the smooth mesh), and scaling it by a
network factor would slow the particles' filling.

Where it does not apply: along an axis where a phase does not span the composite on the mesh or on
the image (P1 or fv zero, e.g. NCM crossing only through edge or corner contacts) the factor is the
phase's z factor, or 1 when z cannot be matched either, and the record says so; P1's conductance through such contacts is the known
over-connection (``PruneReport.edge_contact_warning``). Near a percolation threshold no diagonal
tensor may match all three axes within a few Newton steps (:func:`match_factors`): the least-bad
tensor tried is kept and the record says how far off it is (``mismatch``, ``history``, ``note``).

A periodic mesh (``TaggedMesh.unjoined`` set, the ``smooth-periodic`` mesher): the same matching with
P1 on the periodic mesh and finite volumes with x and y periodic
(:mod:`fem_twin.fem.periodic_transport`; x and y by the homogenisation cell problem).

``transport = "p1"``: the plain P1 conductivities (the low-level default of
:func:`fem_twin.fem.discharge_run.run_discharge`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from .. import phases
from ..errors import InputError
from ..setup_cache import digest, entry_path, load_json, sources_digest, store_json

# (no DOLFINx at import: the settings and the command-line parsers import the names below)

TRANSPORTS = ("fv-matched", "p1")
#: discharge transport of the commands, the demo, the study and DischargeSettings
DEFAULT_TRANSPORT = "fv-matched"


def check_transport(name: str) -> str:
    if name not in TRANSPORTS:
        raise InputError("--transport", " or ".join(TRANSPORTS), name)
    return name


@dataclass(frozen=True)
class PhaseMatch:
    """One phase's conductances along x, y, z, relative to the intrinsic conductivity."""

    phase: str  #: "ncm" or "lpscl"
    #: sigma_eff / sigma of P1 on the discharge mesh (composite cells of the phase, slivers not
    #: conducting: :data:`SLIVER_ANGLE_DEG`), x, y, z
    p1: tuple
    #: the target: finite volumes extrapolated to h -> 0 from fv_1x and fv_2x (:func:`extrapolated`)
    fv: tuple
    factor: tuple  #: the diagonal of what multiplies the phase's conductivity in the discharge
    note: str  #: which axes could not be matched and what they got instead
    iterations: int = 0  #: P1 solves with the tensor per axis
    mismatch: float = 0.0  #: largest |p1(diag(factor)) / fv - 1| over the matched axes, last iteration
    fv_1x: tuple = ()  #: finite volumes on the pruned image (6-connectivity)
    fv_2x: tuple = ()  #: finite volumes on the image upsampled 2x (every voxel split into 8: the same staircase)
    slivers: tuple = ()  #: cells of the phase's mesh along x, y, z that carry no conduction (:func:`sliver_cells`)
    #: the largest |p1 / fv - 1| of every tensor tried, in order (:func:`match_factors`)
    history: tuple = ()

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TransportMatch:
    """The matching of one discharge mesh (:func:`match_conductances`), serialisable to JSON."""

    transport: str  #: "fv-matched" or "p1"
    ncm: PhaseMatch | None
    lpscl: PhaseMatch | None
    time_s: float = 0.0
    #: cells of NCM and LPSCl with a dihedral angle below this carry no conduction (0: none)
    sliver_angle_deg: float = 0.0
    #: where it came from with a cache folder: {"file", "hit"} (None: no cache)
    cache: dict | None = None

    @classmethod
    def from_dict(cls, d: dict) -> "TransportMatch":
        """The inverse of :meth:`as_dict`."""
        phase = lambda m: PhaseMatch(**{k: tuple(v) if isinstance(v, list) else v for k, v in m.items()}) if m else None  # noqa: E731
        return cls(d["transport"], phase(d["ncm"]), phase(d["lpscl"]), d["time_s"], d["sliver_angle_deg"],
                   d.get("cache"))

    def factors(self) -> dict:
        """{"ncm": (fx, fy, fz), "lpscl": (fx, fy, fz)}: the diagonal conductivity factors the
        discharge applies (1 with ``p1``)."""
        return {name: (tuple(m.factor) if m is not None else (1.0, 1.0, 1.0))
                for name, m in (("ncm", self.ncm), ("lpscl", self.lpscl))}

    def as_dict(self) -> dict:
        out = {"transport": self.transport, "time_s": self.time_s, "sliver_angle_deg": self.sliver_angle_deg,
               "ncm": self.ncm.as_dict() if self.ncm else None,
               "lpscl": self.lpscl.as_dict() if self.lpscl else None}
        if self.cache is not None:
            out["cache"] = self.cache
        return out

    def describe(self) -> str:
        if self.transport == "p1":
            return "transport p1 (plain P1 conductivities)"
        fmt = lambda t: "/".join(f"{v:.4g}" for v in t)  # noqa: E731
        parts = [f"{m.phase} p1 {fmt(m.p1)} fv {fmt(m.fv)} factor {fmt(m.factor)}" + (f" ({m.note})" if m.note else "")
                 for m in (self.ncm, self.lpscl)]
        out = "transport fv-matched (x/y/z): " + "; ".join(parts)
        if self.sliver_angle_deg > 0:
            n = [f"{m.phase} {m.slivers[2]}" for m in (self.ncm, self.lpscl) if m is not None and len(m.slivers) == 3]
            out += f"; cells with a dihedral angle < {self.sliver_angle_deg:g} deg not conducting (z meshes: {', '.join(n)})"
        return out


PLAIN = TransportMatch("p1", None, None)


#: cells of NCM and LPSCl with a dihedral angle below this (degrees) carry no conduction in the
#: fv-matched transport (:func:`sliver_cells`): a P1 sliver's stiffness grows like 1 / its height and
#: costs GAMG its convergence, for no physical volume. On the demo electrode's smooth mesh (324 of
#: 383,385 cells) it cut the GMRES iterations per Newton step by 40-60 % and moved the P1 conductances
#: by -0.01 % (LPSCl) and -0.13 % (NCM), which the matching then removes (docs/fidelity.md 9f).
SLIVER_ANGLE_DEG = 1.0
#: what multiplies a sliver's conductivity (not 0: a vertex whose cells are all slivers stays regular)
SLIVER_FACTOR = 1e-6

#: observed order of the finite volumes' conductance error on these images (docs/fidelity.md section 9:
#: on the seed-1 16 um piece fv 1x / 2x with this order extrapolate to where P1 with the pinch
#: contacts cut converges from above over three levels)
FV_ORDER = 4.0 / 3.0


def extrapolated(fv_1x: float, fv_2x: float, order: float = FV_ORDER) -> float:
    """Richardson extrapolation to h -> 0 of a conductance computed at h and h/2."""
    return fv_2x + (fv_2x - fv_1x) / (2.0 ** order - 1.0)


def upsampled(labels: np.ndarray) -> np.ndarray:
    """Every voxel split into 8 (h/2): the same staircase geometry and the same face connectivity."""
    return np.repeat(np.repeat(np.repeat(np.asarray(labels), 2, axis=0), 2, axis=1), 2, axis=2)


#: the matching iterates until every axis's P1 conductance (with the tensor) is this close to the target
MATCH_RTOL = 1e-3
MATCH_MAX_ITERATIONS = 6


def _phase_meshes(labels: np.ndarray, voxel_um: float, label: int, tagged) -> list:
    """Per axis: (P1 mesh of the phase's cells spanning the composite along it, or None, lo, hi,
    cross-section in um2). The phase's cells are those of its components through shared vertices
    that touch both planes (:func:`fem_twin.fem.conductivity.smooth_phase_submesh`): what P1 couples
    on any tagged mesh (on the Kuhn voxel mesh it is the image's 26-connectivity), so the smooth,
    the voxel and a custom mesher are treated alike."""
    from .conductivity import smooth_phase_submesh

    n = labels.shape
    out = []
    for ax in range(3):
        length = n[ax] * voxel_um
        area = float(np.prod([n[i] * voxel_um for i in range(3) if i != ax]))
        lo = tagged.separator_um if ax == 2 else 0.0
        msh, _, vol_active = smooth_phase_submesh(tagged, label, ax, lo, lo + length, 26)
        out.append((msh if vol_active > 0 else None, lo, lo + length, area))
    return out


def sliver_cells(msh, angle_deg: float = SLIVER_ANGLE_DEG) -> np.ndarray:
    """(local cells,) bool: the cells (owned and ghost) of ``msh`` with a dihedral angle below
    ``angle_deg`` degrees (P1 geometry)."""
    from ..meshing.smooth_mesh import min_dihedral_deg

    if angle_deg <= 0:
        return np.zeros(msh.geometry.dofmaps[0].shape[0], bool)
    return min_dihedral_deg(msh.geometry.x, msh.geometry.dofmaps[0]) < angle_deg


def _sliver_sigma(msh) -> np.ndarray:
    """Relative conductivity per local cell of a phase mesh: :data:`SLIVER_FACTOR` on slivers, else 1."""
    return np.where(sliver_cells(msh), SLIVER_FACTOR, 1.0)


def _newton_update(f: list, fv: list, sols: dict, ok: list) -> list:
    """One Newton step from the solves ``sols`` (axis -> OhmSolution with ``split``) made with
    diag(f). The conductance along a is sum_b f_b split_ab (homogeneous of degree 1 in f; split_ab,
    the dissipation along b in the solve along a, is its derivative), so the tangent system
    sum_b split_ab f'_b = fv_a is solved over the matched axes (``ok``); an unmatched axis is tied
    to z (its column joins z's) when z is matched, else held at 1. A step that would make a factor
    <= 0 falls back to f_a fv_a / p1_a."""
    idx = [a for a in range(3) if ok[a]]
    free = [a for a in range(3) if not ok[a]]
    tie = ok[2]
    E = np.array([[sols[a].split[b] + (sum(sols[a].split[u] for u in free) if tie and b == 2 else 0.0)
                   for b in idx] for a in idx])
    rhs = np.array([fv[a] - (0.0 if tie else sum(sols[a].split[u] for u in free)) for a in idx])
    try:
        new = np.linalg.solve(E, rhs)
    except np.linalg.LinAlgError:
        new = None
    out = [1.0, 1.0, 1.0]
    for k, a in enumerate(idx):
        out[a] = float(new[k]) if new is not None and np.all(new > 0) else f[a] * fv[a] / sols[a].relative
    for u in free:
        out[u] = out[2] if tie else 1.0
    return out


def _tied(values: list, ok: list) -> list:
    """``values`` on the matched axes; an unmatched axis takes z's value when z is matched, else 1
    (the rule of :func:`_newton_update`)."""
    out = [float(v) if good else 1.0 for v, good in zip(values, ok)]
    return [out[a] if ok[a] else (out[2] if ok[2] else 1.0) for a in range(3)]


def match_factors(mismatch, fv: list, p1: list, iso: dict, ok: list) -> tuple:
    """The factors of one phase: Newton (:func:`_newton_update`) from the isotropic solves ``iso``
    until every matched axis is within :data:`MATCH_RTOL` of its target ``fv`` or
    :data:`MATCH_MAX_ITERATIONS` tensors have been tried. ``mismatch(f)`` solves with diag(f) and
    returns (solutions per matched axis, largest |p1 / fv - 1|).

    Near a percolation threshold a diagonal tensor may match the three axes badly or not at all (the
    conductance along a barely spanning axis is carried by its detours along the others, so lowering
    its own factor barely lowers it) and Newton wanders (the periodic 24 um 80 wt% seed-3 LPSCl: 20 %
    off after 6 iterations, factors 1.83 / 0.10 / 0.93). Then one more tensor is tried, the per-axis
    ratios fv / p1 of the isotropic solves, and the tensor with the smallest largest mismatch of all
    tried is kept; ``fallback`` says which (empty when Newton converged: then nothing else is tried).

    Returns (f, iterations, worst mismatch of f, fallback, the worst mismatch of every tensor tried
    in order)."""
    f = _newton_update([1.0, 1.0, 1.0], fv, iso, ok)
    tried = []  # (worst, iteration, f)
    for iterations in range(1, MATCH_MAX_ITERATIONS + 1):
        sols, worst = mismatch(f)
        tried.append((worst, iterations, f))
        if worst < MATCH_RTOL or iterations == MATCH_MAX_ITERATIONS:
            break
        f = _newton_update(f, fv, sols, ok)
    if worst < MATCH_RTOL:
        return f, iterations, worst, "", tuple(t[0] for t in tried)
    ratios = _tied([fv[a] / p1[a] if ok[a] else 1.0 for a in range(3)], ok)
    tried.append((mismatch(ratios)[1], 0, ratios))
    best_worst, best_it, best_f = min(tried, key=lambda t: t[0])
    last = f"Newton's last tensor {'/'.join(f'{v:.3g}' for v in f)} was {worst:.1e} off"
    if best_it == 0:
        how = f"kept the per-axis ratios fv / p1 of the isotropic solves; {last}"
    elif best_it == iterations:
        how = f"Newton's last tensor kept: the per-axis ratios fv / p1 were {tried[-1][0]:.1e} off"
    else:
        how = f"kept Newton's tensor of iteration {best_it}; {last}"
    return [float(v) for v in best_f], iterations, float(best_worst), how, tuple(float(t[0]) for t in tried)


def _phase_match(labels: np.ndarray, voxel_um: float, phase: str, tagged, comm) -> PhaseMatch:
    """Factors f (x, y, z) such that P1 on the phase's mesh with the tensor diag(f) has the target
    conductance (finite volumes extrapolated from 1x and 2x) along each axis: a Newton step from
    the isotropic solves (f = 1), then Newton steps (:func:`_newton_update`) until within
    MATCH_RTOL. The axes couple through the tortuous paths (on the demo electrode the isotropic z
    factor alone left x and y 4-8 % off, and f_a <- f_a fv_a / p1_a needed 6 rounds for 2e-3)."""
    from .conductivity import effective_conductivity, phase_label, solve_ohm

    label = phase_label(phase)
    fine = upsampled(labels)
    if getattr(tagged, "unjoined", None) is not None:  # a periodic mesh: periodic P1 and finite volumes
        from .periodic_transport import fv_relative_periodic, periodic_phase_meshes, solve_ohm_periodic

        n = labels.shape
        z0 = tagged.separator_um
        per_axis = periodic_phase_meshes(tagged, label, z0, z0 + n[2] * voxel_um)
        meshes, pins = [], []
        for ax, (m, pinned) in enumerate(per_axis):
            lo = z0 if ax == 2 else 0.0
            area = float(np.prod([n[i] * voxel_um for i in range(3) if i != ax]))
            meshes.append((m, lo, lo + n[ax] * voxel_um, area))
            pins.append(pinned)
        fv_1x = comm.bcast([fv_relative_periodic(labels == label, voxel_um, ax) for ax in range(3)]
                           if comm.rank == 0 else None, root=0)
        fv_2x = comm.bcast([fv_relative_periodic(fine == label, voxel_um / 2, ax) for ax in range(3)]
                           if comm.rank == 0 else None, root=0)

        def ohm(ax, **kw):
            m, lo, hi, area = meshes[ax]
            return solve_ohm_periodic(m, ax, hi - lo, area, pins[ax], lo=lo, **kw)
    else:
        meshes = _phase_meshes(labels, voxel_um, label, tagged)
        fv_1x = [effective_conductivity(labels, voxel_um, phase, ax, method="fv", comm=comm).relative_conductivity
                 for ax in "xyz"]
        fv_2x = [effective_conductivity(fine, voxel_um / 2, phase, ax, method="fv", comm=comm).relative_conductivity
                 for ax in "xyz"]

        def ohm(ax, **kw):
            return solve_ohm(meshes[ax][0], ax, *meshes[ax][1:], **kw)
    del fine
    fv = [extrapolated(a, b) if a > 0 and b > 0 else 0.0 for a, b in zip(fv_1x, fv_2x)]
    sig = [_sliver_sigma(m) if m is not None else None for m, *_ in meshes]
    n_sl = tuple(int(comm.allreduce(int((s[: m.topology.index_map(3).size_local] < 1).sum()))) if m is not None else 0
                 for s, (m, *_) in zip(sig, meshes))
    iso = [ohm(ax, split=True, cell_sigma=sig[ax]) if m is not None else None for ax, (m, *_) in enumerate(meshes)]
    p1 = [s.relative if s is not None else 0.0 for s in iso]
    ok = [a > 0 and b > 0 for a, b in zip(p1, fv)]
    f, iterations, worst, fallback, history = [1.0, 1.0, 1.0], 0, 0.0, "", ()
    if any(ok):
        def mismatch(f):
            sols = {a: ohm(a, tensor_diag=tuple(f), split=True, cell_sigma=sig[a]) for a in range(3) if ok[a]}
            return sols, max(abs(s.relative / fv[a] - 1.0) for a, s in sols.items())

        f, iterations, worst, fallback, history = match_factors(mismatch, fv, p1, {a: iso[a] for a in range(3) if ok[a]}, ok)
        f = comm.bcast(f, root=0)  # (bit-identical on every rank whatever the reductions did)
    bad = [ax for ax, good in zip("xyz", ok) if not good]
    notes = []
    if bad:
        why = " and ".join(f"{ax} ({'no span on the mesh' if p1[i] <= 0 else 'spans through edge or corner contacts only'})"
                           for i, ax in enumerate("xyz") if not ok[i])
        notes.append(f"{phase} not matched along {why}: factor {'of z' if ok[2] else '1'} there")
    if worst >= MATCH_RTOL:
        notes.append(f"matched to {worst:.1e} after {iterations} iterations" + (f" ({fallback})" if fallback else ""))
    return PhaseMatch(phase, tuple(p1), tuple(fv), tuple(f), "; ".join(notes), iterations, worst,
                      tuple(fv_1x), tuple(fv_2x), n_sl, history)


def match_conductances(labels: np.ndarray, voxel_um: float, tagged, comm,
                       transport: str = DEFAULT_TRANSPORT, cache_dir=None) -> TransportMatch:
    """The factors of ``transport`` for the tagged discharge mesh ``tagged`` (any mesher) of the
    (pruned) image ``labels``: per phase and axis one finite-volume and a few P1 Ohm solves.
    Collective; the same on every rank.

    ``cache_dir``: loaded from this folder when a run with the same image, the same distributed mesh
    (so the same rank count) and the same code stored it there, else computed and stored
    (:mod:`fem_twin.setup_cache`; ``cache`` of the result says which)."""
    import time

    check_transport(transport)
    if transport == "p1":
        return PLAIN
    t0 = time.perf_counter()
    labels = np.asarray(labels)
    entry = _cache_entry(cache_dir, labels, voxel_um, tagged, comm, transport) if cache_dir is not None else None
    if entry is not None:
        record = load_json(*entry) if comm.rank == 0 else None
        record = comm.bcast(record, root=0)
        if record is not None:
            return replace(TransportMatch.from_dict(record), time_s=time.perf_counter() - t0,
                           cache={"file": str(entry[0]), "hit": True})
    ncm = _phase_match(labels, voxel_um, "ncm", tagged, comm)
    ely = _phase_match(labels, voxel_um, "lpscl", tagged, comm)
    match = TransportMatch(transport, ncm, ely, time.perf_counter() - t0, SLIVER_ANGLE_DEG)
    if entry is not None:
        stored = store_json(entry[0], entry[1], match.as_dict()) if comm.rank == 0 else None
        match = replace(match, cache={"file": str(entry[0]), "hit": False, "stored": comm.bcast(stored, root=0)})
    return match


#: the code a match depends on (its cache key, :func:`_cache_entry`): this module, the Ohm solves,
#: finite volumes and solvers, the connectivity of the image, and fem_twin/meshing (the sliver
#: angles, the finite volumes' hexahedral mesh)
TRANSPORT_SOURCES = ("fem/__init__.py", "fem/transport_matching.py", "fem/conductivity.py", "fem/conductivity_fv.py",
                     "fem/periodic_transport.py",
                     "fem/solvers.py", "analysis/__init__.py", "analysis/connectivity.py", "meshing",
                     "parameters/__init__.py", "parameters/park2020.py", "phases.py")


def _cache_entry(cache_dir, labels: np.ndarray, voxel_um: float, tagged, comm, transport: str) -> tuple:
    """(file, key) of a match in ``cache_dir``, the same on every rank. The key covers the image,
    every rank's part of the distributed mesh (geometry, cells, cell and facet tags) in rank order,
    the code that computes the factors and the DOLFINx/PETSc versions."""
    from .._dolfinx import PETSc, dolfinx

    msh = tagged.mesh
    local = digest(np.asarray(msh.geometry.x), np.asarray(msh.geometry.dofmaps[0]),
                   np.asarray(tagged.cell_tags.indices), np.asarray(tagged.cell_tags.values),
                   np.asarray(tagged.facet_tags.indices), np.asarray(tagged.facet_tags.values))
    parts = comm.gather(local, root=0)
    key = None
    if comm.rank == 0:
        import scipy

        code = sources_digest(*TRANSPORT_SOURCES)
        key = digest("transport-match", transport, np.asarray(labels, dtype=np.uint8), float(voxel_um),
                     float(tagged.voxel_um), float(tagged.separator_um), parts, code, dolfinx.__version__,
                     PETSc.Sys.getVersion(), np.__version__, scipy.__version__)
    key = comm.bcast(key, root=0)
    return entry_path(cache_dir, "transport-match", key, ".json"), key


def _diagonal(v) -> tuple:
    t = tuple(float(x) for x in (v if np.ndim(v) else (v, v, v)))
    if len(t) != 3 or not all(np.isfinite(x) and x > 0 for x in t):
        raise ValueError(f"conductance factor: expected a number or (fx, fy, fz) > 0, got {v!r}")
    return t


def is_plain(factors: dict | None) -> bool:
    """True when ``factors`` change nothing (None, or every factor 1)."""
    return not factors or all(_diagonal(v) == (1.0, 1.0, 1.0) for v in factors.values())


def conductance_factor_field(parent, cell_labels: np.ndarray, factors: dict, sliver_angle_deg: float = 0.0):
    """DG0 vector Function (fx, fy, fz) on the parent mesh: ``factors["ncm"]`` on NCM cells,
    ``factors["lpscl"]`` on the composite's LPSCl cells, (1, 1, 1) elsewhere (the separator among
    them); a factor is a number or its (x, y, z) diagonal. ``cell_labels``: phase label of every
    local cell (owned and ghost). The conductivity tensor of a cell is sigma diag(f).
    ``sliver_angle_deg`` > 0: NCM and LPSCl cells with a dihedral angle below it get
    :data:`SLIVER_FACTOR` times their factor (:func:`sliver_cells`)."""
    from .._dolfinx import dolfinx

    V0 = dolfinx.fem.functionspace(parent, ("DG", 0, (3,)))
    f = dolfinx.fem.Function(V0, name="conductance_factor")
    per_cell = np.ones((cell_labels.size, 3))
    per_cell[cell_labels == phases.NCM] = _diagonal(factors.get("ncm", 1.0))
    per_cell[cell_labels == phases.LPSCL] = _diagonal(factors.get("lpscl", 1.0))
    if sliver_angle_deg > 0:
        per_cell[sliver_cells(parent, sliver_angle_deg) & np.isin(cell_labels, (phases.NCM, phases.LPSCL))] *= SLIVER_FACTOR
    cells = V0.dofmap.list[:, 0]  # (block size 3: dof d holds entries 3d..3d+2)
    if cells.size != per_cell.shape[0]:
        raise ValueError(f"cell_labels: expected {cells.size} local cells (owned and ghost), got {per_cell.shape[0]}")
    arr = f.x.array.reshape(-1, 3)
    arr[cells] = per_cell
    f.x.scatter_forward()
    return f
