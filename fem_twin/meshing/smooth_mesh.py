"""Labelled voxel image -> smooth, conforming multi-phase tetrahedral mesh through gmsh.

The phase interfaces are the smoothed surfaces of :mod:`fem_twin.meshing.smooth_surface`, not
voxel staircases; gmsh meshes every region (a 6-connected component of one phase, and the separator)
as one discrete volume bounded by those surfaces, so neighbouring regions share their interface
vertices and facets (the mesh is conforming across phases). Cell sizes grow away from the
interfaces (a distance-based size field: h at an interface, up to ``size_max`` h inside particles
and in the separator). The result is a :class:`fem_twin.meshing.voxel_mesh.TaggedMesh` with the
same tags as the voxel mesher (cells: phase labels + SEPARATOR; facets: 100 + 10 lo + hi between
phases, 1-6 on the box planes), so every solver takes either mesh.

Parallel: the surface and the gmsh mesh are built on rank 0 only; the tetrahedra are then
distributed by DOLFINx's graph partitioner (ghost mode shared_facet) and the facet tags computed on
the distributed mesh. gmsh (GPL-2.0-or-later with a linking exception) is used as a library.

Geometry and units as the voxel mesher: um, z = 0 the Li | separator plane, the composite from
z = separator_um to the collector; the separator's layers may be graded (``separator_growth``).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import phases
from .._dolfinx import MPI, dolfinx
from ..errors import InputError
from ..setup_cache import digest, entry_path, load_arrays, sources_digest, store_arrays
from .coarsen_surface import CoarseningOptions, coarsen
from .smooth_surface import LabelledSurface, SmoothingOptions, smooth, staircase_surface
from .voxel_mesh import TaggedMesh, composite_with_separator, separator_layers, tag_facets


@dataclass(frozen=True)
class SmoothMeshOptions:
    """Options of the smooth mesher (lengths in voxel edges h)."""

    smoothing: SmoothingOptions = field(default_factory=SmoothingOptions)
    size_min: float = 1.0  #: cell size at the interfaces, in h
    size_max: float = 4.0  #: largest cell size (particle interiors, separator), in h
    size_growth: float = 0.5  #: size increase per unit distance from the nearest interface
    optimize: str = ""  #: extra gmsh optimiser after the 3D mesh ("Netgen": 5x slower, 1.5x the nodes, slivers stay)
    #: times the finished mesh is refined uniformly (every tetrahedron into 8 by DOLFINx): the same
    #: geometry with all cell sizes halved each time (mesh-convergence studies at fixed geometry)
    refine: int = 0
    algorithm: int = 1  #: gmsh Mesh.Algorithm3D (1 Delaunay, 10 HXT)
    #: surface coarsening before gmsh (``rounds = 0``: off; :data:`COARSE` is the measured set)
    coarsening: CoarseningOptions = field(default_factory=lambda: CoarseningOptions(rounds=0))

    threads: int = 1
    #: periodic axes (0 = x, 1 = y): the two faces of each are meshed alike and joined by the mesh's
    #: topology (:func:`fem_twin.fem.periodic_topology.make_periodic`); the structure must be periodic
    periodic: tuple = ()

    def as_dict(self) -> dict:
        return asdict(self)


#: the coarsening of the ``smooth-coarse`` mesher (measured on the 16 um piece, docs/fidelity.md)
COARSE = CoarseningOptions(rounds=60, tolerance=0.15, max_normal_deg=25.0, min_angle_deg=12.0)


@dataclass
class GmshResult:
    """What rank 0's gmsh run produced (global numbering), before distribution."""

    x: np.ndarray  #: (n, 3) node coordinates, um
    tets: np.ndarray  #: (m, 4) int64 node indices
    tet_label: np.ndarray  #: (m,) int32 cell tag (phase label or SEPARATOR)
    stats: dict


def build_surface(labels: np.ndarray, voxel_um: float, separator_um: float = 0.0, separator_growth: float = 1.0,
                  options: SmoothingOptions = SmoothingOptions(), periodic: tuple = ()) -> LabelledSurface:
    """The smoothed labelled surface of a composite image with its separator (rank-local);
    ``periodic``: axes along which the image wraps (:func:`staircase_surface`)."""
    full, z_um = composite_with_separator(labels, voxel_um, separator_um, separator_growth)
    s = staircase_surface(full, voxel_um, z_um, periodic=periodic)
    return smooth(s, voxel_um, options)


def _size_field(gmsh, surf: LabelledSurface, h: float, opt: SmoothMeshOptions) -> None:
    """Background size: Threshold on the distance to the interface points (box faces included)."""
    f_dist = gmsh.model.mesh.field.add("Distance")
    gmsh.model.mesh.field.setNumbers(f_dist, "SurfacesList", list(range(1, len(surf.surfaces) + 1)))
    f_thr = gmsh.model.mesh.field.add("Threshold")
    gmsh.model.mesh.field.setNumber(f_thr, "InField", f_dist)
    gmsh.model.mesh.field.setNumber(f_thr, "SizeMin", opt.size_min * h)
    gmsh.model.mesh.field.setNumber(f_thr, "SizeMax", opt.size_max * h)
    gmsh.model.mesh.field.setNumber(f_thr, "DistMin", 0.5 * h)
    gmsh.model.mesh.field.setNumber(f_thr, "DistMax",
                                    0.5 * h + (opt.size_max - opt.size_min) * h / max(opt.size_growth, 1e-9))
    gmsh.model.mesh.field.setAsBackgroundMesh(f_thr)


def gmsh_tetrahedra(surf: LabelledSurface, voxel_um: float, opt: SmoothMeshOptions = SmoothMeshOptions(),
                    msh_path=None, log=None) -> GmshResult:
    """Mesh the regions bounded by ``surf`` with gmsh (serial). Optionally writes ``msh_path``."""
    import gmsh

    h = float(voxel_um)
    t0 = time.perf_counter()
    if gmsh.isInitialized():
        gmsh.finalize()
    gmsh.initialize(["-noenv"], readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", int(os.environ.get("FEM_TWIN_GMSH_VERBOSE", "0")))
        gmsh.option.setNumber("General.NumThreads", opt.threads)
        gmsh.option.setNumber("General.Verbosity", int(os.environ.get("FEM_TWIN_GMSH_VERBOSITY", "5")))
        gmsh.model.add("fem_twin_smooth")
        n_s = len(surf.surfaces)
        tri_order = np.argsort(surf.surface_of_triangle, kind="stable")
        bounds = np.searchsorted(surf.surface_of_triangle[tri_order], np.arange(n_s + 1))
        # every node is classified on the first surface that uses it
        first = np.full(surf.points.shape[0], n_s, np.int64)
        np.minimum.at(first, surf.triangles.ravel(), np.repeat(surf.surface_of_triangle, 3))
        node_order = np.argsort(first, kind="stable")
        nb = np.searchsorted(first[node_order], np.arange(n_s + 1))
        for s in range(n_s):
            tag = s + 1
            gmsh.model.addDiscreteEntity(2, tag)
            nodes = node_order[nb[s]:nb[s + 1]]
            if nodes.size:
                gmsh.model.mesh.addNodes(2, tag, (nodes + 1).tolist(), surf.points[nodes].ravel().tolist())
            tr = surf.triangles[tri_order[bounds[s]:bounds[s + 1]]]
            gmsh.model.mesh.addElementsByType(tag, 2, [], (tr + 1).ravel().tolist())
        # one discrete volume per region, bounded by the surfaces that touch it
        for r in range(surf.n_regions):
            bnd = np.flatnonzero((surf.surfaces[:, 0] == r) | (surf.surfaces[:, 1] == r)) + 1
            loop = gmsh.model.geo.addSurfaceLoop(bnd.tolist())
            gmsh.model.geo.addVolume([loop], r + 1)
        gmsh.model.geo.synchronize()
        for lab in np.unique(surf.region_label):
            vols = (np.flatnonzero(surf.region_label == lab) + 1).tolist()
            gmsh.model.addPhysicalGroup(3, vols, int(lab), name=_cell_name(int(lab)))
        _surface_groups(gmsh, surf)
        t_setup = time.perf_counter() - t0
        _size_field(gmsh, surf, h, opt)
        gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
        gmsh.option.setNumber("Mesh.Algorithm3D", opt.algorithm)
        gmsh.option.setNumber("Mesh.Optimize", 1)
        t1, c1 = time.perf_counter(), time.process_time()
        gmsh.model.mesh.generate(3)
        t_mesh, c_mesh = time.perf_counter() - t1, time.process_time() - c1
        t1 = time.perf_counter()
        if opt.optimize:
            gmsh.model.mesh.optimize(opt.optimize)
        t_opt = time.perf_counter() - t1
        if msh_path is not None:
            gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
            gmsh.option.setNumber("Mesh.Binary", 1)
            gmsh.write(str(msh_path))
        node_tags, coords, _ = gmsh.model.mesh.getNodes()
        coords = np.asarray(coords).reshape(-1, 3)
        lookup = np.zeros(int(node_tags.max()) + 1, np.int64)
        lookup[node_tags.astype(np.int64)] = np.arange(node_tags.size)
        tets, labels = [], []
        for r in range(surf.n_regions):
            _, enodes = gmsh.model.mesh.getElementsByType(4, r + 1)
            t = lookup[np.asarray(enodes, np.int64)].reshape(-1, 4)
            if t.shape[0] == 0:
                raise RuntimeError(f"gmsh produced no tetrahedra in region {r} (label {surf.region_label[r]})")
            tets.append(t)
            labels.append(np.full(t.shape[0], surf.region_label[r], np.int32))
    finally:
        gmsh.finalize()
    tets = np.concatenate(tets)
    labels = np.concatenate(labels)
    used, inv = np.unique(tets.ravel(), return_inverse=True)
    stats = {"surface_points": int(surf.points.shape[0]), "surface_triangles": int(surf.triangles.shape[0]),
             "gmsh_surfaces": int(n_s), "gmsh_volumes": int(surf.n_regions),
             "pinch_points": int(surf.pinch.sum()), "time_setup_s": t_setup, "time_mesh3d_s": t_mesh,
             "cpu_mesh3d_s": c_mesh,
             "time_optimize_s": t_opt, "time_gmsh_total_s": time.perf_counter() - t0}
    if log:
        log(f"gmsh: {tets.shape[0]} tetrahedra, {used.size} nodes in {stats['time_gmsh_total_s']:.1f} s "
            f"(3D {t_mesh:.1f} s, optimise {t_opt:.1f} s)")
    return GmshResult(coords[used], inv.reshape(-1, 4).astype(np.int64), labels, stats)


def min_dihedral_deg(x: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """(m,) smallest dihedral angle of each tetrahedron, degrees."""
    p = x[tets]
    normals = []
    for f in ((1, 2, 3), (0, 2, 3), (0, 1, 3), (0, 1, 2)):
        n = np.cross(p[:, f[1]] - p[:, f[0]], p[:, f[2]] - p[:, f[0]])
        opp = p[:, ({0, 1, 2, 3} - set(f)).pop()]
        sgn = np.sign(np.einsum("ij,ij->i", n, opp - p[:, f[0]]))
        normals.append(-sgn[:, None] * n / np.maximum(np.linalg.norm(n, axis=1), 1e-300)[:, None])
    dmin = np.full(len(tets), np.pi)
    for i in range(4):
        for j in range(i + 1, 4):
            dmin = np.minimum(dmin, np.arccos(np.clip(-np.einsum("ij,ij->i", normals[i], normals[j]), -1, 1)))
    return np.degrees(dmin)


def _cell_name(lab: int) -> str:
    return "separator" if lab == phases.SEPARATOR else phases.NAMES[lab]


def _surface_groups(gmsh, surf: LabelledSurface) -> None:
    """Physical surfaces with the facet tags (for users of the .msh file)."""
    pair = surf.label_pair_of_surface()
    plane = surf.plane_of_surface()
    tag = np.zeros(len(pair), np.int64)
    for i, ((a, b), p) in enumerate(zip(pair, plane)):
        if p:
            tag[i] = p
        else:
            try:
                tag[i] = phases.interface_tag(int(a), int(b))
            except ValueError:
                tag[i] = 0
    for t in np.unique(tag[tag > 0]):
        gmsh.model.addPhysicalGroup(2, (np.flatnonzero(tag == t) + 1).tolist(), int(t))


def tet_measures(x: np.ndarray, tets: np.ndarray) -> tuple:
    """(volume um3, radius ratio 3 r_in / r_circ (1 for the regular tet), minimum dihedral angle
    in degrees) of every tetrahedron."""
    p = x[tets]
    e = {(i, j): p[:, j] - p[:, i] for i in range(4) for j in range(4) if i < j}
    vol = np.abs(np.einsum("ij,ij->i", np.cross(e[0, 1], e[0, 2]), e[0, 3])) / 6.0
    areas = sum(0.5 * np.linalg.norm(np.cross(p[:, f[1]] - p[:, f[0]], p[:, f[2]] - p[:, f[0]]), axis=1)
                for f in ((1, 2, 3), (0, 2, 3), (0, 1, 3), (0, 1, 2)))
    r_in = 3 * vol / np.maximum(areas, 1e-300)
    # circumradius from the edge lengths: R = sqrt((aA+bB+cC)(aA+bB-cC)(aA-bB+cC)(-aA+bB+cC)) / (24 V)
    a, A = np.linalg.norm(e[0, 1], axis=1), np.linalg.norm(e[2, 3], axis=1)
    b, B = np.linalg.norm(e[0, 2], axis=1), np.linalg.norm(e[1, 3], axis=1)
    c, C = np.linalg.norm(e[0, 3], axis=1), np.linalg.norm(e[1, 2], axis=1)
    s1, s2, s3 = a * A, b * B, c * C
    prod = np.maximum((s1 + s2 + s3) * (s1 + s2 - s3) * (s1 - s2 + s3) * (-s1 + s2 + s3), 0)
    r_circ = np.sqrt(prod) / np.maximum(24 * vol, 1e-300)
    return vol, 3 * r_in / np.maximum(r_circ, 1e-300), min_dihedral_deg(x, tets)


def quality_of(measures: tuple, mask: np.ndarray | None = None) -> dict:
    """Summary of :func:`tet_measures` (of the tetrahedra in ``mask``)."""
    vol, rr, deg = (m if mask is None else m[mask] for m in measures)
    return {"min_dihedral_deg": float(deg.min()), "dihedral_p01_deg": float(np.percentile(deg, 1)),
            "tets_below_5deg": int((deg < 5).sum()), "tets_below_10deg": int((deg < 10).sum()),
            "min_radius_ratio": float(rr.min()), "radius_ratio_p01": float(np.percentile(rr, 1)),
            "mean_radius_ratio": float(rr.mean()), "min_volume_um3": float(vol.min())}


def quality(x: np.ndarray, tets: np.ndarray) -> dict:
    """Minimum dihedral angle (deg) and radius ratio (3 r_in / r_circ, 1 for the regular tet)."""
    return quality_of(tet_measures(x, tets))


def fidelity(full: np.ndarray, voxel_volume_um3: np.ndarray, x: np.ndarray, tets: np.ndarray,
             tet_label: np.ndarray, tet_volume_um3: np.ndarray | None = None) -> dict:
    """The mesh against its image, per phase: volumes (relative difference), and connected
    components of the cells through shared facets (to compare with the image's 6-connectivity) and
    through shared vertices (what a P1 space couples; the image's 26-connectivity is its analogue).
    ``voxel_volume_um3``: (nx, ny, nz) volume of each voxel of ``full`` (a graded separator)."""
    import scipy.ndimage as ndi
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    if tet_volume_um3 is None:
        p = x[tets]
        vol = np.abs(np.einsum("ij,ij->i", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), p[:, 3] - p[:, 0])) / 6
        del p
    else:
        vol = tet_volume_um3
    # cells sharing a facet: sort the facets by one integer key (three sorted vertex numbers)
    faces = np.sort(np.concatenate([tets[:, [1, 2, 3]], tets[:, [0, 2, 3]], tets[:, [0, 1, 3]], tets[:, [0, 1, 2]]]),
                    axis=1).astype(np.int64)
    nv = int(x.shape[0])
    if nv ** 3 < 2 ** 62:
        key = (faces[:, 0] * nv + faces[:, 1]) * nv + faces[:, 2]
    else:  # too many vertices for one key: rank the rows instead
        key = np.unique(faces, axis=0, return_inverse=True)[1].ravel()
    del faces
    owner = np.tile(np.arange(len(tets), dtype=np.int64), 4)
    order = np.argsort(key, kind="stable")
    ks = key[order]
    same = np.flatnonzero(ks[1:] == ks[:-1])
    pairs = np.column_stack([owner[order[same]], owner[order[same + 1]]])
    del key, order, ks, owner
    out = {}
    n = len(tets)
    for lab in np.unique(full):
        name = _cell_name(int(lab))
        sel = tet_label == lab
        v_mesh, v_img = float(vol[sel].sum()), float(voxel_volume_um3[full == lab].sum())
        same = sel[pairs[:, 0]] & sel[pairs[:, 1]]
        g = sp.coo_matrix((np.ones(int(same.sum())), (pairs[same, 0], pairs[same, 1])), shape=(n, n))
        _, comp = connected_components(g, directed=False)
        n_facet = np.unique(comp[sel]).size
        # vertex connectivity: components of the graph of the phase's cells and their vertices
        cells = np.flatnonzero(sel)
        vg = sp.coo_matrix((np.ones(4 * cells.size), (np.repeat(np.arange(cells.size), 4), cells.size + tets[cells].ravel())),
                           shape=(cells.size + nv, cells.size + nv))
        _, vcomp = connected_components(vg, directed=False)
        n_vertex = np.unique(vcomp[: cells.size]).size
        n6 = ndi.label(full == lab)[1]
        n26 = ndi.label(full == lab, structure=np.ones((3, 3, 3)))[1]
        out[name] = {"volume_mesh_um3": v_mesh, "volume_image_um3": v_img,
                     "volume_rel_diff": (v_mesh - v_img) / v_img if v_img else 0.0,
                     "components_mesh_facet": int(n_facet), "components_image_6": int(n6),
                     "components_mesh_vertex": int(n_vertex), "components_image_26": int(n26)}
    total_mesh, total_img = float(vol.sum()), float(voxel_volume_um3.sum())
    out["total"] = {"volume_mesh_um3": total_mesh, "volume_image_um3": total_img,
                    "volume_rel_diff": (total_mesh - total_img) / total_img}
    return out


def build_smooth_mesh(labels: np.ndarray, voxel_um: float, separator_um: float = 0.0, comm=MPI.COMM_WORLD,
                      separator_growth: float = 1.0, options: SmoothMeshOptions | None = None,
                      msh_path=None, log=None, cache_dir=None) -> TaggedMesh:
    """Smooth conforming tetrahedral mesh of a labelled image (same arguments and result as
    :func:`fem_twin.meshing.voxel_mesh.build_tagged_mesh`). Collective; gmsh runs on rank 0.
    ``stats`` of the returned mesh: gmsh figures, quality and phase volumes vs the image.

    ``cache_dir``: rank 0's tetrahedra (before distribution) are loaded from this folder when a run
    with the same inputs, options and mesher code stored them there, else made and stored
    (:mod:`fem_twin.setup_cache`; ``stats["cache"]`` says which). Not with ``msh_path``."""
    opt = options or SmoothMeshOptions()
    labels = np.asarray(labels)
    if labels.ndim != 3 or min(labels.shape) < 1:
        raise InputError("labels", "a 3D array with at least one voxel", labels.shape)
    if not (np.isfinite(voxel_um) and voxel_um > 0):
        raise InputError("voxel_um", "a number > 0 (um)", voxel_um)
    if not (np.isfinite(separator_growth) and separator_growth >= 1.0):
        raise InputError("--separator-growth", "a factor >= 1", separator_growth)
    h = float(voxel_um)
    sep = separator_layers(float(separator_um), h) * h
    t0, c0 = time.perf_counter(), time.process_time()
    cached = None
    if comm.rank == 0 and cache_dir is not None and msh_path is None:
        entry = _cache_entry(cache_dir, labels, h, separator_um, separator_growth, opt)
        cached = load_arrays(*entry)
    if cached is not None:
        x, cells, cell_label, stats = cached[0]["x"], cached[0]["cells"], cached[0]["cell_label"], cached[1]
        stats["cache"] = {"file": str(entry[0]), "hit": True, "time_load_s": time.perf_counter() - t0}
    elif comm.rank == 0:
        surf = build_surface(labels, h, separator_um, separator_growth, opt.smoothing, opt.periodic)
        coarsening = {"points_before": int(surf.points.shape[0])}
        if opt.coarsening.rounds:
            t_c = time.perf_counter()
            surf = coarsen(surf, h, opt.coarsening)
            coarsening.update(points_after=int(surf.points.shape[0]), restarts=surf.coarsening_restarts,
                              time_s=time.perf_counter() - t_c, options=opt.coarsening.as_dict())
        t_surf, c_surf = time.perf_counter() - t0, time.process_time() - c0
        gm = gmsh_tetrahedra(surf, h, opt, msh_path=msh_path, log=log)
        gm.stats["time_surface_s"] = t_surf
        gm.stats["cpu_surface_s"] = c_surf
        gm.stats["coarsening"] = coarsening
        measures = tet_measures(gm.x, gm.tets)
        gm.stats["quality"] = quality_of(measures)
        conducting = np.isin(gm.tet_label, (phases.NCM, phases.LPSCL, phases.SEPARATOR))
        gm.stats["quality_conducting_phases"] = quality_of(measures, conducting)
        tet_volume = measures[0]
        del measures
        gm.stats["interface_area_um2"] = {"ncm|lpscl smooth surface": surf.area_between(phases.NCM, phases.LPSCL)}
        full, z_um = composite_with_separator(labels, h, separator_um, separator_growth)
        dz = np.diff(z_um) if z_um is not None else np.full(full.shape[2], h)
        gm.stats["fidelity"] = fidelity(full, np.broadcast_to(h * h * dz, full.shape), gm.x, gm.tets, gm.tet_label,
                                        tet_volume)
        del tet_volume
        x, cells, cell_label, stats = gm.x, gm.tets, gm.tet_label, gm.stats
        if cache_dir is not None and msh_path is None:
            t_store = time.perf_counter()
            small = cells.max(initial=0) < np.iinfo(np.int32).max
            stored = store_arrays(entry[0], entry[1], stats, x=x, cells=cells.astype(np.int32) if small else cells,
                                  cell_label=cell_label)
            stats = dict(stats, cache={"file": str(entry[0]), "hit": False, "stored": stored,
                                       "time_store_s": time.perf_counter() - t_store})
    else:
        x, cells = np.zeros((0, 3)), np.zeros((0, 4), np.int64)
        cell_label, stats = np.zeros(0, np.int32), None
    stats = comm.bcast(stats, root=0)
    t1 = time.perf_counter()
    msh, values = _distribute(comm, x, cells, cell_label)
    stats["time_distribute_s"] = time.perf_counter() - t1
    for _ in range(opt.refine):
        msh, values = refine_uniformly(msh, values)
    stats["refined"] = opt.refine  # quality, fidelity and gmsh counts above: the mesh before refinement
    extent = np.array([labels.shape[0] * h, labels.shape[1] * h, sep + labels.shape[2] * h])
    unjoined = None
    if opt.periodic:
        unjoined = _tagged(msh, values, extent, h, sep, stats)
        msh, values = _join_periodic_faces(msh, values, opt.periodic, h)
    stats["periodic_axes"] = list(opt.periodic)
    stats["time_total_s"] = time.perf_counter() - t0
    return _tagged(msh, values, extent, h, sep, stats, unjoined)


def _tagged(msh, values: np.ndarray, extent: np.ndarray, h: float, sep: float, stats: dict, unjoined=None):
    cell_tags = dolfinx.mesh.meshtags(msh, 3, np.arange(values.size, dtype=np.int32), values)
    cell_tags.name = "cell_tags"
    return TaggedMesh(msh, cell_tags, tag_facets(msh, values, extent), h, sep, stats, unjoined)


#: the code the smooth mesh depends on (its cache key, :func:`_cache_entry`)
MESH_SOURCES = ("meshing", "phases.py")


def _cache_entry(cache_dir, labels: np.ndarray, h: float, separator_um: float, separator_growth: float,
                 opt: SmoothMeshOptions) -> tuple:
    """(file, key) of this mesh in ``cache_dir``: the key covers the image, the numbers, the options,
    the meshing code (every module of fem_twin/meshing, fem_twin/phases.py) and the versions of gmsh,
    numpy, scipy and scikit-image (the surface's smoothing)."""
    import gmsh
    import scipy
    import skimage

    key = digest("smooth-mesh", np.asarray(labels, dtype=np.uint8), float(h), float(separator_um),
                 float(separator_growth), opt.as_dict(), sources_digest(*MESH_SOURCES),
                 getattr(gmsh, "__version__", "?"), np.__version__, scipy.__version__, skimage.__version__)
    return entry_path(cache_dir, "smooth-mesh", key, ".npz"), key


def _distribute(comm, x: np.ndarray, cells: np.ndarray, cell_label: np.ndarray):
    """DOLFINx mesh from rank 0's tetrahedra (graph-partitioned, ghost mode shared_facet), and the
    cell label of every local (owned + ghost) cell."""
    import basix.ufl
    import ufl

    domain = ufl.Mesh(basix.ufl.element("Lagrange", "tetrahedron", 1, shape=(3,)))
    part = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    msh = dolfinx.mesh.create_mesh(comm, cells.astype(np.int64), domain, x.astype(np.float64), partitioner=part)
    msh.name = "mesh"
    orig = np.asarray(msh.topology.original_cell_index, dtype=np.int64)
    # labels of the input cells live on rank 0: send each rank the labels of its cells
    wanted = comm.gather(orig, root=0)
    if comm.rank == 0:
        chunks = [cell_label[w] for w in wanted]
    else:
        chunks = None
    values = comm.scatter(chunks, root=0) if comm.size > 1 else cell_label[orig]
    return msh, np.ascontiguousarray(values, dtype=np.int32)


def _join_periodic_faces(msh, values: np.ndarray, axes: tuple, h: float):
    """The mesh with its faces along ``axes`` joined (:func:`make_periodic`; vertices matched to
    1e-6 h) and the label of each of its local cells: owned cells keep their index, the new ghost
    layer (the cells across the periodic faces included) gets its labels from the owners."""
    import basix.ufl

    from ..fem.periodic_topology import make_periodic

    n_owned = msh.topology.index_map(3).size_local
    joined = make_periodic(msh, axes, tol=1e-6 * h)
    joined.name = msh.name
    V = dolfinx.fem.functionspace(joined, basix.ufl.element("DG", joined.basix_cell(), 0))
    lab = dolfinx.fem.Function(V)
    dofs = V.dofmap.list[:, 0]
    lab.x.array[dofs[:n_owned]] = values[:n_owned]
    lab.x.scatter_forward()
    cmap = joined.topology.index_map(3)
    return joined, np.ascontiguousarray(np.rint(lab.x.array[dofs[:cmap.size_local + cmap.num_ghosts]]),
                                        dtype=np.int32)


def refine_uniformly(msh, values: np.ndarray):
    """Every tetrahedron split into 8 (DOLFINx uniform refinement, cells stay on their rank, ghost
    layer rebuilt): the same geometry, edges halved. Returns the refined mesh and the label of each
    local (owned + ghost) refined cell, from its parent cell (owned cells from the parent map, the
    ghosts' labels from their owners through a DG0 scatter)."""
    import basix.ufl

    msh.topology.create_entities(1)
    fine, parent, _ = dolfinx.mesh.refine(msh, option=dolfinx.mesh.RefinementOption.parent_cell)
    fine.name = msh.name
    cmap = fine.topology.index_map(3)
    n_owned, n_local = cmap.size_local, cmap.size_local + cmap.num_ghosts
    parent = np.asarray(parent, dtype=np.int64)
    # original_cell_index numbers the refined cells as input across all ranks: this rank's block of
    # that numbering starts after the lower ranks' cells
    start = msh.comm.exscan(parent.size) if msh.comm.size > 1 else 0
    orig = np.asarray(fine.topology.original_cell_index, dtype=np.int64)[:n_owned] - (start or 0)
    bad = bool(orig.size) and bool(orig.min() < 0 or orig.max() >= parent.size)
    if msh.comm.allreduce(bad, op=MPI.LOR):  # every rank raises, none waits in a collective
        raise RuntimeError("refined cells are not numbered as their rank's input cells: cannot map their parents")
    V = dolfinx.fem.functionspace(fine, basix.ufl.element("DG", fine.basix_cell(), 0))
    lab = dolfinx.fem.Function(V)
    dofs = V.dofmap.list[:, 0]
    lab.x.array[dofs[:n_owned]] = values[parent[orig]]
    lab.x.scatter_forward()
    return fine, np.ascontiguousarray(np.rint(lab.x.array[dofs[:n_local]]), dtype=np.int32)


def build_periodic_smooth_mesh(labels: np.ndarray, voxel_um: float, separator_um: float = 0.0, comm=MPI.COMM_WORLD,
                               separator_growth: float = 1.0, msh_path=None, log=None, cache_dir=None) -> TaggedMesh:
    """:func:`build_smooth_mesh` periodic in x and y (the ``smooth-periodic`` mesher): the side
    faces are joined, the result's ``unjoined`` is the same mesh with them cut."""
    return build_smooth_mesh(labels, voxel_um, separator_um, comm, separator_growth,
                             SmoothMeshOptions(periodic=(0, 1)), msh_path=msh_path, log=log, cache_dir=cache_dir)


def build_coarse_smooth_mesh(labels: np.ndarray, voxel_um: float, separator_um: float = 0.0, comm=MPI.COMM_WORLD,
                             separator_growth: float = 1.0, msh_path=None, log=None, cache_dir=None) -> TaggedMesh:
    """:func:`build_smooth_mesh` with the surface coarsened by :data:`COARSE` (the ``smooth-coarse`` mesher)."""
    return build_smooth_mesh(labels, voxel_um, separator_um, comm, separator_growth,
                             SmoothMeshOptions(coarsening=COARSE), msh_path=msh_path, log=log, cache_dir=cache_dir)
