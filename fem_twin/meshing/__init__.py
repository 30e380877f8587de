"""Meshing: voxel image -> tagged tetrahedral mesh (:mod:`.voxel_mesh`) and its files (:mod:`.io`).

Importing this package imports DOLFINx.
"""

from .voxel_mesh import TaggedMesh, build_tagged_mesh, voxel_tet_mesh

__all__ = ["TaggedMesh", "build_tagged_mesh", "voxel_tet_mesh"]
