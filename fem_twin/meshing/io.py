"""Files of a :class:`~fem_twin.meshing.voxel_mesh.TaggedMesh`: XDMF (+ HDF5) and gmsh ``.msh``.

``mesh.xdmf`` / ``mesh.h5`` (written in parallel by DOLFINx; ParaView opens it):

- grid ``mesh``: tetrahedra, coordinates in um;
- grid ``cell_tags``: phase label per cell (PORE 0, NCM 1, LPSCL 2, NBR 3, SEPARATOR 4);
- grid ``facet_tags``: interface tags 101-123 (:func:`fem_twin.phases.interface_tag`) and plane
  tags BOTTOM 1, TOP 2, XMIN 3, XMAX 4, YMIN 5, YMAX 6;
- information ``voxel_um`` and ``separator_um``.

``mesh.msh`` (gmsh 4.1, binary, written by the gmsh API on rank 0; meshio and
``dolfinx.io.gmsh`` read it): the same tetrahedra and tagged triangles, one physical group per
tag with the same numbers as above and a name (``ncm``, ``separator``, ``ncm|lpscl``, ``top``,
...). Gmsh has no metadata field for h and the separator: :func:`read_msh` recovers them from
the mesh (shortest edge of a Kuhn tetrahedron = h; top of the separator cells).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import phases
from .._dolfinx import MPI, dolfinx
from ..errors import FileFormatError
from .voxel_mesh import TaggedMesh

MESH_XDMF = "mesh.xdmf"
MESH_MSH = "mesh.msh"

#: physical-group names of the tags in the .msh file
CELL_TAG_NAMES: dict[int, str] = {**phases.NAMES, phases.SEPARATOR: "separator"}
FACET_TAG_NAMES: dict[int, str] = {**{v: k for k, v in phases.INTERFACE_TAGS.items()},
                                   **{v: k for k, v in phases.BOUNDARY_TAGS.items()}}


# -- XDMF --------------------------------------------------------------------------------------
def write_xdmf(tm: TaggedMesh, path: str | Path) -> Path:
    """Write mesh, cell tags, facet tags, h and the separator thickness to ``path`` (.xdmf + .h5).
    Collective."""
    path = Path(path)
    with dolfinx.io.XDMFFile(tm.comm, str(path), "w") as f:
        f.write_mesh(tm.mesh)
        f.write_meshtags(tm.cell_tags, tm.mesh.geometry)
        f.write_meshtags(tm.facet_tags, tm.mesh.geometry)
        f.write_information("voxel_um", repr(float(tm.voxel_um)))
        f.write_information("separator_um", repr(float(tm.separator_um)))
    return path


def read_xdmf(path: str | Path, comm=MPI.COMM_WORLD) -> TaggedMesh:
    """Read a mesh written by :func:`write_xdmf` (ghost mode shared_facet). Collective."""
    path = Path(path)
    if not path.exists():
        raise FileFormatError(path, "no such file (run 'fem-twin mesh' first)")
    try:
        with dolfinx.io.XDMFFile(comm, str(path), "r") as f:
            msh = f.read_mesh(ghost_mode=dolfinx.mesh.GhostMode.shared_facet, name="mesh")
            ct = f.read_meshtags(msh, name="cell_tags")
            msh.topology.create_entities(2)
            msh.topology.create_connectivity(2, 3)
            ft = f.read_meshtags(msh, name="facet_tags")
            h = float(f.read_information("voxel_um"))
            sep = float(f.read_information("separator_um"))
    except RuntimeError as exc:
        raise FileFormatError(path, f"not a fem_twin mesh ({exc})") from None
    return TaggedMesh(msh, complete_tags(msh, 3, ct, "cell_tags"),
                      complete_tags(msh, 2, ft, "facet_tags"), h, sep)


def complete_tags(msh, dim: int, tags, name: str, untagged: int = -1):
    """Copy of ``tags`` that also tags the ghost copies of tagged owned entities (values sent
    from the owners through the index map)."""
    imap = msh.topology.index_map(dim)
    n_owned = imap.size_local
    vec = dolfinx.la.vector(imap, 1, dtype=np.int32)
    vec.array[:] = untagged
    idx, val = tags.indices, tags.values
    own = idx < n_owned
    vec.array[idx[own]] = val[own]
    vec.scatter_forward()
    ent = np.flatnonzero(vec.array != untagged).astype(np.int32)
    out = dolfinx.mesh.meshtags(msh, dim, ent, vec.array[ent].astype(np.int32))
    out.name = name
    return out


# -- gmsh ----------------------------------------------------------------------------------------
def _gather_global(tm: TaggedMesh):
    """On rank 0: (coordinates (n, 3) by global node index, [(tag, tets (m, 4))],
    [(tag, triangles (m, 3))]), node indices 0-based global geometry indices; None elsewhere."""
    msh = tm.mesh
    comm = tm.comm
    gmap = msh.geometry.index_map()
    n_nodes_owned = gmap.size_local
    l2g = gmap.local_to_global(np.arange(n_nodes_owned + gmap.num_ghosts, dtype=np.int32))
    x_owned = msh.geometry.x[:n_nodes_owned]
    g_owned = l2g[:n_nodes_owned]
    n_cells = msh.topology.index_map(3).size_local
    cells = l2g[msh.geometry.dofmaps[0][:n_cells]]
    cvals = np.full(n_cells, -1, np.int32)
    ci = tm.cell_tags.indices
    keep = ci < n_cells
    cvals[ci[keep]] = tm.cell_tags.values[keep]
    n_facets = msh.topology.index_map(2).size_local
    fi = tm.facet_tags.indices
    sel = fi < n_facets
    fidx, fvals = fi[sel], tm.facet_tags.values[sel]
    msh.topology.create_connectivity(2, 3)
    fnodes = dolfinx.mesh.entities_to_geometry(msh, 2, fidx.astype(np.int32))
    tris = l2g[fnodes] if fidx.size else np.zeros((0, 3), np.int64)
    parts = comm.gather((g_owned, x_owned, cells, cvals, tris, fvals), root=0)
    if comm.rank != 0:
        return None
    n_global = gmap.size_global
    x = np.empty((n_global, 3))
    for g, xx, *_ in parts:
        x[g] = xx
    cells = np.concatenate([p[2] for p in parts])
    cvals = np.concatenate([p[3] for p in parts])
    tris = np.concatenate([p[4] for p in parts])
    fvals = np.concatenate([p[5] for p in parts])
    return x, cells, cvals, tris, fvals


def write_msh(tm: TaggedMesh, path: str | Path) -> Path:
    """Write the mesh and its tags as a gmsh 4.1 binary file (gathered on rank 0). Collective."""
    import gmsh

    path = Path(path)
    data = _gather_global(tm)
    if tm.comm.rank == 0:
        x, cells, cvals, tris, fvals = data
        gmsh.initialize(["-noenv"], readConfigFiles=False)
        try:
            gmsh.option.setNumber("General.Terminal", 0)
            gmsh.model.add("fem_twin")
            node_tags = np.arange(1, x.shape[0] + 1, dtype=np.uint64)
            first = True
            # one discrete volume per cell tag (entity tag = cell tag + 1: entity tags are > 0)
            for tag in np.unique(cvals):
                ent = int(tag) + 1
                gmsh.model.addDiscreteEntity(3, ent)
                if first:  # all nodes live on the first entity
                    gmsh.model.mesh.addNodes(3, ent, node_tags, x.ravel())
                    first = False
                sel = cvals == tag
                gmsh.model.mesh.addElementsByType(ent, 4, [], (cells[sel] + 1).ravel().astype(np.uint64))
                gmsh.model.addPhysicalGroup(3, [ent], int(tag), name=CELL_TAG_NAMES.get(int(tag), str(tag)))
            for tag in np.unique(fvals):
                ent = int(tag)
                gmsh.model.addDiscreteEntity(2, ent)
                sel = fvals == tag
                gmsh.model.mesh.addElementsByType(ent, 2, [], (tris[sel] + 1).ravel().astype(np.uint64))
                gmsh.model.addPhysicalGroup(2, [ent], int(tag), name=FACET_TAG_NAMES.get(int(tag), str(tag)))
            gmsh.option.setNumber("Mesh.Binary", 1)
            gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
            gmsh.write(str(path))
        finally:
            gmsh.finalize()
    tm.comm.Barrier()
    return path


def read_msh(path: str | Path, comm=MPI.COMM_WORLD) -> TaggedMesh:
    """Read a ``.msh`` written by :func:`write_msh` (read on rank 0, then distributed with ghost
    mode shared_facet). Collective."""
    import gmsh

    path = Path(path)
    if not path.exists():
        raise FileFormatError(path, "no such file")
    partitioner = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    if comm.rank == 0:
        gmsh.initialize(["-noenv"], readConfigFiles=False)
        gmsh.option.setNumber("General.Terminal", 0)
        try:
            gmsh.model.add("fem_twin")
            gmsh.merge(str(path))
            data = dolfinx.io.gmsh.model_to_mesh(gmsh.model, comm, 0, gdim=3, partitioner=partitioner)
        finally:
            gmsh.finalize()
    else:
        data = dolfinx.io.gmsh.model_to_mesh(None, comm, 0, gdim=3, partitioner=partitioner)
    msh = data.mesh
    msh.topology.create_entities(2)
    msh.topology.create_connectivity(2, 3)
    ct = complete_tags(msh, 3, data.cell_tags, "cell_tags")
    ft = complete_tags(msh, 2, data.facet_tags, "facet_tags")
    # h = shortest edge of a Kuhn tetrahedron; separator = top of the separator cells
    x = msh.geometry.x
    dm = msh.geometry.dofmaps[0]
    h_loc = np.inf
    if dm.shape[0]:
        c = x[dm[: min(dm.shape[0], 1000)]]
        h_loc = min(np.linalg.norm(c[:, a] - c[:, b], axis=1).min() for a in range(4) for b in range(a + 1, 4))
    h = comm.allreduce(float(h_loc), op=MPI.MIN)
    sep_cells = ct.find(phases.SEPARATOR)
    top = float(x[dm[sep_cells]][..., 2].max()) if sep_cells.size else 0.0
    sep = comm.allreduce(top, op=MPI.MAX)
    return TaggedMesh(msh, ct, ft, h, round(sep / h) * h)


def write_tagged_mesh(tm: TaggedMesh, directory: str | Path, msh: bool = True) -> dict[str, Path]:
    """Write ``mesh.xdmf`` (+ ``mesh.h5``) and, with ``msh``, ``mesh.msh`` into ``directory``."""
    d = Path(directory)
    if tm.comm.rank == 0:
        d.mkdir(parents=True, exist_ok=True)
    tm.comm.Barrier()
    out = {"xdmf": write_xdmf(tm, d / MESH_XDMF)}
    if msh:
        out["msh"] = write_msh(tm, d / MESH_MSH)
    return out
