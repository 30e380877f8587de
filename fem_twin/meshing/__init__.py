"""Meshing: voxel image -> tagged tetrahedral mesh: :mod:`.voxel_mesh` (Kuhn tetrahedra of the
voxels), :mod:`.smooth_mesh` (smoothed interfaces through gmsh), :mod:`.meshers` (by name), and
their files (:mod:`.io`).

The mesh builders import DOLFINx; they are loaded on first use, so that :mod:`.meshers` and
:mod:`.smooth_surface` can be imported without it (the command line's option parsing).
"""

__all__ = ["TaggedMesh", "build_tagged_mesh", "voxel_tet_mesh", "build_smooth_mesh"]


def __getattr__(name):
    if name in ("TaggedMesh", "build_tagged_mesh", "voxel_tet_mesh"):
        from . import voxel_mesh

        return getattr(voxel_mesh, name)
    if name == "build_smooth_mesh":
        from .smooth_mesh import build_smooth_mesh

        return build_smooth_mesh
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
